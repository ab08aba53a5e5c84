// The one way the addon fails: ThrowErrno builds an Error shaped like Node's fs errors,
// { code: 'EPERM', errno: 1, syscall: 'pidfd_send_signal', path? }, with the message
// "pidfd_send_signal: EPERM" (or "mkfifo /run/x: EEXIST" when a path is given), and throws it.
// It returns undefined so a caller can write `return ThrowErrno(...)`.
#ifndef BERTH_ERRORS_H
#define BERTH_ERRORS_H

#include <napi.h>
#include <string.h>

#include <string>

static inline const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);  // glibc >= 2.32
  return name != nullptr ? name : "EUNKNOWN";
}

static inline Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall,
                                     const char* path = nullptr) {
  const char* name = ErrnoName(err);
  std::string message(syscall);
  if (path != nullptr) message.append(" ").append(path);
  message.append(": ").append(name);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) error.Set("path", Napi::String::New(env, path));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

#endif
