/*
 * The spec's seccomp profile (linux.seccomp), compiled by libseccomp and installed with
 * seccomp(2), as runc does (libcontainer/seccomp/patchbpf): libseccomp builds the filter and
 * exports it as a BPF program; the helper loads that program itself with the flags the profile
 * asked for. Compiling early and loading late lets every mistake in the profile be a create
 * error (ERR SECCOMP_* on the status line) while the filter can still go in after the exec-fifo
 * handshake, so a profile that denies open/write does not stop the helper's own last steps.
 *
 *   SECCOMP_INIT <default action> <flags>   seccomp_init; flags are SECCOMP_FILTER_FLAG_* bits
 *   SECCOMP_ARCH <libseccomp arch name>     seccomp_arch_add (the native arch is always in)
 *   SECCOMP_ARG <index> <op> <value> <two>  one condition for the next SECCOMP_RULE
 *   SECCOMP_RULE <syscall> <action>         seccomp_rule_add_array with the pending conditions;
 *                                           a name libseccomp does not know is skipped (runc)
 *   SECCOMP_LOAD <mode>                     export the program; 0: install it now, 1: EXEC
 *                                           installs it right before execve, 2: install it now
 *                                           with SECCOMP_FILTER_FLAG_NEW_LISTENER and send the
 *                                           listener to the runtime ("seccompFd", fd 6)
 *
 * Actions are libseccomp's SCMP_ACT_* values, errno or trace data included; operators are
 * enum scmp_compare values. The filter being built is this file's state: the helper is one
 * single-threaded process, and only these operations and EXEC's last step touch it.
 * https://man7.org/linux/man-pages/man2/seccomp.2.html
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif

#define MAX_ARGS 6           /* a syscall has at most six arguments */
#define OPTIMIZE_ABOVE 32    /* runc: libseccomp <= 2.5.4 misbehaves with a binary tree and 0 rules */

static scmp_filter_ctx ctx;
static struct scmp_arg_cmp pending[MAX_ARGS];
static unsigned npending, nrules;
static unsigned long filter_flags;
static struct sock_fprog prog;
static int deferred;

/* libseccomp returns -errno. */
static int lib_fail(struct init_state *st, int rc, const char *step, const char *object) {
  errno = -rc;
  return fail(st, step, object);
}

int op_seccomp_init(struct init_state *st, char **args) {
  if (ctx != NULL || prog.filter != NULL) return errno = EINVAL, fail(st, "seccomp_init", "(a filter is already being built)");
  ctx = seccomp_init((uint32_t)plan_u64(args[0]));
  if (ctx == NULL) return errno = EINVAL, fail(st, "seccomp_init", args[0]);
  filter_flags = (unsigned long)plan_u64(args[1]);
  npending = nrules = 0;
  return 0;
}

int op_seccomp_arch(struct init_state *st, char **args) {
  if (ctx == NULL) return errno = EINVAL, fail(st, "seccomp_arch_add", "(no SECCOMP_INIT)");
  uint32_t arch = seccomp_arch_resolve_name(args[0]);
  if (arch == 0) return errno = EINVAL, fail(st, "seccomp_arch_resolve_name", args[0]);
  int rc = seccomp_arch_add(ctx, arch);
  if (rc < 0 && rc != -EEXIST) return lib_fail(st, rc, "seccomp_arch_add", args[0]);
  return 0;
}

int op_seccomp_arg(struct init_state *st, char **args) {
  if (npending == MAX_ARGS) return errno = E2BIG, fail(st, "seccomp_arg", "(more than 6 conditions)");
  pending[npending++] = (struct scmp_arg_cmp){
      .arg = (unsigned)plan_u64(args[0]),
      .op = (enum scmp_compare)plan_u64(args[1]),
      .datum_a = plan_u64(args[2]),
      .datum_b = plan_u64(args[3]),
  };
  return 0;
}

