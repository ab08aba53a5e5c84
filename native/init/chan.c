/*
 * The control socket (fd 6, plan.h): how berth-init hands fds to the runtime. One message per
 * fd, on an AF_UNIX SOCK_SEQPACKET socket whose other end the runtime keeps: the data is the
 * fd's name ("console", ...), the fd travels as SCM_RIGHTS. The runtime reads the messages after
 * READY (EXEC closes this end first, so they end there); a message still queued when the runtime
 * closes its end (a failed create) is dropped by the kernel along with its fd.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "ops.h"

int chan_send_fd(struct init_state *st, const char *name, int fd) {
  if (st->ctlfd < 0) return errno = EBADF, fail(st, "send", name);
  struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do n = sendmsg(st->ctlfd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return fail(st, "send", name);
  return 0;
}
