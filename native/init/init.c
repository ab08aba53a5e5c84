/*
 * berth-init: the single-threaded helper that turns a process already in its new namespaces
 * into the container's process. It reads the plan (plan.h) from fd 3, applies each operation
 * in order, reports "READY" or "ERR <OP> <errno> <detail>" on fd 4, waits on the exec fifo
 * (fd 5) and execve()s the container's command. Setup failures outside any operation are
 * reported as op INIT; a malformed plan as op PLAN.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ops.h"
#include "plan.h"

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

/* Writes the one status line and exits; the detail is made single-line and printable. */
static void __attribute__((noreturn)) report_err(const char *op, int err, const char *detail) {
  char line[768];
  int n = snprintf(line, sizeof line - 1, "ERR %s %d %s", op, err, detail);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = sizeof line - 2;
  for (int i = 0; i < n; i++) {
    if (line[i] < 0x20 || line[i] == 0x7f) line[i] = '?';
  }
  line[n++] = '\n';
  (void)write_all(STATUS_FD, line, (size_t)n);
  _exit(1);
}

/* The plan is a memfd: read it whole from offset 0, at most PLAN_MAX_BYTES. */
static char *read_plan(size_t *len) {
  char *buf = malloc(PLAN_MAX_BYTES + 1);
  if (buf == NULL) report_err("PLAN", ENOMEM, "read plan");
  size_t off = 0;
  for (;;) {
    ssize_t n = pread(PLAN_FD, buf + off, PLAN_MAX_BYTES + 1 - off, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) report_err("PLAN", errno, "read plan");
    if (n == 0) break;
    off += (size_t)n;
    if (off > PLAN_MAX_BYTES) report_err("PLAN", EINVAL, "plan too large");
  }
  *len = off;
  return buf;
}

/* A handle on the host procfs, taken before pivot_root: the exec fifo, oom_score_adj and every
 * fd-based mount go through it, so they never depend on what the rootfs has at /proc. */
static int open_host_proc(void) {
  int fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) report_err("INIT", errno, "open /proc");
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) report_err("INIT", errno, "statfs /proc");
  if (sfs.f_type != PROC_SUPER_MAGIC) report_err("INIT", ENODEV, "not procfs /proc");
  return fd;
}

static int read_last_cap(int procfd) {
  char buf[16] = {0};
  int fd = openat(procfd, "sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) report_err("INIT", errno, "open /proc/sys/kernel/cap_last_cap");
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int err = errno;
  close(fd);
  if (n <= 0) report_err("INIT", n < 0 ? err : EINVAL, "read /proc/sys/kernel/cap_last_cap");
  return atoi(buf);
}

int main(int argc, char **argv) {
  /* A query, not a container: '=' never occurs in a container id (the helper's argv[1]). */
  if (argc == 2 && strcmp(argv[1], "--print=libseccomp-version") == 0) return seccomp_print_version();
  /* CVE-2019-5736: no one in the container may open us through /proc/<pid>/exe or ptrace us. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  prctl(PR_SET_NAME, "berth-init", 0, 0, 0);

  size_t len;
  char *buf = read_plan(&len);
  close(PLAN_FD);

  struct init_state st = {.rootfd = -1, .devnullfd = -1, .ctlfd = -1};
  /* Before anything is opened: fd 6 is ours only if the runtime placed it (spawn closes all
   * other inherited fds on exec). */
  if (fcntl(CTL_FD, F_GETFD) >= 0) st.ctlfd = CTL_FD;
  st.procfd = open_host_proc();
  st.last_cap = read_last_cap(st.procfd);

  struct plan plan;
  const char *what = "";
  if (plan_parse(buf, len, &plan, &what) < 0) report_err("PLAN", EINVAL, what);
  st.argv = calloc((size_t)plan.nargs + 1, sizeof(char *));
  st.envp = calloc((size_t)plan.nenv + 1, sizeof(char *));
  if (st.argv == NULL || st.envp == NULL) report_err("INIT", ENOMEM, "allocate argv");

  for (int i = 0; i < plan.nops; i++) {
    const struct plan_op *op = &plan.ops[i];
    st.detail[0] = '\0';
    if (op->def->fn(&st, op->args) < 0) report_err(op->def->name, errno, st.detail);
  }
  report_err("PLAN", EINVAL, "no EXEC");  /* unreachable: plan_parse requires EXEC last */
}
