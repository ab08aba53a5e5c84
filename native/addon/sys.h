// Raw system call wrappers (crun's syscalls.h style): one static inline per syscall, calling
// syscall(2) directly so neither glibc's version nor its fork/atfork machinery is involved.
// Each returns what the kernel returns (-1 with errno set on failure; ENOSYS on a kernel that
// lacks the call). Constants missing from older headers are defined here.
#ifndef BERTH_SYS_H
#define BERTH_SYS_H

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3: say explicitly that the memfd will be executed
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020  // Linux 6.3: the exec bits can no longer change
#endif

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// struct clone_args up to CLONE_ARGS_SIZE_VER2 (Linux 5.7, adds `cgroup`); declared here so the
// build does not depend on <linux/sched.h>, which clashes with glibc's <sched.h>.
struct berth_clone_args {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};

// The kernel's sigaction layout (rt_sigaction), used in the child after clone3 where glibc's
// sigaction() would refuse its own internal signals (32, 33).
struct berth_ksigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

static inline pid_t sys_clone3(struct berth_clone_args* args) {
  return (pid_t)syscall(SYS_clone3, args, sizeof(*args));
}

static inline int sys_pidfd_open(pid_t pid, unsigned int flags) {
  return (int)syscall(SYS_pidfd_open, pid, flags);
}

static inline int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned int flags) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags);
}

static inline int sys_waitid_pidfd(int pidfd, siginfo_t* info, int options) {
  return (int)syscall(SYS_waitid, P_PIDFD, pidfd, info, options, NULL);
}

static inline int sys_close_range(unsigned int first, unsigned int last, unsigned int flags) {
  return (int)syscall(SYS_close_range, first, last, flags);
}

static inline int sys_memfd_create(const char* name, unsigned int flags) {
  return (int)syscall(SYS_memfd_create, name, flags);
}

static inline int sys_execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                               int flags) {
  return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

static inline int sys_fcntl(int fd, int cmd, long arg) {
  return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static inline int sys_dup3(int oldfd, int newfd, int flags) {
  return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

static inline int sys_rt_sigaction(int sig, const struct berth_ksigaction* act) {
  return (int)syscall(SYS_rt_sigaction, sig, act, NULL, sizeof(uint64_t));
}

static inline int sys_rt_sigprocmask(int how, const uint64_t* set, uint64_t* old) {
  return (int)syscall(SYS_rt_sigprocmask, how, set, old, sizeof(uint64_t));
}

#endif
