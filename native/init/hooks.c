/*
 * The hooks that run inside the container (runtime-spec config.md "POSIX-platform Hooks"):
 * createContainer in the container's mount namespace after the mounts and before pivot_root
 * (cwd the rootfs, as runc), startContainer after the start handshake and before execve, with
 * the container's credentials. HOOKS_SYNC is the point where the runtime runs its own prestart
 * and createRuntime hooks (in the runtime namespace) while the helper waits.
 *
 * A hook gets the OCI state on stdin (its "pid" filled in here: the helper's pid as the host
 * sees it, read through the host procfs handle), exactly the args and env of the plan, and is
 * killed with SIGKILL at its timeout. Its stdout is read and dropped, the tail of its stderr
 * goes into the report of a failure. Only the hook itself is waited for: a background child
 * that keeps its pipes open cannot stall the container.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "plan.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#define TAIL_MAX 256
/* Beyond this a timeout is no limit at all (and deadline arithmetic cannot overflow). */
#define TIMEOUT_MAX (100ULL * 365 * 24 * 3600)

struct hook {
  const char *name;  /* "hooks.startContainer[0]": how reports name it */
  const char *path;
  const char *state; /* the OCI state's members after "pid" (plan.h, HOOK) */
  uint64_t timeout;  /* seconds, 0 for none */
  char **argv, **envp;
  size_t argc, envc;
};

struct hook_list {
  struct hook pending; /* args and env gathered for the next HOOK */
  struct hook *start;  /* startContainer hooks, run by EXEC */
  size_t nstart;
};

static struct hook_list *hooks_of(struct init_state *st) {
  if (st->hooks == NULL) st->hooks = calloc(1, sizeof *st->hooks);
  return st->hooks;
}

static int push(char ***v, size_t *n, char *s) {
  char **nv = realloc(*v, (*n + 2) * sizeof **v);
  if (nv == NULL) return errno = ENOMEM, -1;
  nv[(*n)++] = s;
  nv[*n] = NULL;
  *v = nv;
  return 0;
}

int op_hook_arg(struct init_state *st, char **args) {
  struct hook_list *h = hooks_of(st);
  if (h == NULL || push(&h->pending.argv, &h->pending.argc, args[0]) < 0) return fail(st, "allocate", "hook argv");
  return 0;
}

int op_hook_env(struct init_state *st, char **args) {
  struct hook_list *h = hooks_of(st);
  if (h == NULL || push(&h->pending.envp, &h->pending.envc, args[0]) < 0) return fail(st, "allocate", "hook env");
  return 0;
}

/* HOOKS_SYNC: tell the runtime (status line "HOOKS") and wait for its go-ahead byte on fd 7.
 * End of file means the runtime gave up (a hook of its own failed, or it died). */
int op_hooks_sync(struct init_state *st, char **args) {
  (void)args;
  if (write_all(STATUS_FD, "HOOKS\n", 6) < 0) return fail(st, "write", "status pipe");
  char c = 0;
  ssize_t n;
  do n = read(CONTINUE_FD, &c, 1);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(CONTINUE_FD);
  if (n == 1 && c == 'C') return 0;
  errno = n < 0 ? err : ECANCELED;
  return fail(st, "wait", "runtime hooks");
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the last TAIL_MAX bytes read from fd; returns 0 at end of file, -1 otherwise. */
static int read_tail(int fd, char *tail, size_t *len, int keep) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) return -1; /* EAGAIN: nothing more for now */
    if (!keep) continue;
    size_t k = (size_t)n > TAIL_MAX ? TAIL_MAX : (size_t)n;
    const char *src = buf + n - k;
    if (*len + k > TAIL_MAX) {
      size_t drop = *len + k - TAIL_MAX;
      memmove(tail, tail + drop, *len - drop);
      *len -= drop;
    }
    memcpy(tail + *len, src, k);
    *len += k;
  }
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* The child: state pipe on 0, the capture pipes on 1 and 2, nothing else across execve. An
 * exec failure goes back as errno on the CLOEXEC pipe `ex`. */
static void __attribute__((noreturn)) hook_child(const struct hook *hk, int cwdfd, int in, int out, int err, int ex) {
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) goto fail;
  if (cwdfd >= 0 && fchdir(cwdfd) < 0) goto fail;
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) goto fail;
  execve(hk->path, hk->argv, hk->envp);
