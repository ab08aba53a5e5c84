/*
 * EXEC: resolve argv[0] through the PATH of the ENV operations (as execvp), close every fd
 * but 0-2, 4 and 5, report READY, block until `berth start` opens the exec fifo, run the
 * startContainer hooks, and execve. The fifo's write end is close-on-exec: its reader sees end of
 * file exactly when the user process has replaced us (or we died).
 * EXEC_NOW (berth exec) is the same without the fifo: READY, then execve at once.
 * After READY the status line is spent: an execve failure goes to stderr, with exit 127.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"
#include "plan.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PROCFD_FINAL 6  /* where the procfs handle lives for the fifo wait */

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* A regular file we may execute. */
static int executable(const char *path) {
  struct stat sb;
  if (stat(path, &sb) < 0) return -1;
  if (!S_ISREG(sb.st_mode)) return errno = EACCES, -1;
  return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS);
}

static const char *env_path(char **envp) {
  for (; *envp != NULL; envp++) {
    if (strncmp(*envp, "PATH=", 5) == 0) return *envp + 5;
  }
  return DEFAULT_PATH;
}

/* execvp's search: a name with '/' is used as is; otherwise each PATH entry in turn (empty
 * means "."); EACCES from any candidate wins over ENOENT. */
static int resolve_exe(struct init_state *st, char *out, size_t outsz) {
  const char *name = st->argv[0];
  if (name[0] == '\0') return errno = ENOENT, fail(st, "resolve", "(empty argv[0])");
  if (strchr(name, '/') != NULL) {
    if (executable(name) < 0) return fail(st, "resolve", name);
    snprintf(out, outsz, "%s", name);
    return 0;
  }
  int denied = 0;
  for (const char *dir = env_path(st->envp);; dir++) {
    size_t dlen = strcspn(dir, ":");
    int n = dlen == 0 ? snprintf(out, outsz, "./%s", name)
                      : snprintf(out, outsz, "%.*s/%s", (int)dlen, dir, name);
    if (n > 0 && (size_t)n < outsz) {
      if (executable(out) == 0) return 0;
      denied |= errno == EACCES;
    }
    dir += dlen;
    if (*dir == '\0') break;
  }
  errno = denied ? EACCES : ENOENT;
  return fail(st, "resolve", name);
}

/* CVE-2024-21626: nothing but stdio, the status pipe and the fifo reaches the container. The
 * control socket is closed first, so the runtime, reading it after READY, sees its messages end;
 * the procfs handle takes its place at fd 6 and is close-on-exec, like 4 and 5. */
static int close_fds(struct init_state *st) {
  if (st->ctlfd >= 0) {
    close(st->ctlfd);
    st->ctlfd = -1;
  }
  if (st->procfd != PROCFD_FINAL) {
    if (dup3(st->procfd, PROCFD_FINAL, O_CLOEXEC) < 0) return fail(st, "dup3", "procfs handle");
    st->procfd = PROCFD_FINAL;
  }
  if (syscall(SYS_close_range, 3, 3, 0) < 0 || syscall(SYS_close_range, PROCFD_FINAL + 1, ~0U, 0) < 0) {
    return fail(st, "close_range", "");
  }
  for (int fd = STATUS_FD; fd <= PROCFD_FINAL; fd++) {
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return fail(st, "fcntl", "FD_CLOEXEC");
  }
  st->rootfd = st->devnullfd = -1;
  return 0;
}

static void __attribute__((noreturn)) exec_failed(int err, const char *what) {
  dprintf(STDERR_FILENO, "ERR EXEC %d %s\n", err, what);
  _exit(127);
}

int op_exec(struct init_state *st, char **args) {
  (void)args;
  char path[PATH_MAX];
  if (resolve_exe(st, path, sizeof path) < 0) return -1;
  if (close_fds(st) < 0) return -1;
  if (write_all(STATUS_FD, "READY\n", 6) < 0) _exit(1);
  /* Reopening the O_PATH fifo for writing blocks until `berth start` opens it for reading. */
  char fifo[32];
  snprintf(fifo, sizeof fifo, "self/fd/%d", FIFO_FD);
  int fd;
  do fd = openat(st->procfd, fifo, O_WRONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) exec_failed(errno, "open exec fifo");
  run_start_hooks(st, fd);
  if (write_all(fd, "0", 1) < 0) exec_failed(errno, "write exec fifo");
  /* fd stays open (close-on-exec): `berth start` waits for its end of file, so it returns
   * (and runs poststart hooks) once the user process is executing */
  seccomp_install_deferred();  /* a profile loaded here only has to allow execve */
  execve(path, st->argv, st->envp);
  exec_failed(errno, path);
}

int op_exec_now(struct init_state *st, char **args) {
  (void)args;
  char path[PATH_MAX];
  if (resolve_exe(st, path, sizeof path) < 0) return -1;
  if (close_fds(st) < 0) return -1;
  if (write_all(STATUS_FD, "READY\n", 6) < 0) _exit(1);
  seccomp_install_deferred();  /* the container's profile binds exec'd processes too */
  execve(path, st->argv, st->envp);
  exec_failed(errno, path);
}
