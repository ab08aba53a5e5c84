// Idmapped mounts, prepared by the runtime in the host's namespaces (runc does the same: inside
// a user namespace the helper no longer controls the source filesystem's superblock):
// spawnUsernsHolder (a process that only holds a new user namespace, whose maps the caller
// writes and whose /proc/<pid>/ns/user it opens), openTree, mountSetattr. And mount(2) and
// umount2(2) in the runtime's own mount namespace: checkpoint/restore binds the rootfs for criu
// (--root) and detaches it afterwards (src/effects/criuRoot.ts).
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>

#include "errors.h"
#include "macros.h"
#include "sys.h"
#include "sys_mount.h"

namespace berth {

// clone3(CLONE_NEWUSER | CLONE_PIDFD) → { pid, pidfd }. The child keeps every signal blocked
// (they are blocked around clone3) and pauses forever: raw syscalls only in a copy of a
// multithreaded process; SIGKILL is its only way out.
Napi::Value SpawnUsernsHolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = -1;
  struct berth_clone_args args = {};
  args.flags = CLONE_PIDFD | CLONE_NEWUSER;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = sys_clone3(&args);
  if (pid == 0) {
    for (;;) syscall(SYS_pause);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return ThrowErrno(env, err, "clone3");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  return out;
}

// open_tree(AT_FDCWD, path, flags | OPEN_TREE_CLOEXEC) → fd of a detached mount (with
// OPEN_TREE_CLONE) that is unmounted when its last fd closes.
Napi::Value OpenTree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_STRING(0, path);
  REQUIRE_INT32(1, flags);
  int fd = sys_open_tree(AT_FDCWD, path.c_str(), (unsigned)flags | BERTH_OPEN_TREE_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open_tree", path.c_str());
  return Napi::Number::New(env, fd);
}

// mount_setattr(fd, "", flags | AT_EMPTY_PATH, { attrSet, attrClr, propagation, usernsFd }).
Napi::Value MountSetattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, fd);
  REQUIRE_INT32(1, flags);
  REQUIRE_OBJECT(2, a);
  REQUIRE_PROP_UINT53(a, attrSet, attrSet);
  REQUIRE_PROP_UINT53(a, attrClr, attrClr);
  REQUIRE_PROP_UINT53(a, propagation, propagation);
  REQUIRE_PROP_INT32(a, usernsFd, usernsFd);
  struct berth_mount_attr attr = {attrSet, attrClr, propagation, (uint64_t)(usernsFd < 0 ? 0 : usernsFd)};
  if (sys_mount_setattr(fd, "", (unsigned)flags | BERTH_AT_EMPTY_PATH, &attr) < 0) {
    return ThrowErrno(env, errno, "mount_setattr");
  }
  return env.Undefined();
}

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
