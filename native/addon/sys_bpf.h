// Raw wrappers for eventfd2(2) and bpf(2), in sys.h's style (kept in their own header so the
// BPF work does not collide with other edits of sys.h; fold into sys.h when convenient).
#ifndef BERTH_SYS_BPF_H
#define BERTH_SYS_BPF_H

#include <linux/bpf.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_eventfd2
#define SYS_eventfd2 290  // x86_64
#endif
#ifndef EFD_CLOEXEC
#define EFD_CLOEXEC 02000000
#endif
#ifndef EFD_NONBLOCK
#define EFD_NONBLOCK 04000
#endif
#ifndef SYS_bpf
#define SYS_bpf 321  // x86_64
#endif
#ifndef BPF_F_ALLOW_MULTI
#define BPF_F_ALLOW_MULTI (1U << 1)
#endif

static inline int sys_eventfd2(unsigned int initval, int flags) {
  return (int)syscall(SYS_eventfd2, initval, flags);
}

// Every fd bpf(2) returns (programs, BPF_PROG_GET_FD_BY_ID) is O_CLOEXEC already.
static inline int sys_bpf(int cmd, union bpf_attr* attr, unsigned int size) {
  return (int)syscall(SYS_bpf, cmd, attr, size);
}

#endif
