/*
 * Operations on the new mount API: MOVE_MOUNT attaches a detached mount the runtime prepared
 * (an idmapped bind: open_tree + mount_setattr(MOUNT_ATTR_IDMAP) in the host's namespaces, as
 * runc does, since inside a user namespace the helper no longer controls the source's
 * superblock), MOUNT_SETATTR applies recursive attributes (rro, rnosuid, ...), TMPCOPYUP
 * mounts a tmpfs holding a copy of what it covers.
 * https://man7.org/linux/man-pages/man2/mount_setattr.2.html
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"
#include "plan.h"

#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define BERTH_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define BERTH_MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#define BERTH_AT_RECURSIVE 0x8000

struct berth_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int close_keep(int fd, int rc) {
  int err = errno;
  if (fd >= 0) close(fd);
  errno = err;
  return rc;
}

/* MOVE_MOUNT <fd> <dest> <flags>: fd (from FIRST_EXTRA_FD up, placed by the runtime) is a
 * detached mount; it is attached on dest (created like BIND's), then closed. Flags beyond
 * MS_BIND|MS_REC are applied with a remount, as BIND does. */
int op_move_mount(struct init_state *st, char **args) {
  uint64_t n = plan_u64(args[0]);
  unsigned long flags = (unsigned long)plan_u64(args[2]);
  unsigned long extra = flags & ~(MS_BIND | MS_REC | MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE);
  if (n < FIRST_EXTRA_FD || n > INT32_MAX) return errno = EBADF, fail(st, "fd", args[0]);
  int fd = (int)n;
  struct stat sb;
  if (fstat(fd, &sb) < 0) return fail(st, "fstat", args[1]);
  int dst = mkpath_in_root(st->rootfd, args[1], S_ISDIR(sb.st_mode) ? MK_DIR : MK_FILE);
  if (dst < 0) return fail(st, "resolve", args[1]);
  int rc = (int)syscall(SYS_move_mount, fd, "", dst, "", BERTH_MOVE_MOUNT_F_EMPTY_PATH | BERTH_MOVE_MOUNT_T_EMPTY_PATH);
  close_keep(dst, 0);
  if (rc < 0) return fail(st, "move_mount", args[1]);
  close(fd);
  if (extra == 0) return 0;
  dst = open_in_root(st->rootfd, args[1], O_PATH, 0);  /* the attached mount, not what it covers */
  if (dst < 0) return fail(st, "resolve", args[1]);
  if (remount_fd(st, dst, extra) < 0) return close_keep(dst, fail(st, "remount", args[1]));
  close(dst);
  return 0;
}

/* MOUNT_SETATTR <dest> <attr_set> <attr_clr>: mount_setattr(AT_RECURSIVE) on the mount at
 * dest and every mount below it. */
int op_mount_setattr(struct init_state *st, char **args) {
  struct berth_mount_attr attr = {.attr_set = plan_u64(args[1]), .attr_clr = plan_u64(args[2])};
  int fd = open_in_root(st->rootfd, args[0], O_PATH, 0);
  if (fd < 0) return fail(st, "resolve", args[0]);
  int rc = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | BERTH_AT_RECURSIVE, &attr, sizeof attr);
  if (rc < 0) return close_keep(fd, fail(st, "mount_setattr", args[0]));
  close(fd);
  return 0;
}

/* TMPCOPYUP <source> <dest> <fstype> <flags> <data>: MOUNT, but the directory is opened first
 * and its content copied into the new filesystem once it covers it (runc copies through a
 * temporary mount; an fd on the covered directory needs none). */
int op_tmpcopyup(struct init_state *st, char **args) {
  int path = mkpath_in_root(st->rootfd, args[1], MK_DIR);
  if (path < 0) return fail(st, "resolve", args[1]);
  int old = open_in_root(st->rootfd, args[1], O_RDONLY | O_DIRECTORY, 0);
  if (old < 0) return close_keep(path, fail(st, "open", args[1]));
  const char *data = strcmp(args[4], "-") == 0 ? NULL : args[4];
  int rc = mount_fds(st, -1, args[0], path, args[2], (unsigned long)plan_u64(args[3]), data);
  close_keep(path, 0);
  if (rc < 0) return close_keep(old, fail(st, "mount", args[1]));
  int dst = open_in_root(st->rootfd, args[1], O_RDONLY | O_DIRECTORY, 0);
  if (dst < 0) return close_keep(old, fail(st, "open", args[1]));
  rc = copy_tree(old, dst, 0);
  close_keep(old, 0);
  close_keep(dst, 0);
  return rc < 0 ? fail(st, "copy", args[1]) : 0;
}
