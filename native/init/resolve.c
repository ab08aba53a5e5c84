/*
 * Paths inside the rootfs are resolved by file descriptor, never by string: openat2(2) with
 * RESOLVE_IN_ROOT treats the rootfs as "/" for every symlink and "..", so a symlink in the image
 * (evil -> /, evil -> ../../..) cannot send a mount outside it (CVE-2021-30465 class). Mounts
 * then target the resolved fd through the procfs magic link self/fd/<N> (runc's approach),
 * looked up relative to the verified host procfs handle, not through whatever is at /proc.
 * https://man7.org/linux/man-pages/man2/openat2.2.html
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"

int open_in_root(int rootfd, const char *path, int flags, uint64_t resolve) {
  if (rootfd < 0) {
    errno = EINVAL;  /* no ROOTFS operation yet */
    return -1;
  }
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve};
  int fd;
  do fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);  /* a concurrent rename raced the lookup: retry */
  return fd;
}

/* Creates `name` in the directory `parentfd` as a dir or an empty file; EEXIST is fine. O_EXCL
 * never follows a symlink, so a dangling link cannot make us create outside the root. */
static int create_at(int parentfd, const char *name, enum mk_kind kind) {
  if (kind == MK_DIR) return mkdirat(parentfd, name, 0755) < 0 && errno != EEXIST ? -1 : 0;
  int fd = openat(parentfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return errno == EEXIST ? 0 : -1;
  close(fd);
  return 0;
}

/* An O_PATH fd of `path` inside the root, creating missing directories component by component
 * (each created with mkdirat on its parent's fd, resolved the same way) and, if missing, the
 * last component as `kind`. Every prefix is re-resolved from the root, so ".." and symlinks
 * keep RESOLVE_IN_ROOT semantics. */
int mkpath_in_root(int rootfd, const char *path, enum mk_kind kind) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return errno = ENAMETOOLONG, -1;
  int cur = open_in_root(rootfd, "/", O_PATH, 0);
  size_t len = strlen(buf);
  for (size_t i = 0; cur >= 0 && i < len;) {
    while (buf[i] == '/') i++;
    if (i >= len) break;
    size_t j = i;
    while (j < len && buf[j] != '/') j++;
    char saved = buf[j];
    buf[j] = '\0';
    int last = j >= len || strspn(buf + j + 1, "/") == len - j - 1;
    int next = open_in_root(rootfd, buf, O_PATH, 0);
    enum mk_kind want = last ? kind : MK_DIR;
    if (next < 0 && errno == ENOENT && want != MK_NONE && create_at(cur, buf + i, want) == 0) {
      next = open_in_root(rootfd, buf, O_PATH, 0);
    }
    int err = errno;
    close(cur);
    errno = err;
    cur = next;
    buf[j] = saved;
    i = j;
  }
  return cur;
}

/* The parent directory of `path` inside the root (created if missing), and its last component
 * in `base`. */
int open_parent_in_root(int rootfd, const char *path, char *base, size_t basesz) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return errno = ENAMETOOLONG, -1;
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0) {
    errno = EINVAL;
    return -1;
  }
  if (snprintf(base, basesz, "%s", slash + 1) >= (int)basesz) return errno = ENAMETOOLONG, -1;
  slash[slash == dir ? 1 : 0] = '\0';
  return mkpath_in_root(rootfd, dir, MK_DIR);
}

/* mount(2) whose source (if srcfd >= 0) and target are fds: each is named by the magic link
 * self/fd/<N>, looked up from the host procfs handle as the working directory. Afterwards the
 * working directory is "/" again, never left inside procfs. */
int mount_fds(struct init_state *st, int srcfd, const char *src, int dstfd, const char *fstype,
              unsigned long flags, const char *data) {
  char s[32], d[32];
  snprintf(d, sizeof d, "self/fd/%d", dstfd);
  if (srcfd >= 0) snprintf(s, sizeof s, "self/fd/%d", srcfd), src = s;
  if (fchdir(st->procfd) < 0) return -1;
  int rc = mount(src, d, fstype, flags, data);
  int err = errno;
  if (chdir("/") < 0) return -1;
  errno = err;
  return rc;
}

/* Applies per-mount flags (ro, nosuid, ...) with MS_BIND|MS_REMOUNT. If the kernel refuses
 * (EPERM: flags locked by a user namespace), retries keeping the flags the mount already has,
 * as runc does. */
int remount_fd(struct init_state *st, int fd, unsigned long flags) {
  const unsigned long base = MS_BIND | MS_REMOUNT;
  if (mount_fds(st, -1, NULL, fd, NULL, base | flags, NULL) == 0) return 0;
  if (errno != EPERM) return -1;
  struct statvfs sv;
  if (fstatvfs(fd, &sv) < 0) return -1;
  unsigned long locked = sv.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
  return mount_fds(st, -1, NULL, fd, NULL, base | flags | locked, NULL);
}