int op_seccomp_rule(struct init_state *st, char **args) {
  unsigned n = npending;
  npending = 0;
  if (ctx == NULL) return errno = EINVAL, fail(st, "seccomp_rule_add", "(no SECCOMP_INIT)");
  /* A name this libseccomp does not know is a syscall this kernel generation lacks: runc skips
   * it, so one profile (docker's) serves every kernel. */
  int nr = seccomp_syscall_resolve_name(args[0]);
  if (nr == __NR_SCMP_ERROR) return 0;
  int rc = seccomp_rule_add_array(ctx, (uint32_t)plan_u64(args[1]), nr, n, pending);
  if (rc < 0) return lib_fail(st, rc, "seccomp_rule_add", args[0]);
  nrules++;
  return 0;
}

/* The BPF program libseccomp generates, read back from a memfd (2.5 exports only to an fd). */
static int export_program(struct init_state *st) {
  if (nrules > OPTIMIZE_ABOVE) (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  int fd = memfd_create("berth-seccomp", MFD_CLOEXEC);
  if (fd < 0) return fail(st, "memfd_create", "seccomp program");
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) {
    close(fd);
    return lib_fail(st, rc, "seccomp_export_bpf", "");
  }
  off_t size = lseek(fd, 0, SEEK_END);
  void *buf = size > 0 ? malloc((size_t)size) : NULL;
  ssize_t got = buf != NULL ? pread(fd, buf, (size_t)size, 0) : -1;
  int err = errno;
  close(fd);
  if (got != size || size % (off_t)sizeof(struct sock_filter) != 0) {
    free(buf);
    errno = got < 0 ? err : EIO;
    return fail(st, "read", "seccomp program");
  }
  if (size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
    free(buf);
    errno = E2BIG;
    return fail(st, "seccomp_export_bpf", "(program longer than BPF_MAXINSNS)");
  }
  prog.filter = buf;
  prog.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
  seccomp_release(ctx);
  ctx = NULL;
  return 0;
}

/* Without no_new_privs the kernel asks for CAP_SYS_ADMIN, which is why initPlan.ts puts an
 * immediate load before CREDS in that case. */
static int install(unsigned long extra) {
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filter_flags | extra, &prog);
}

/* SCMP_ACT_NOTIFY rules: seccomp(2) returns the listener fd; the runtime hands it to
 * listenerPath. It goes over the control socket before READY, as runc sends it before ready. */
static int install_with_listener(struct init_state *st) {
  int fd = install(SECCOMP_FILTER_FLAG_NEW_LISTENER);
  if (fd < 0) return fail(st, "seccomp", "SECCOMP_SET_MODE_FILTER (NEW_LISTENER)");
  int rc = chan_send_fd(st, "seccompFd", fd);
  int err = errno;
  close(fd);
  errno = err;
  return rc;
}

int op_seccomp_load(struct init_state *st, char **args) {
  if (ctx == NULL) return errno = EINVAL, fail(st, "seccomp_load", "(no SECCOMP_INIT)");
  if (export_program(st) < 0) return -1;
  uint64_t mode = plan_u64(args[0]);
  if (mode == 2) return install_with_listener(st);
  if (mode != 0) {
    deferred = 1;
    return 0;
  }
  if (install(0) < 0) return fail(st, "seccomp", "SECCOMP_SET_MODE_FILTER");
  return 0;
}

/* Called by EXEC after the fifo handshake: the only syscall left after it is execve. READY is
 * spent by then, so a failure goes to stderr, as an execve failure does. */
void seccomp_install_deferred(void) {
  if (!deferred) return;
  if (install(0) < 0) {
    dprintf(STDERR_FILENO, "ERR SECCOMP_LOAD %d seccomp SECCOMP_SET_MODE_FILTER\n", errno);
    _exit(127);
  }
}

/* `berth-init --print=libseccomp-version`: the library this helper is linked with (berth
 * features reports it, as runc does). */
int seccomp_print_version(void) {
  const struct scmp_version *v = seccomp_version();
  printf("%u.%u.%u\n", v->major, v->minor, v->micro);
  return 0;
}
