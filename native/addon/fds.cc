// File descriptors Node's fs lacks: pipe2(O_CLOEXEC), mkfifo, memfd_create, a sealed memfd copy.
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include "errors.h"
#include "macros.h"
#include "sys.h"

namespace berth {

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ThrowErrno(env, errno, "pipe2");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_STRING(0, path);
  REQUIRE_INT32(1, mode);
  if (mkfifo(path.c_str(), (mode_t)mode) < 0) return ThrowErrno(env, errno, "mkfifo", path.c_str());
  return env.Undefined();
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_STRING(0, name);
  int fd = sys_memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "memfd_create");
  return Napi::Number::New(env, fd);
}

// Copies all of `src` into `dst` with sendfile(2); returns -1 with errno set on failure.
static int CopyAll(int src, int dst) {
  for (;;) {
    ssize_t n = sendfile(dst, src, nullptr, 1 << 20);
    if (n == 0) return 0;
    if (n < 0 && errno != EINTR) return -1;
  }
}

// memfd_create, refusing MFD_EXEC only on kernels older than 6.3 that do not know it.
static int ExecMemfd(const char* name) {
  int fd = sys_memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = sys_memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  return fd;
}

// The CVE-2019-5736 defence: the init helper runs from a sealed in-memory copy, so nothing in a
// container can reach the host binary through /proc/<pid>/exe, nor change the copy.
Napi::Value SealedCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_STRING(0, path);
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return ThrowErrno(env, errno, "open", path.c_str());
  int fd = ExecMemfd("berth-init");
  if (fd < 0) {
    int err = errno;
    close(src);
    return ThrowErrno(env, err, "memfd_create");
  }
  const char* step = nullptr;
  const int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (CopyAll(src, fd) < 0) step = "sendfile";
  else if (lseek(fd, 0, SEEK_SET) < 0) step = "lseek";
  else if (fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) < 0 &&
           (errno != EINVAL || fcntl(fd, F_ADD_SEALS, seals) < 0)) step = "fcntl";
  int err = errno;
  close(src);
  if (step == nullptr) return Napi::Number::New(env, fd);
  close(fd);
  return ThrowErrno(env, err, step, path.c_str());
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, fd);
  // Linux always releases the fd, even on EINTR: retrying could close someone else's new fd.
  if (close(fd) < 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

}  // namespace berth
