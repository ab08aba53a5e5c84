// Processes: spawn (clone3 + execveat of an fd), pidfdOpen, pidfdSendSignal, waitid.
#include <sys/prctl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "errors.h"
#include "macros.h"
#include "sys.h"

namespace berth {

// The only clone flags spawn accepts from JS; CLONE_PIDFD and CLONE_INTO_CGROUP are the addon's.
static const uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                        CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                        CLONE_NEWNET | 0x00000080 /* CLONE_NEWTIME */;

// Child-side failure steps, reported as { step, errno } through the error pipe.
enum ChildStep : int32_t { kStepDup = 1, kStepPlace, kStepCloseRange, kStepExec, kStepSetresgid, kStepSetresuid };
static const char* const kStepSyscall[] = {"", "fcntl", "dup3", "close_range", "execveat", "setresgid", "setresuid"};

// Everything the child needs, built in the parent before clone3: after clone3 the child is a
// copy of a multithreaded process, so it may only make raw syscalls (no malloc, no locks).
struct ChildPlan {
  int exe;
  char* const* argv;
  char* const* envp;
  const int* fds;
  int* tmp;     // scratch, one slot per fd
  int nfds;
  int lowest;   // above every fd the child must keep apart while placing fds
  int errfd;    // write end of the O_CLOEXEC error pipe
  int syncr;    // read end of the go-ahead pipe (beforeExec), or -1
  int syncw;    // its write end, closed in the child so the parent's close is an EOF
  bool userns;  // CLONE_NEWUSER: become the namespace's root once its maps are written
};

[[noreturn]] static void ChildFail(int errfd, int32_t step) {
  int32_t msg[2] = {step, errno};
  (void)!syscall(SYS_write, errfd, msg, sizeof msg);
  syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

[[noreturn]] static void RunChild(const ChildPlan* p) {
  // A user namespace's maps are written by the parent (beforeExec) while we wait here: an
  // execve with no uid mapped would drop every capability. Signals are still all blocked, so
  // only SIGKILL ends the wait; EOF means the parent gave up.
  if (p->syncr >= 0) {
    char go = 0;
    syscall(SYS_close, p->syncw);
    long n;
    do n = syscall(SYS_read, p->syncr, &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) syscall(SYS_exit_group, 127);
    syscall(SYS_close, p->syncr);
  }
  // Our ids are still the parent's (host root, unmapped in the new namespace): execve would
  // then grant no capability. As root of the namespace (runc's nsexec does the same) it grants
  // them all. Raw syscalls: this thread is the whole process.
  if (p->userns && p->syncr >= 0) {
    if (syscall(SYS_setresgid, 0, 0, 0) < 0) ChildFail(p->errfd, kStepSetresgid);
    if (syscall(SYS_setresuid, 0, 0, 0) < 0) ChildFail(p->errfd, kStepSetresuid);
  }
  // Ignored dispositions survive execve (Node ignores SIGPIPE): reset all, then unblock.
  struct berth_ksigaction dfl = {SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < 65; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sys_rt_sigaction(sig, &dfl);
  }
  uint64_t empty = 0;
  sys_rt_sigprocmask(SIG_SETMASK, &empty, nullptr);
  // Move everything we still need above the target range first: dup2(i, i) would be a no-op
  // that keeps FD_CLOEXEC, and a source may itself sit at a target number.
  int errfd = sys_fcntl(p->errfd, F_DUPFD_CLOEXEC, p->lowest);
  if (errfd < 0) ChildFail(p->errfd, kStepDup);
  int exe = sys_fcntl(p->exe, F_DUPFD_CLOEXEC, p->lowest);
  if (exe < 0) ChildFail(errfd, kStepDup);
  for (int i = 0; i < p->nfds; i++) {
    if (p->fds[i] < 0) continue;
    p->tmp[i] = sys_fcntl(p->fds[i], F_DUPFD_CLOEXEC, p->lowest);
    if (p->tmp[i] < 0) ChildFail(errfd, kStepDup);
  }
  for (int i = 0; i < p->nfds; i++) {
    if (p->fds[i] < 0) {
      (void)sys_fcntl(i, F_SETFD, FD_CLOEXEC);  // an empty slot: whatever is there goes at exec
      continue;
    }
    if (sys_dup3(p->tmp[i], i, 0) < 0) ChildFail(errfd, kStepPlace);  // clears CLOEXEC
  }
  if (sys_close_range(p->nfds, ~0U, CLOSE_RANGE_CLOEXEC) < 0) ChildFail(errfd, kStepCloseRange);
  sys_execveat(exe, "", p->argv, p->envp, AT_EMPTY_PATH);
  ChildFail(errfd, kStepExec);
}

// Strings for argv/envp, NUL-free, kept alive in `store` while `ptrs` points into it.
static bool ToCStrings(const Napi::Array& arr, std::vector<std::string>& store,
                       std::vector<char*>& ptrs) {
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) return false;
    store.push_back(v.As<Napi::String>().Utf8Value());
    if (store.back().find('\0') != std::string::npos) return false;
  }
  for (std::string& s : store) ptrs.push_back(&s[0]);
  ptrs.push_back(nullptr);
  return true;
}

// -1 marks an empty slot (fd i stays closed in the child).
static bool ToFds(const Napi::Array& arr, std::vector<int>& fds) {
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!IsInt32Value(v) || v.As<Napi::Number>().Int32Value() < -1) return false;
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  return true;
}

// Reads the child's { step, errno } report: 0 bytes (EOF) means execveat succeeded.
static bool ChildFailed(int fd, int32_t msg[2]) {
  ssize_t n;
  do n = read(fd, msg, 2 * sizeof(int32_t));
  while (n < 0 && errno == EINTR);
  return n == 2 * sizeof(int32_t);
}

