// Namespaces: ioctl(NS_GET_NSTYPE) says which kind of namespace an nsfs fd is (Linux 4.11).
#include <sys/ioctl.h>

#include "errors.h"
#include "macros.h"

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#endif

namespace berth {

// nsGetType(fd) → its CLONE_NEW* flag; ENOTTY when the fd is not a namespace.
Napi::Value NsGetType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, fd);
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) return ThrowErrno(env, errno, "ioctl NS_GET_NSTYPE");
  return Napi::Number::New(env, type);
}

}  // namespace berth
