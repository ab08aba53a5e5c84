/*
 * copy_tree: TMPCOPYUP's copy of a directory's content, like runc's (fileutils.CopyDirectory):
 * directories, regular files, symlinks and device nodes, each with its mode and owner; no
 * times, no xattrs; hard links become separate files. Everything is reached by fd, never by
 * following a symlink.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"

#define MAX_DEPTH 128

static int keep_errno(int rc, int fd1, int fd2) {
  int err = errno;
  if (fd1 >= 0) close(fd1);
  if (fd2 >= 0) close(fd2);
  errno = err;
  return rc;
}

/* Owner, then mode (chown clears set-id bits). An owner the container's user namespace does not
 * map (EINVAL: the copy shows it as the overflow id) stays the copier's. */
static int set_owner_mode(int dir, const char *name, const struct stat *sb, int is_link) {
  if (fchownat(dir, name, sb->st_uid, sb->st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EINVAL) return -1;
  if (is_link) return 0;
  return fchmodat(dir, name, sb->st_mode & 07777, 0);
}

static int copy_file(int from, int to, const char *name) {
  int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return -1;
  int out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) return keep_errno(-1, in, -1);
  char buf[65536];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return keep_errno(-1, in, out);
    if (n == 0) break;
    if (write_all(out, buf, (size_t)n) < 0) return keep_errno(-1, in, out);
  }
  close(in);
  return close(out);
}

static int copy_entry(int from, int to, const char *name, int depth) {
  struct stat sb;
  if (fstatat(from, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) return -1;
  if (S_ISDIR(sb.st_mode)) {
    if (mkdirat(to, name, 0700) < 0) return -1;
    int sub_from = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub_from < 0) return -1;
    int sub_to = openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub_to < 0) return keep_errno(-1, sub_from, -1);
    int rc = copy_tree(sub_from, sub_to, depth + 1);
    keep_errno(0, sub_from, sub_to);
    if (rc < 0) return -1;
  } else if (S_ISREG(sb.st_mode)) {
    if (copy_file(from, to, name) < 0) return -1;
  } else if (S_ISLNK(sb.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(from, name, target, sizeof target - 1);
    if (n < 0) return -1;
    target[n] = '\0';
    if (symlinkat(target, to, name) < 0) return -1;
    return set_owner_mode(to, name, &sb, 1);
  } else if (mknodat(to, name, sb.st_mode, sb.st_rdev) < 0) {
    return -1;
  }
  return set_owner_mode(to, name, &sb, 0);
}

/* Copies the entries of directory `from` into directory `to` (both O_RDONLY dirfds, left open). */
int copy_tree(int from, int to, int depth) {
  if (depth > MAX_DEPTH) return errno = ELOOP, -1;
  int fd = dup(from);
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (d == NULL) return keep_errno(-1, fd, -1);
  rewinddir(d);
  int rc = 0;
  for (;;) {
    errno = 0;  /* readdir's end and its failure differ only in errno */
    struct dirent *e = readdir(d);
    if (e == NULL) {
      rc = errno != 0 ? -1 : 0;
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (copy_entry(from, to, e->d_name, depth) < 0) {
      rc = -1;
      break;
    }
  }
  int err = errno;
  closedir(d);
  errno = err;
  return rc;
}
