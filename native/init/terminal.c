/*
 * TERMINAL <uid> <rows> <cols> <console>: process.terminal, as runc's setupConsole. It needs
 * only that "/" is already the container's root (after PIVOT_ROOT, or after joining the
 * container's mount namespace for an exec) and that the process leads its session (SETSID): it
 * uses no state of ROOTFS or the mounts, so exec plans can run it too.
 *
 * The pty must come from the container's own devpts instance (CVE-2025-52565 class: a
 * /dev/pts/ptmx that is a symlink, or a bind mount of something else, must not hand the
 * container a host pty or a different file): /dev/pts/ptmx is resolved inside the root without
 * following any symlink, checked to be the ptmx node (char 5:2) of a devpts filesystem, then
 * reopened through the procfs magic link (the same inode, no second lookup). The peer comes from
 * TIOCGPTPEER, not from a /dev/pts/N path, and is checked to be a pts of the same instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <termios.h>
#include <unistd.h>

#include "ops.h"

#ifndef DEVPTS_SUPER_MAGIC
#define DEVPTS_SUPER_MAGIC 0x1cd1
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#define UNIX98_PTY_SLAVE_MAJOR 136 /* pts majors are 136..143 */

static int close_keep(int fd, int rc) {
  int err = errno;
  if (fd >= 0) close(fd);
  errno = err;
  return rc;
}

static int on_devpts(int fd) {
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) return -1;
  if (sfs.f_type != DEVPTS_SUPER_MAGIC) return errno = ENODEV, -1;
  return 0;
}

/* The container's /dev/pts/ptmx, verified, opened O_RDWR | O_NOCTTY; its stat in *sb. */
static int open_ptmx(struct init_state *st, int root, struct stat *sb) {
  int path = open_in_root(root, "/dev/pts/ptmx", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
  if (path < 0) return fail(st, "resolve", "/dev/pts/ptmx");
  if (fstat(path, sb) < 0) return close_keep(path, fail(st, "stat", "/dev/pts/ptmx"));
  if (on_devpts(path) < 0 || !S_ISCHR(sb->st_mode) || sb->st_rdev != makedev(5, 2)) {
    if (errno != ENODEV) errno = ENODEV;
    return close_keep(path, fail(st, "verify", "/dev/pts/ptmx (not the ptmx of a devpts mount)"));
  }
  char link[32];
  snprintf(link, sizeof link, "self/fd/%d", path);
  int fd = openat(st->procfd, link, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return close_keep(path, fail(st, "open", "/dev/pts/ptmx"));
  close(path);
  return fd;
}

/* The master's peer, without a path lookup; a pts of the same devpts instance as ptmx. */
static int open_peer(struct init_state *st, int master, const struct stat *ptmx) {
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) return fail(st, "unlockpt", "/dev/pts/ptmx");
  int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (peer < 0) return fail(st, "ioctl", "TIOCGPTPEER");
  struct stat sb;
  if (fstat(peer, &sb) < 0) return close_keep(peer, fail(st, "stat", "pty peer"));
  unsigned maj = major(sb.st_rdev);
  if (on_devpts(peer) < 0 || !S_ISCHR(sb.st_mode) || maj < UNIX98_PTY_SLAVE_MAJOR ||
      maj > UNIX98_PTY_SLAVE_MAJOR + 7 || sb.st_dev != ptmx->st_dev) {
    errno = ENODEV;
    return close_keep(peer, fail(st, "verify", "pty peer (not a pts of the container's devpts)"));
  }
  return peer;
}

/* runtime-spec "Default Devices": /dev/console is the pty, bind-mounted. The mountpoint is made
 * inside /dev (resolved without symlinks) and must be a file or a device node, never a
 * directory or a link the bind could be redirected through. */
static int mount_console(struct init_state *st, int root, int peer) {
  int dev = open_in_root(root, "/dev", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
  if (dev < 0) return fail(st, "resolve", "/dev");
  int fd = openat(dev, "console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0 && errno != EEXIST) return close_keep(dev, fail(st, "create", "/dev/console"));
  close_keep(fd, 0);
  close(dev);
  struct stat sb;
  int target = open_in_root(root, "/dev/console", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
  if (target < 0 || fstat(target, &sb) < 0) return close_keep(target, fail(st, "resolve", "/dev/console"));
  if (!S_ISREG(sb.st_mode) && !S_ISCHR(sb.st_mode)) {
    errno = EINVAL;
    return close_keep(target, fail(st, "verify", "/dev/console (not a file or a char device)"));
  }
  if (mount_fds(st, peer, NULL, target, NULL, MS_BIND, NULL) < 0) {
    return close_keep(target, fail(st, "mount", "/dev/console"));
  }
  close(target);
  return 0;
}

/* The peer becomes the controlling terminal and stdio; its owner is the process's uid (its group
 * stays the devpts one, gid=5 in the default spec), as runc's fixStdioPermissions. */
static int attach_peer(struct init_state *st, int peer, uid_t uid) {
  if (ioctl(peer, TIOCSCTTY, 0) < 0) return fail(st, "ioctl", "TIOCSCTTY");
  if (fchown(peer, uid, (gid_t)-1) < 0) return fail(st, "chown", "pty peer");
  for (int fd = 0; fd <= 2; fd++) {
    if (dup2(peer, fd) < 0) return fail(st, "dup2", "pty peer");
  }
  return 0;
}

int op_terminal(struct init_state *st, char **args) {
  uid_t uid = (uid_t)plan_u64(args[0]);
  unsigned short rows = (unsigned short)plan_u64(args[1]), cols = (unsigned short)plan_u64(args[2]);
  int console = plan_u64(args[3]) != 0;
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return fail(st, "open", "/");
  struct stat ptmx;
  int master = open_ptmx(st, root, &ptmx);
  if (master < 0) return close_keep(root, -1);
  int peer = open_peer(st, master, &ptmx);
  int rc = peer < 0 ? -1 : 0;
  if (rc == 0 && rows != 0 && cols != 0) {
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(master, TIOCSWINSZ, &ws) < 0) rc = fail(st, "ioctl", "TIOCSWINSZ");
  }
  if (rc == 0 && console) rc = mount_console(st, root, peer);
  if (rc == 0) rc = chan_send_fd(st, "console", master);
  close_keep(master, 0);
  close_keep(root, 0);
  if (rc == 0) rc = attach_peer(st, peer, uid);
  if (peer > 2) close_keep(peer, 0);
  return rc;
}
