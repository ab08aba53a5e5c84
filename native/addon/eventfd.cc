// eventfd2(2): the counter cgroup v1 OOM notifications are delivered on
// (memory.oom_control registered through cgroup.event_control).
#include "errors.h"
#include "macros.h"
#include "sys_bpf.h"

namespace berth {

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = sys_eventfd2(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ThrowErrno(env, errno, "eventfd2");
  return Napi::Number::New(env, fd);
}

}  // namespace berth
