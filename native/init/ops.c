/*
 * The operations that are one syscall each: session, propagation, names, limits, sysctls,
 * oom_score_adj, no_new_privs, umask, cwd, and the ENV/ARG accumulators.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ops.h"

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

int fail(struct init_state *st, const char *step, const char *object) {
  int err = errno;
  snprintf(st->detail, sizeof st->detail, "%s %s", step, object);
  errno = err;
  return -1;
}

int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

int op_setsid(struct init_state *st, char **args) {
  (void)args;
  if (setsid() < 0) return fail(st, "setsid", "");
  return 0;
}

/* PROPAGATION <flags>: e.g. MS_REC|MS_SLAVE on "/", so nothing we mount reaches the host. */
int op_propagation(struct init_state *st, char **args) {
  if (mount(NULL, "/", NULL, (unsigned long)plan_u64(args[0]), NULL) < 0) return fail(st, "mount", "/");
  return 0;
}

/* The container's /proc/sys (after pivot_root), verified to be procfs. */
static int open_proc_sys(struct init_state *st) {
  int dir = open("/proc/sys", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) return fail(st, "open", "/proc/sys (is /proc mounted in the container?)");
  struct statfs sfs;
  int rc = fstatfs(dir, &sfs);
  if (rc == 0 && sfs.f_type != PROC_SUPER_MAGIC) rc = -1, errno = ENODEV;
  if (rc == 0) return dir;
  int err = errno;
  close(dir);
  errno = err;
  return fail(st, "statfs", "/proc/sys (not procfs)");
}

/* SYSCTL <key> <value>: written through the container's own /proc; the key ('.' becomes '/')
 * is resolved beneath /proc/sys without following any link or crossing a mount, so a file bound
 * over a sysctl (CVE-2025-52881 class) cannot take the write. */
int op_sysctl(struct init_state *st, char **args) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "/proc/sys/%s", args[0]) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return fail(st, "sysctl", args[0]);
  }
  char *rel = path + strlen("/proc/sys/");
  for (char *c = rel; *c; c++) {
    if (*c == '.') *c = '/';
  }
  int dir = open_proc_sys(st);
  if (dir < 0) return -1;
  struct open_how how = {.flags = O_WRONLY | O_CLOEXEC,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                                    RESOLVE_NO_XDEV};
  int fd = (int)syscall(SYS_openat2, dir, rel, &how, sizeof how);
  close(dir);
  if (fd < 0) return fail(st, "open", path);
  int rc = write_all(fd, args[1], strlen(args[1]));
  int err = errno;
  close(fd);
  errno = err;
  if (rc < 0) return fail(st, "write", path);
  return 0;
}

int op_hostname(struct init_state *st, char **args) {
  if (sethostname(args[0], strlen(args[0])) < 0) return fail(st, "sethostname", args[0]);
  return 0;
}

int op_domainname(struct init_state *st, char **args) {
  if (setdomainname(args[0], strlen(args[0])) < 0) return fail(st, "setdomainname", args[0]);
  return 0;
}

/* RLIMIT <resource> <soft> <hard>: u64 max is RLIM_INFINITY on 64-bit. */
int op_rlimit(struct init_state *st, char **args) {
  struct rlimit rl = {.rlim_cur = (rlim_t)plan_u64(args[1]), .rlim_max = (rlim_t)plan_u64(args[2])};
  if (setrlimit((__rlimit_resource_t)plan_u64(args[0]), &rl) < 0) return fail(st, "setrlimit", args[0]);
  return 0;
}

/* OOM_SCORE_ADJ <n>: through the host procfs handle, so it works before or after pivot_root. */
int op_oom_score_adj(struct init_state *st, char **args) {
  int fd = openat(st->procfd, "self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(st, "open", "/proc/self/oom_score_adj");
  int rc = write_all(fd, args[0], strlen(args[0]));
  int err = errno;
  close(fd);
  errno = err;
  if (rc < 0) return fail(st, "write", "/proc/self/oom_score_adj");
  return 0;
}

int op_no_new_privs(struct init_state *st, char **args) {
  (void)args;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return fail(st, "prctl", "PR_SET_NO_NEW_PRIVS");
  return 0;
}

int op_umask(struct init_state *st, char **args) {
  (void)st;
  umask((mode_t)strtoul(args[0], NULL, 8));
  return 0;
}

/* CWD <path>: CVE-2024-21626: resolved inside the root by fd, where a magic link such as
 * /proc/self/fd/<N> (a leaked fd's directory) fails with ELOOP; then getcwd() must still name a
 * path inside our root: a directory outside it reads "(unreachable)/..." or fails. */
int op_cwd(struct init_state *st, char **args) {
  char buf[PATH_MAX];
  /* An exec plan has no ROOTFS: its root is "/" once SETNS joined the container's mounts. */
  int own = st->rootfd < 0 ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  if (st->rootfd < 0 && own < 0) return fail(st, "open", "/");
  int fd = open_in_root(st->rootfd >= 0 ? st->rootfd : own, args[0], O_PATH | O_DIRECTORY, 0);
  if (own >= 0) {
    int err = errno;
    close(own);
    errno = err;
  }
  if (fd < 0) return fail(st, "chdir", args[0]);
  int rc = fchdir(fd);
  int err = errno;
  close(fd);
  errno = err;
  if (rc < 0) return fail(st, "chdir", args[0]);
  if (getcwd(buf, sizeof buf) == NULL) return fail(st, "getcwd", args[0]);
  if (buf[0] != '/' || strncmp(buf, "(unreachable)", 13) == 0) {
    errno = ENOENT;
    return fail(st, "getcwd", buf);
  }
  return 0;
}

int op_env(struct init_state *st, char **args) {
  st->envp[st->envc++] = args[0];
  return 0;
}

int op_arg(struct init_state *st, char **args) {
  st->argv[st->argc++] = args[0];
  return 0;
}
