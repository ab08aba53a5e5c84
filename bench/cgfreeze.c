/*
 * The kernel's own freeze, timed from a small C process: the floor of the pause bench
 * (bench/pause.bench.ts). Compiled with gcc at bench time; no binary is committed.
 *
 *   cgfreeze v1 DIR N   freezer.state: write FROZEN, read until FROZEN; write THAWED, read until THAWED
 *   cgfreeze v2 DIR N   cgroup.freeze: write 1, read cgroup.events until "frozen 1"; write 0, until "frozen 0"
 *
 * DIR is a cgroup the caller made and filled (one sleeping process). N cycles; one line per
 * cycle on stdout: "freeze_us thaw_us freeze_reads thaw_reads freeze_write_us thaw_write_us".
 * Each write is one open+write+close, each check one open+read+close, as a runtime does it
 * (berth's v1 backend and runc do exactly this: write, then read the state back).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void put(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) {
    fprintf(stderr, "cgfreeze: %s <- %s: %s\n", path, value, strerror(errno));
    exit(1);
  }
  close(fd);
}

static void get(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t k = fd < 0 ? -1 : read(fd, buf, n - 1);
  if (k < 0) {
    fprintf(stderr, "cgfreeze: read %s: %s\n", path, strerror(errno));
    exit(1);
  }
  close(fd);
  buf[k] = 0;
}

/* Write `value` to `ctl`, then read `state` until it contains `want`; returns reads, sets *write_us. */
static int change(const char *ctl, const char *value, const char *state, const char *want, int prefix, double *write_us) {
  char buf[4096];
  double t0 = now_us();
  put(ctl, value);
  *write_us = now_us() - t0;
  for (int reads = 1; reads < 10000000; reads++) {
    get(state, buf, sizeof buf);
    if (prefix ? strncmp(buf, want, strlen(want)) == 0 : strstr(buf, want) != NULL) return reads;
  }
  fprintf(stderr, "cgfreeze: %s never showed %s\n", state, want);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "v1") != 0 && strcmp(argv[1], "v2") != 0)) {
    fprintf(stderr, "usage: cgfreeze v1|v2 CGROUP_DIR CYCLES\n");
    return 2;
  }
  int v2 = strcmp(argv[1], "v2") == 0;
  int n = atoi(argv[3]);
  char ctl[4096], state[4096];
  snprintf(ctl, sizeof ctl, "%s/%s", argv[2], v2 ? "cgroup.freeze" : "freezer.state");
  snprintf(state, sizeof state, "%s/%s", argv[2], v2 ? "cgroup.events" : "freezer.state");
  for (int i = 0; i < n; i++) {
    double wf, wt;
    double t0 = now_us();
    int rf = change(ctl, v2 ? "1" : "FROZEN", state, v2 ? "frozen 1" : "FROZEN", !v2, &wf);
    double t1 = now_us();
    int rt = change(ctl, v2 ? "0" : "THAWED", state, v2 ? "frozen 0" : "THAWED", !v2, &wt);
    double t2 = now_us();
    printf("%.2f %.2f %d %d %.2f %.2f\n", t1 - t0, t2 - t1, rf, rt, wf, wt);
  }
  return 0;
}