// Runs clone3 with every signal blocked, so no inherited handler runs in the child before it
// has reset the dispositions.
static pid_t Clone(struct berth_clone_args* args, const ChildPlan* plan) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = sys_clone3(args);
  if (pid == 0) RunChild(plan);
  int saved = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return pid;
}

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_OBJECT(0, a);
  REQUIRE_PROP_INT32(a, exe, exe);
  REQUIRE_PROP_ARRAY(a, argv, argv);
  REQUIRE_PROP_ARRAY(a, env, envv);
  REQUIRE_PROP_UINT53(a, flags, flags);
  REQUIRE_PROP_ARRAY(a, fds, fds);
  REQUIRE_PROP_INT32(a, cgroupFd, cgroupFd);
  if ((flags & ~kNamespaceFlags) != 0) THROW_TYPE_ERROR("flags may only hold CLONE_NEW* bits");
  std::vector<std::string> argStore, envStore;
  std::vector<char*> argPtrs, envPtrs;
  if (!ToCStrings(argv, argStore, argPtrs)) THROW_TYPE_ERROR("argv must be NUL-free strings");
  if (!ToCStrings(envv, envStore, envPtrs)) THROW_TYPE_ERROR("env must be NUL-free strings");
  std::vector<int> fdv;
  if (!ToFds(fds, fdv)) THROW_TYPE_ERROR("fds must be int32s, non-negative or -1");
  Napi::Value beforeExec = a.Get("beforeExec");
  bool sync = !beforeExec.IsUndefined();
  if (sync && !beforeExec.IsFunction()) THROW_TYPE_ERROR("beforeExec must be a function");

  int errpipe[2], syncpipe[2] = {-1, -1};
  if (pipe2(errpipe, O_CLOEXEC) < 0) return ThrowErrno(env, errno, "pipe2");
  if (sync && pipe2(syncpipe, O_CLOEXEC) < 0) {
    int err = errno;
    close(errpipe[0]);
    close(errpipe[1]);
    return ThrowErrno(env, err, "pipe2");
  }
  int lowest = std::max({(int)fdv.size(), exe + 1, errpipe[1] + 1, 3});
  for (int fd : fdv) lowest = std::max(lowest, fd + 1);
  std::vector<int> tmp(fdv.size());
  ChildPlan plan = {exe, argPtrs.data(), envPtrs.data(), fdv.data(), tmp.data(),
                    (int)fdv.size(), lowest, errpipe[1], syncpipe[0], syncpipe[1],
                    (flags & CLONE_NEWUSER) != 0};
  int pidfd = -1;
  struct berth_clone_args args = {};
  args.flags = CLONE_PIDFD | flags | (cgroupFd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  args.cgroup = cgroupFd >= 0 ? (uint64_t)cgroupFd : 0;
  pid_t pid = Clone(&args, &plan);
  int cloneErr = errno;
  close(errpipe[1]);
  if (sync) close(syncpipe[0]);
  if (pid < 0) {
    close(errpipe[0]);
    if (sync) close(syncpipe[1]);
    return ThrowErrno(env, cloneErr, "clone3");
  }
  if (sync) {
    // The child waits before execveat until beforeExec(pid) has returned; if it throws, the
    // child is killed and reaped and the exception propagates.
    beforeExec.As<Napi::Function>().Call({Napi::Number::New(env, pid)});
    bool threw = env.IsExceptionPending();
    if (!threw) (void)!write(syncpipe[1], "1", 1);
    close(syncpipe[1]);
    if (threw) {
      sys_pidfd_send_signal(pidfd, SIGKILL, nullptr, 0);
      siginfo_t si;
      while (sys_waitid_pidfd(pidfd, &si, WEXITED) < 0 && errno == EINTR) {
      }
      close(pidfd);
      close(errpipe[0]);
      return env.Undefined();
    }
  }
  int32_t msg[2];
  bool failed = ChildFailed(errpipe[0], msg);
  close(errpipe[0]);
  if (failed) {
    siginfo_t si;
    while (sys_waitid_pidfd(pidfd, &si, WEXITED) < 0 && errno == EINTR) {
    }
    close(pidfd);
    int step = msg[0] >= kStepDup && msg[0] <= kStepSetresuid ? msg[0] : kStepExec;
    return ThrowErrno(env, msg[1], kStepSyscall[step]);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  return out;
}

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, pid);
  int fd = sys_pidfd_open(pid, 0);
  if (fd < 0) return ThrowErrno(env, errno, "pidfd_open");
  return Napi::Number::New(env, fd);
}

// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to us, not to pid 1, so
// `berth run` (as runc run) and a supervisor can reap a container's init after its creator exits.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_BOOL(0, on);
  if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) < 0) return ThrowErrno(env, errno, "prctl");
  return env.Undefined();
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, pidfd);
  REQUIRE_INT32(1, sig);
  if (sys_pidfd_send_signal(pidfd, sig, nullptr, 0) < 0)
    return ThrowErrno(env, errno, "pidfd_send_signal");
  return env.Undefined();
}

Napi::Value Waitid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, pidfd);
  siginfo_t si = {};  // si_pid stays 0 when WNOHANG finds no exited child
  if (sys_waitid_pidfd(pidfd, &si, WEXITED | WNOHANG) < 0) return ThrowErrno(env, errno, "waitid");
  if (si.si_pid == 0) return env.Null();
  bool exited = si.si_code == CLD_EXITED;
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, si.si_pid));
  out.Set("code", exited ? Napi::Number::New(env, si.si_status) : env.Null());
  out.Set("signal", exited ? env.Null() : Napi::Number::New(env, si.si_status));
  return out;
}

}  // namespace berth
