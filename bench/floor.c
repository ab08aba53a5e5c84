/*
 * The kernel floor for one container lifecycle: the least a runtime has to do to run
 * /bin/true in fresh namespaces on a rootfs. bench/lifecycle.bench.ts compiles it with gcc
 * into a temporary directory at bench time (no binary is committed) and times it exactly as
 * it times `runc run`: spawn -> exit, from the bench process.
 *
 *   floor [-t] [-c] <rootfs> [path-in-rootfs]      (default /bin/true)
 *
 * -t prints, on stderr, `clone_us=<n> total_us=<n>`: the clone call alone, and clone -> reaped,
 *    timed inside this small process (so without the cost of forking a large parent).
 * -c (diagnostic, not part of the floor) also mounts a fresh cgroup2 on /sys in the container
 *    before the exec, as berth does for /sys/fs/cgroup/unified on a hybrid host; with -t the
 *    child prints `cgroup2_us=<n>` for that one mount(2).
 *
 * Parent: clone(CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET), waitpid.
 * Child:  make / rslave, bind the rootfs onto itself, pivot_root into it, detach the old
 *         root, exec the program. Exits with the child's status (128+signal if killed).
 *
 * Nothing else: no /proc, no /dev, no cgroups, no capabilities, no rlimits, no seccomp, no
 * state directory, no log. Every real runtime does more than this.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *rootfs;
static const char *prog = "/bin/true";
static int timing, cgroup2;

static void die(const char *what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  _exit(127);
}

static long long usec(void);

static int child(void *arg) {
  (void)arg;
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) die("make / rslave");
  if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind rootfs");
  if (chdir(rootfs) < 0) die("chdir rootfs");
  /* pivot_root(".", "."): the old root is stacked under the new one, then detached. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root");
  if (umount2(".", MNT_DETACH) < 0) die("detach old root");
  if (chdir("/") < 0) die("chdir /");
  if (cgroup2) {
    long long t0 = usec();
    if (mount("cgroup2", "/sys", "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) die("mount cgroup2");
    if (timing) fprintf(stderr, "cgroup2_us=%lld\n", usec() - t0);
  }
  char *const argv[] = {(char *)prog, NULL};
  char *const envp[] = {"PATH=/bin", NULL};
  execve(prog, argv, envp);
  die("exec");
  return 127;
}

static long long usec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  while (argc > 1 && argv[1][0] == '-') {
    if (strcmp(argv[1], "-t") == 0) timing = 1;
    else if (strcmp(argv[1], "-c") == 0) cgroup2 = 1;
    else break;
    argc--;
    argv++;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: floor [-t] [-c] <rootfs> [program]\n");
    return 2;
  }
  rootfs = argv[1];
  if (argc > 2) prog = argv[2];
  static char stack[64 * 1024] __attribute__((aligned(16)));
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD;
  long long t0 = usec();
  pid_t pid = clone(child, stack + sizeof stack, flags, NULL);
  if (pid < 0) die("clone");
  long long t1 = usec();
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  if (timing) fprintf(stderr, "clone_us=%lld total_us=%lld\n", t1 - t0, usec() - t0);
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}