fail:;
  int e = errno;
  (void)!write(ex, &e, sizeof e);
  _exit(127);
}

/* Sets st->detail to "<name> <what>[: <stderr tail>]" with the tail made printable. */
static int hook_failed(struct init_state *st, const struct hook *hk, int err, const char *what, const char *tail, size_t len) {
  char t[TAIL_MAX + 1];
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = tail[i] < 0x20 || tail[i] == 0x7f ? ' ' : tail[i];
    if (c == ' ' && (n == 0 || t[n - 1] == ' ')) continue;
    t[n++] = c;
  }
  while (n > 0 && t[n - 1] == ' ') n--;
  t[n] = '\0';
  snprintf(st->detail, sizeof st->detail, "%s %s%s%s", hk->name, what, n > 0 ? ": " : "", t);
  errno = err;
  return -1;
}

/* Runs one hook and waits for it (or its timeout). 0 when it exited 0. */
static int run_hook(struct init_state *st, const struct hook *hk, int cwdfd) {
  char pid[32], what[PATH_MAX + 64];
  ssize_t pl = readlinkat(st->procfd, "self", pid, sizeof pid - 1);
  if (pl <= 0) return hook_failed(st, hk, errno, "readlink /proc/self", "", 0);
  pid[pl] = '\0';
  char *state = NULL;
  int slen = asprintf(&state, "{\"pid\":%s,%s", pid, hk->state);
  if (slen < 0) return hook_failed(st, hk, ENOMEM, "allocate state", "", 0);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, ex[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0) {
    int e = errno;
    int *all[] = {&in[0], &in[1], &out[0], &out[1], &errp[0], &errp[1], &ex[0], &ex[1]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) close_fd(all[i]);
    free(state);
    return hook_failed(st, hk, e, "pipe", "", 0);
  }
  pid_t child = fork();
  if (child == 0) hook_child(hk, cwdfd, in[0], out[1], errp[1], ex[1]);
  int forkerr = errno;
  close_fd(&in[0]), close_fd(&out[1]), close_fd(&errp[1]), close_fd(&ex[1]);
  if (child < 0) {
    close_fd(&in[1]), close_fd(&out[0]), close_fd(&errp[0]), close_fd(&ex[0]);
    free(state);
    return hook_failed(st, hk, forkerr, "fork", "", 0);
  }
  /* EOF when execve succeeded (CLOEXEC), the child's errno when it failed. */
  int childerr = 0;
  ssize_t n;
  do n = read(ex[0], &childerr, sizeof childerr);
  while (n < 0 && errno == EINTR);
  close_fd(&ex[0]);
  int pidfd = n == (ssize_t)sizeof childerr ? -1 : (int)syscall(SYS_pidfd_open, child, 0);
  if (n == (ssize_t)sizeof childerr || pidfd < 0) {
    int e = n == (ssize_t)sizeof childerr ? childerr : errno;
    if (pidfd < 0 && n != (ssize_t)sizeof childerr) kill(child, SIGKILL);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
    close_fd(&in[1]), close_fd(&out[0]), close_fd(&errp[0]);
    free(state);
    snprintf(what, sizeof what, n == (ssize_t)sizeof childerr ? "exec %s" : "pidfd_open %s", hk->path);
    return hook_failed(st, hk, e, what, "", 0);
  }

  /* A hook that does not read its stdin must not kill us with SIGPIPE. Restored before we
   * return: an ignored disposition would survive our own execve. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old;
  sigaction(SIGPIPE, &ign, &old);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(errp[0], F_SETFL, O_NONBLOCK);
  uint64_t secs = hk->timeout > TIMEOUT_MAX ? 0 : hk->timeout;
  int64_t deadline = secs > 0 ? now_ms() + (int64_t)secs * 1000 : -1;
  char tail[TAIL_MAX];
  size_t tlen = 0, off = 0;
  int timed_out = 0, exited = 0;
  while (!exited) {
    struct pollfd p[4] = {{in[1], POLLOUT, 0}, {out[0], POLLIN, 0}, {errp[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
    int wait = -1;
    if (deadline >= 0 && !timed_out) {
      int64_t left = deadline - now_ms();
      wait = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
    }
    int r = poll(p, 4, wait);
    if (r < 0 && errno != EINTR) break;
    if (deadline >= 0 && !timed_out && now_ms() >= deadline) {
      kill(child, SIGKILL);
      timed_out = 1;
    }
    if (r <= 0) continue;
    if (in[1] >= 0 && p[0].revents) {
      ssize_t w = write(in[1], state + off, (size_t)slen - off);
      if (w > 0) off += (size_t)w;
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || off == (size_t)slen) close_fd(&in[1]);
    }
    if (out[0] >= 0 && p[1].revents && read_tail(out[0], tail, &tlen, 0) == 0) close_fd(&out[0]);
    if (errp[0] >= 0 && p[2].revents && read_tail(errp[0], tail, &tlen, 1) == 0) close_fd(&errp[0]);
    exited = p[3].revents != 0;
  }
  if (errp[0] >= 0) read_tail(errp[0], tail, &tlen, 1);
  close_fd(&in[1]), close_fd(&out[0]), close_fd(&errp[0]);
  sigaction(SIGPIPE, &old, NULL);
  free(state);
  int status = 0;
  pid_t w;
  do w = waitpid(child, &status, 0);
  while (w < 0 && errno == EINTR);
  close(pidfd);
  if (w < 0) return hook_failed(st, hk, errno, "waitpid", "", 0);
  if (timed_out) {
    snprintf(what, sizeof what, "timed out after %llus", (unsigned long long)secs);
    return hook_failed(st, hk, ETIMEDOUT, what, tail, tlen);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFEXITED(status)) snprintf(what, sizeof what, "exited with status %d", WEXITSTATUS(status));
  else snprintf(what, sizeof what, "killed by signal %d", WTERMSIG(status));
  return hook_failed(st, hk, 0, what, tail, tlen);
}

/* HOOK <stage> <name> <path> <timeout> <state>: a createContainer hook runs now, in the
 * rootfs as its working directory; a startContainer hook is kept for EXEC. */
int op_hook(struct init_state *st, char **args) {
  struct hook_list *h = hooks_of(st);
  if (h == NULL) return errno = ENOMEM, fail(st, "allocate", "hook");
  struct hook hk = h->pending;
  memset(&h->pending, 0, sizeof h->pending);
  hk.name = args[1];
  hk.path = args[2];
  hk.timeout = plan_u64(args[3]);
  hk.state = args[4];
  /* execv's argv: the plan's args (args[0] is argv[0]), else just the path; env: only the plan's */
  if (hk.argv == NULL && push(&hk.argv, &hk.argc, args[2]) < 0) return fail(st, "allocate", "hook argv");
  if (hk.envp == NULL && (hk.envp = calloc(1, sizeof *hk.envp)) == NULL) return errno = ENOMEM, fail(st, "allocate", "hook env");
  if (strcmp(args[0], "createContainer") == 0) return run_hook(st, &hk, st->rootfd);
  if (strcmp(args[0], "startContainer") != 0) return errno = EINVAL, fail(st, "stage", args[0]);
  struct hook *ns = realloc(h->start, (h->nstart + 1) * sizeof *ns);
  if (ns == NULL) return errno = ENOMEM, fail(st, "allocate", "hook");
  ns[h->nstart++] = hk;
  h->start = ns;
  return 0;
}

/* The startContainer hooks, run by EXEC once `berth start` has opened the exec fifo. A failure
 * is reported on the fifo itself (one write, atomic below PIPE_BUF) and the helper exits: the
 * container is stopped and the user process never runs. */
void run_start_hooks(struct init_state *st, int fifofd) {
  struct hook_list *h = st->hooks;
  for (size_t i = 0; h != NULL && i < h->nstart; i++) {
    st->detail[0] = '\0';
    if (run_hook(st, &h->start[i], -1) == 0) continue;
    char line[768];
    int n = snprintf(line, sizeof line - 1, "ERR HOOK %d %s", errno, st->detail);
    if (n < 0) n = 0;
    if (n > (int)sizeof line - 2) n = sizeof line - 2;
    line[n++] = '\n';
    (void)write_all(fifofd, line, (size_t)n);
    _exit(1);
  }
}
