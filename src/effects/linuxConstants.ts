/**
 * Linux ABI numbers the planner writes into the init helper's plan. Values are copied from the
 * kernel UAPI and glibc headers of the build machine (x86_64; none of these differ by arch):
 *   /usr/include/linux/sched.h        CLONE_*
 *   /usr/include/linux/mount.h        MS_*
 *   /usr/include/linux/capability.h   CAP_*   (CAP_LAST_CAP = CAP_CHECKPOINT_RESTORE = 40)
 *   /usr/include/x86_64-linux-gnu/bits/resource.h   RLIMIT_*
 *   /usr/include/linux/stat.h         S_IF*
 * They are plain numbers because every value fits in 32 bits except capability masks, which
 * are built as bigint (bit 40 is beyond the 32-bit range of JS bitwise operators).
 */

export const CLONE_NEWTIME = 0x00000080;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

/** runtime-spec `linux.namespaces[].type` → clone flag. */
export const NAMESPACE_FLAGS = {
  pid: CLONE_NEWPID,
  network: CLONE_NEWNET,
  mount: CLONE_NEWNS,
  ipc: CLONE_NEWIPC,
  uts: CLONE_NEWUTS,
  user: CLONE_NEWUSER,
  cgroup: CLONE_NEWCGROUP,
  time: CLONE_NEWTIME,
} as const;

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOSYMFOLLOW = 256;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_POSIXACL = 1 << 16;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_I_VERSION = 1 << 23;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;

/** Capability numbers 0..40, in kernel order. */
export const CAPABILITIES = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
} as const;

export type CapabilityName = keyof typeof CAPABILITIES;
export const CAP_LAST_CAP = 40;

export const RLIMITS = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
} as const;

export type RlimitName = keyof typeof RLIMITS;
/** RLIM_INFINITY is (rlim_t)-1 on 64-bit: the plan carries it as this decimal string. */
export const RLIM_INFINITY = '18446744073709551615';

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
