/*
 * Namespaces and the fork: WAIT, SETNS, UNSHARE, TIMENS_OFFSET, FORK (plan.h has the contract).
 *
 * setns(2) and unshare(2) of a pid or time namespace change only what the caller's *children*
 * get (pid_for_children, time_for_children), so a plan that joins or creates one forks after
 * it: the child is the process that enters the container. The fork uses CLONE_PARENT, so the
 * runtime (node) is the child's parent, can reap it and learns its exit status; the helper
 * reports the child's pid on the status pipe and exits.
 * https://man7.org/linux/man-pages/man2/setns.2.html
 * https://man7.org/linux/man-pages/man7/time_namespaces.7.html
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"
#include "plan.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_PARENT
#define CLONE_PARENT 0x00008000
#endif

/* struct clone_args up to CLONE_ARGS_SIZE_VER0; declared here because <linux/sched.h> clashes
 * with glibc's <sched.h>. */
struct fork_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* WAIT <fd>: block until the runtime writes one byte into the pipe at <fd> (it has joined this
 * process to the container's cgroups, or whatever else must happen before we go on). End of
 * file means the runtime gave up: fail rather than run unprepared. The fd stays open (close_fds
 * marks it close-on-exec with 4-6). */
int op_wait(struct init_state *st, char **args) {
  int fd = (int)plan_u64(args[0]);
  char c;
  ssize_t n;
  do n = read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n == 1) return 0;
  if (n == 0) errno = ECANCELED;
  return fail(st, "read", "go-ahead pipe");
}

/* SETNS <fd> <flags>: the fd is a namespace file (flags: its one CLONE_NEW* type, which the
 * kernel checks) or a pidfd (flags: every namespace of that process to join, at once). */
int op_setns(struct init_state *st, char **args) {
  if (setns((int)plan_u64(args[0]), (int)plan_u64(args[1])) < 0) {
    char what[48];
    snprintf(what, sizeof what, "fd %s", args[0]);
    return fail(st, "setns", what);
  }
  return 0;
}

/* UNSHARE <flags>: new namespaces, after any user namespace was joined so it owns them. */
int op_unshare(struct init_state *st, char **args) {
  if (unshare((int)plan_u64(args[0])) < 0) return fail(st, "unshare", args[0]);
  return 0;
}

/* TIMENS_OFFSET <clock> <secs> <nanosecs>: /proc/self/timens_offsets of the helper describes
 * its time_for_children namespace (made by UNSHARE CLONE_NEWTIME); the kernel refuses (EACCES)
 * once any process has entered it, hence before FORK. Through the host procfs handle, so no
 * mount can redirect the write. */
int op_timens_offset(struct init_state *st, char **args) {
  char line[96];
  int n = snprintf(line, sizeof line, "%s %s %s\n", args[0], args[1], args[2]);
  int fd = openat(st->procfd, "self/timens_offsets", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(st, "open", "/proc/self/timens_offsets");
  int rc = write_all(fd, line, (size_t)n);
  int err = errno;
  close(fd);
  errno = err;
  if (rc < 0) return fail(st, "write", "/proc/self/timens_offsets");
  return 0;
}

/* FORK: clone3(CLONE_PARENT). The helper writes "PID <child>\n" (the child's pid in the
 * runtime's pid namespace) and exits 0; the child waits until the helper is gone (its end of a
 * pipe closes), so the PID line always comes before anything the child reports, then goes on
 * with the plan. A helper that is pid 1 of a new pid namespace cannot do this (EINVAL): the
 * planner never spawns with CLONE_NEWPID in a plan that forks. */
int op_fork(struct init_state *st, char **args) {
  (void)args;
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0) return fail(st, "pipe2", "fork");
  struct fork_clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = CLONE_PARENT;  /* exit_signal must be 0: the child gets the helper's (SIGCHLD) */
  pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
  if (pid < 0) {
    int err = errno;
    close(sync[0]);
    close(sync[1]);
    errno = err;
    return fail(st, "clone3", "CLONE_PARENT");
  }
  if (pid > 0) {
    char line[32];
    int n = snprintf(line, sizeof line, "PID %d\n", (int)pid);
    _exit(write_all(STATUS_FD, line, (size_t)n) < 0 ? 1 : 0);
  }
  close(sync[1]);
  char c;
  ssize_t n;
  do n = read(sync[0], &c, 1);
  while (n < 0 && errno == EINTR);
  close(sync[0]);
  return 0;
}
