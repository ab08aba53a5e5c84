// mount(2) and umount2(2) in the runtime's own mount namespace: checkpoint/restore binds the
// rootfs for criu (--root) and detaches it afterwards (src/effects/criuRoot.ts).
#include <sys/mount.h>

#include "errors.h"
#include "macros.h"

namespace berth {

// mount(source, target, fstype | null, flags, data | null)
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_STRING(0, source);
  REQUIRE_STRING(1, target);
  if (!info[2].IsString() && !info[2].IsNull()) THROW_TYPE_ERROR("fstype must be a string or null");
  if (!IsUint53Value(info[3])) THROW_TYPE_ERROR("flags must be an unsigned integer");
  if (!info[4].IsString() && !info[4].IsNull()) THROW_TYPE_ERROR("data must be a string or null");
  std::string fstype = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  std::string data = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
  unsigned long flags = (unsigned long)info[3].As<Napi::Number>().Int64Value();
  if (mount(source.c_str(), target.c_str(), info[2].IsString() ? fstype.c_str() : nullptr, flags,
            info[4].IsString() ? data.c_str() : nullptr) < 0)
    return ThrowErrno(env, errno, "mount", target.c_str());
  return env.Undefined();
}

// umount2(target, flags)
Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_STRING(0, target);
  REQUIRE_INT32(1, flags);
  if (umount2(target.c_str(), flags) < 0) return ThrowErrno(env, errno, "umount2", target.c_str());
  return env.Undefined();
}

}  // namespace berth
