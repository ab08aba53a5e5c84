// The new mount API (Linux 5.2 / 5.12) as raw syscalls, for idmapped mounts: open_tree(2)
// clones a tree into a detached mount held by an fd, mount_setattr(2) idmaps it. Declared here
// with berth_ names so the build depends on neither glibc 2.36 nor <linux/mount.h>.
#ifndef BERTH_SYS_MOUNT_H
#define BERTH_SYS_MOUNT_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define BERTH_OPEN_TREE_CLOEXEC 02000000  // O_CLOEXEC
#define BERTH_AT_EMPTY_PATH 0x1000

// struct mount_attr (MOUNT_ATTR_SIZE_VER0).
struct berth_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

static inline int sys_open_tree(int dfd, const char* path, unsigned int flags) {
  return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static inline int sys_mount_setattr(int dfd, const char* path, unsigned int flags,
                                    struct berth_mount_attr* attr) {
  return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr));
}

#endif
