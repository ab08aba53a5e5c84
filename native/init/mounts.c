/*
 * Filesystem operations: ROOTFS, MOUNT, BIND, PROPAGATE, MKNOD, SYMLINK before pivot_root;
 * PIVOT_ROOT; MASK, READONLY, ROOT_READONLY after it. Every destination is resolved inside
 * the rootfs by fd (resolve.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ops.h"

#define PROPAGATION_FLAGS (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

/* Closes fd keeping errno, and returns rc: the tail of most operations. */
static int close_keep(int fd, int rc) {
  int err = errno;
  if (fd >= 0) close(fd);
  errno = err;
  return rc;
}

/* ROOTFS <host path>: bind the rootfs onto itself (pivot_root needs a mount point) and keep an
 * O_PATH handle on the new mount; every later destination is resolved beneath it. */
int op_rootfs(struct init_state *st, char **args) {
  if (mount(args[0], args[0], NULL, MS_BIND | MS_REC, NULL) < 0) return fail(st, "mount", args[0]);
  st->rootfd = open(args[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (st->rootfd < 0) return fail(st, "open", args[0]);
  return 0;
}

/* MOUNT <source> <dest> <fstype> <flags> <data>: a new filesystem instance on a directory
 * created inside the rootfs. */
int op_mount(struct init_state *st, char **args) {
  const char *src = strcmp(args[0], "-") == 0 ? NULL : args[0];
  const char *data = strcmp(args[4], "-") == 0 ? NULL : args[4];
  int fd = mkpath_in_root(st->rootfd, args[1], MK_DIR);
  if (fd < 0) return fail(st, "resolve", args[1]);
  if (mount_fds(st, -1, src, fd, args[2], (unsigned long)plan_u64(args[3]), data) < 0) {
    return close_keep(fd, fail(st, "mount", args[1]));
  }
  close(fd);
  return 0;
}

/* BIND <host source> <dest> <flags>: the dest (a dir or an empty file, like the source) is
 * created inside the rootfs; flags beyond MS_BIND|MS_REC and propagation need a remount. */
int op_bind(struct init_state *st, char **args) {
  unsigned long flags = (unsigned long)plan_u64(args[2]);
  unsigned long extra = flags & ~(MS_BIND | MS_REC | PROPAGATION_FLAGS);
  struct stat sb;
  int src = open(args[0], O_PATH | O_CLOEXEC);
  if (src < 0 || fstat(src, &sb) < 0) return close_keep(src, fail(st, "open", args[0]));
  int dst = mkpath_in_root(st->rootfd, args[1], S_ISDIR(sb.st_mode) ? MK_DIR : MK_FILE);
  if (dst < 0) return close_keep(src, fail(st, "resolve", args[1]));
  int rc = mount_fds(st, src, NULL, dst, NULL, MS_BIND | (flags & MS_REC), NULL);
  close_keep(src, 0);
  close_keep(dst, 0);
  if (rc < 0) return fail(st, "mount", args[1]);
  if (extra == 0) return 0;
  /* the old fd names the covered directory: resolve again to reach the new mount */
  dst = open_in_root(st->rootfd, args[1], O_PATH, 0);
  if (dst < 0) return fail(st, "resolve", args[1]);
  if (remount_fd(st, dst, extra) < 0) return close_keep(dst, fail(st, "remount", args[1]));
  close(dst);
  return 0;
}

/* PROPAGATE <dest> <flags>: MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE (maybe MS_REC). */
int op_propagate(struct init_state *st, char **args) {
  int fd = open_in_root(st->rootfd, args[0], O_PATH, 0);
  if (fd < 0) return fail(st, "resolve", args[0]);
  if (mount_fds(st, -1, NULL, fd, NULL, (unsigned long)plan_u64(args[1]), NULL) < 0) {
    return close_keep(fd, fail(st, "mount", args[0]));
  }
  close(fd);
  return 0;
}

/* Where mknod is not allowed (a user namespace): an empty file with the host's node bound on
 * it, as runc does. The host node is the same path on the host (/dev/null for /dev/null). */
static int bind_host_node(struct init_state *st, int parent, const char *base, const char *dest) {
  int fd = openat(parent, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 && errno != EEXIST) return fail(st, "create", dest);
  close_keep(fd, 0);
  int host = open(dest, O_PATH | O_CLOEXEC);
  if (host < 0) return fail(st, "open host", dest);
  int node = open_in_root(st->rootfd, dest, O_PATH | O_NOFOLLOW, 0);
  if (node < 0) return close_keep(host, fail(st, "resolve", dest));
  int rc = mount_fds(st, host, NULL, node, NULL, MS_BIND, NULL);
  close_keep(host, 0);
  close_keep(node, 0);
  return rc < 0 ? fail(st, "mount", dest) : 0;
}

/* MKNOD <dest> <mode> <major> <minor> <uid> <gid>: an existing node is left as it is. */
int op_mknod(struct init_state *st, char **args) {
  char base[NAME_MAX + 1];
  mode_t mode = (mode_t)plan_u64(args[1]);
  dev_t dev = makedev((unsigned)plan_u64(args[2]), (unsigned)plan_u64(args[3]));
  int parent = open_parent_in_root(st->rootfd, args[0], base, sizeof base);
  if (parent < 0) return fail(st, "resolve", args[0]);
  int rc = mknodat(parent, base, mode, dev);
  if (rc < 0 && errno == EEXIST) return close_keep(parent, 0);
  if (rc < 0 && errno == EPERM) return close_keep(parent, bind_host_node(st, parent, base, args[0]));
  if (rc < 0) return close_keep(parent, fail(st, "mknod", args[0]));
  /* the mode is exact, whatever the umask; the owner is the container's */
  if (fchmodat(parent, base, mode & 07777, 0) < 0) return close_keep(parent, fail(st, "chmod", args[0]));
  rc = fchownat(parent, base, (uid_t)plan_u64(args[4]), (gid_t)plan_u64(args[5]), AT_SYMLINK_NOFOLLOW);
  if (rc < 0) return close_keep(parent, fail(st, "chown", args[0]));
  close(parent);
  return 0;
}

/* SYMLINK <target> <dest>: an existing dest counts as success. */
int op_symlink(struct init_state *st, char **args) {
  char base[NAME_MAX + 1];
  int parent = open_parent_in_root(st->rootfd, args[1], base, sizeof base);
  if (parent < 0) return fail(st, "resolve", args[1]);
  if (symlinkat(args[0], parent, base) < 0 && errno != EEXIST) {
    return close_keep(parent, fail(st, "symlink", args[1]));
  }
  close(parent);
  return 0;
}

/* PIVOT_ROOT: pivot_root(".", ".") stacks the old root on top of the new one; unmounting "."
 * then detaches it, so no temporary directory is needed (runc). Before that the old root tree
 * is made a recursive slave, so the unmount cannot propagate back to the host. It is named by
 * an fd taken before the pivot: mount(".") would name the new root (only umount follows "."
 * up the mount stack) and would clobber the container's own propagation (PROPAGATE). */
int op_pivot_root(struct init_state *st, char **args) {
  (void)args;
  if (st->rootfd < 0) return errno = EINVAL, fail(st, "pivot_root", "(no ROOTFS)");
  int old = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (old < 0) return fail(st, "open", "old root");
  if (fchdir(st->rootfd) < 0) return close_keep(old, fail(st, "fchdir", "rootfs"));
  if (syscall(SYS_pivot_root, ".", ".") < 0) return close_keep(old, fail(st, "pivot_root", "."));
  int rc = mount_fds(st, -1, NULL, old, NULL, MS_SLAVE | MS_REC, NULL);  /* leaves cwd at "/" */
  close_keep(old, 0);
  if (rc < 0) return fail(st, "mount", "old root");
  if (umount2(".", MNT_DETACH) < 0) return fail(st, "umount2", "old root");
  if (chdir("/") < 0) return fail(st, "chdir", "/");
  return 0;
}

/* The /dev/null MASK binds: the container's own, opened without following any symlink and
 * checked to be the real character device 1:3 (CVE-2025-31133). */
static int devnull(struct init_state *st) {
  if (st->devnullfd >= 0) return st->devnullfd;
  struct stat sb;
  int fd = open_in_root(st->rootfd, "/dev/null", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
  if (fd < 0 || fstat(fd, &sb) < 0) return close_keep(fd, -1);
  if (!S_ISCHR(sb.st_mode) || sb.st_rdev != makedev(1, 3)) return errno = ENODEV, close_keep(fd, -1);
  return st->devnullfd = fd;
}

/* MASK <path>: after pivot_root. A file gets /dev/null bound over it, a directory an empty
 * read-only tmpfs; a missing path is already masked. */
int op_mask(struct init_state *st, char **args) {
  struct stat sb;
  int fd = open_in_root(st->rootfd, args[0], O_PATH, 0);
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0 || fstat(fd, &sb) < 0) return close_keep(fd, fail(st, "resolve", args[0]));
  int rc;
  if (S_ISDIR(sb.st_mode)) {
    unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    rc = mount_fds(st, -1, "tmpfs", fd, "tmpfs", ro, "size=0,mode=0555");
  } else {
    int null = devnull(st);
    if (null < 0) return close_keep(fd, fail(st, "verify", "/dev/null (must be char 1:3)"));
    rc = mount_fds(st, null, NULL, fd, NULL, MS_BIND, NULL);
  }
  if (rc < 0) return close_keep(fd, fail(st, "mount", args[0]));
  close(fd);
  return 0;
}

/* READONLY <path>: bind onto itself, then remount read-only; a missing path is fine. */
int op_readonly(struct init_state *st, char **args) {
  int fd = open_in_root(st->rootfd, args[0], O_PATH, 0);
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0) return fail(st, "resolve", args[0]);
  int rc = mount_fds(st, fd, NULL, fd, NULL, MS_BIND | MS_REC, NULL);
  close_keep(fd, 0);
  if (rc < 0) return fail(st, "mount", args[0]);
  fd = open_in_root(st->rootfd, args[0], O_PATH, 0);  /* now the new bind mount */
  if (fd < 0) return fail(st, "resolve", args[0]);
  if (remount_fd(st, fd, MS_RDONLY) < 0) return close_keep(fd, fail(st, "remount", args[0]));
  close(fd);
  return 0;
}

/* ROOT_READONLY: remount "/" (the rootfs bind mount, st->rootfd) read-only. */
int op_root_readonly(struct init_state *st, char **args) {
  (void)args;
  int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(st, "open", "/");
  if (remount_fd(st, fd, MS_RDONLY) < 0) return close_keep(fd, fail(st, "remount", "/"));
  close(fd);
  return 0;
}
