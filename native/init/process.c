/*
 * Process attributes that survive execve: the execution domain (PERSONALITY), the I/O
 * priority (IOPRIO), and the LSM label the next execve switches to (APPARMOR_EXEC,
 * SELINUX_EXEC). The label files are written through the verified host procfs handle, never
 * through a path in the container, so a bind mount over the container's /proc cannot send the
 * write elsewhere (CVE-2025-52881 class).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"

#define IOPRIO_WHO_PROCESS 1

/* PERSONALITY <persona>: PER_LINUX or PER_LINUX32 (uname -m then says i686 on x86_64). */
int op_personality(struct init_state *st, char **args) {
  if (personality((unsigned long)plan_u64(args[0])) < 0) return fail(st, "personality", args[0]);
  return 0;
}

/* IOPRIO <value>: (class << 13) | level for this process; inherited by its children.
 * https://man7.org/linux/man-pages/man2/ioprio_set.2.html */
int op_ioprio(struct init_state *st, char **args) {
  if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, (int)plan_u64(args[0])) < 0) return fail(st, "ioprio_set", args[0]);
  return 0;
}

/* Opens <rel> for writing beneath the host procfs handle, staying on that procfs mount. */
static int open_proc_attr(struct init_state *st, const char *rel) {
  struct open_how how = {.flags = O_WRONLY | O_CLOEXEC,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, st->procfd, rel, &how, sizeof how);
}

static int write_attr(struct init_state *st, int fd, const char *rel, const char *value) {
  int rc = write_all(fd, value, strlen(value));
  int err = errno;
  close(fd);
  errno = err;
  if (rc < 0) return fail(st, "write", rel);
  return 0;
}

/* APPARMOR_EXEC <profile>: "exec <profile>" into the AppArmor-specific attr file (Linux >= 5.8
 * with LSM stacking), else the shared one, as runc's apparmor.ApplyProfile does. */
int op_apparmor_exec(struct init_state *st, char **args) {
  const char *rel = "thread-self/attr/apparmor/exec";
  int fd = open_proc_attr(st, rel);
  if (fd < 0 && errno == ENOENT) fd = open_proc_attr(st, rel = "thread-self/attr/exec");
  if (fd < 0) return fail(st, "open", rel);
  char value[4096];
  if (snprintf(value, sizeof value, "exec %s", args[0]) >= (int)sizeof value) return errno = ENAMETOOLONG, fail(st, "apparmor", args[0]);
  return write_attr(st, fd, rel, value);
}

/* SELINUX_EXEC <label>: the context the next execve runs in. */
int op_selinux_exec(struct init_state *st, char **args) {
  const char *rel = "thread-self/attr/exec";
  int fd = open_proc_attr(st, rel);
  if (fd < 0) return fail(st, "open", rel);
  return write_attr(st, fd, rel, args[0]);
}
