/*
 * berth-logs: copies a managed container's stdout (fd 3) and stderr (fd 4) into its log file
 * as JSON lines {"stream","time","line"}, and exits once both pipes reach end of file (every
 * process of the container has closed them). It is the only reader of those pipes, so it must
 * outlive whoever created the container: without a reader the container would block on a
 * full pipe or die of SIGPIPE (docs/manager.md). Once reading it writes "ready\n" on fd 1 and
 * closes it; when both pipes are done it creates "<log>.closed", which ends `logs --follow`.
 *
 *   berth-logs <log file>
 *
 * Plain C, single-threaded, static: a few hundred kilobytes per container, not a runtime.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A longer line is split: a runaway line must not grow the copier's memory without bound. */
#define MAX_LINE (16 * 1024)

struct stream {
  int fd;
  const char *name;
  size_t len;
  char buf[MAX_LINE];
};

static int out = -1;

static int write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(out, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One JSON line; bytes >= 0x80 pass through (readers decode UTF-8), control bytes are escaped. */
static void emit(const struct stream *s, const char *line, size_t n) {
  static char rec[MAX_LINE * 6 + 128];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t k = (size_t)snprintf(rec, 128, "{\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"line\":\"", s->name,
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)line[i];
    if (c == '"' || c == '\\') {
      rec[k++] = '\\';
      rec[k++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      k += (size_t)snprintf(rec + k, 7, "\\u%04x", c);
    } else {
      rec[k++] = (char)c;
    }
  }
  memcpy(rec + k, "\"}\n", 3);
  /* A full disk loses lines, never the container: the pipes keep being drained. */
  (void)write_all(rec, k + 3);
}

/* Read what is there; emit every complete line (and full buffers). Returns 0 at end of file. */
static int drain(struct stream *s) {
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  if (n == 0) return 0;
  s->len += (size_t)n;
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] != '\n') continue;
    emit(s, s->buf + start, i - start);
    start = i + 1;
  }
  if (start == 0 && s->len == sizeof s->buf) {
    emit(s, s->buf, s->len);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: berth-logs <log file>\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  if (chdir("/") < 0) return 1;
  out = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (out < 0) {
    fprintf(stderr, "berth-logs: open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  static struct stream streams[2] = {{.fd = 3, .name = "stdout"}, {.fd = 4, .name = "stderr"}};
  if (write(1, "ready\n", 6) != 6) return 1;
  close(1);
  int open_streams = 2;
  struct pollfd fds[2] = {{.fd = 3, .events = POLLIN}, {.fd = 4, .events = POLLIN}};
  while (open_streams > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    /* stdout first when both are ready: the order poll cannot tell is the order the two pipes
     * filled, which no reader of two pipes can recover */
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      if (drain(&streams[i])) continue;
      if (streams[i].len > 0) emit(&streams[i], streams[i].buf, streams[i].len);
      streams[i].len = 0;
      close(fds[i].fd);
      fds[i].fd = -1;
      open_streams--;
    }
  }
  close(out);
  char marker[4096];
  if (snprintf(marker, sizeof marker, "%s.closed", argv[1]) < (int)sizeof marker) {
    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    /* the container was removed, its directory with it: nobody follows this log */
    if (fd >= 0) close(fd);
  }
  return 0;
}
