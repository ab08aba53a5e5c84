/**
 * The Syscalls seam: one typed method per export of the native addon (native/addon/addon.cc).
 * `linux.ts` is the only implementation that touches the kernel and the only importer of the
 * addon; `fake.ts` records calls for unit tests. Effects receive a `Syscalls` explicitly.
 *
 * Every method throws, on failure, an Error shaped like Node's fs errors:
 * `{ code: 'EPERM', errno: 1, syscall: 'pidfd_send_signal', path?: string }`.
 * Every fd returned is O_CLOEXEC.
 */
export interface SpawnArgs {
  /** fd of an executable (a sealed memfd copy of berth-init); run with execveat(fd, "", AT_EMPTY_PATH). */
  exe: number;
  argv: string[];
  env: string[];
  /** CLONE_NEW* flags for clone3 (CLONE_PIDFD is always added by the addon). */
  flags: number;
  /** fds[i] becomes fd i in the child (CLOEXEC cleared), -1 leaves fd i closed; every other fd is closed on exec. */
  fds: number[];
  /** A cgroup directory fd for CLONE_INTO_CGROUP, or -1 for none. */
  cgroupFd: number;
  /**
   * Called with the child's pid while the child waits before execveat (a user namespace's maps
   * are written here). If it throws, the child is killed and reaped and the error propagates.
   */
  beforeExec?: (pid: number) => void;
}

/** struct mount_attr of mount_setattr(2). */
export interface MountAttr {
  attrSet: number;
  attrClr: number;
  propagation: number;
  /** A user namespace fd for MOUNT_ATTR_IDMAP, else -1. */
  usernsFd: number;
}

export interface Spawned {
  pid: number;
  pidfd: number;
}

/** What waitid(2) reported for an exited child; `null` from waitid means it has not exited yet. */
export interface WaitStatus {
  pid: number;
  /** Exit code when it exited normally, else null. */
  code: number | null;
  /** Signal number when killed by a signal, else null. */
  signal: number | null;
}

/** One message from a unix socket: its bytes and the fds it carried (SCM_RIGHTS, now ours, O_CLOEXEC). */
export interface FdMessage {
  data: Buffer;
  fds: number[];
}

export interface Syscalls {
  /** clone3(CLONE_PIDFD | flags, exit_signal SIGCHLD); the child resets signals, places fds, execveat(exe). */
  spawn(a: SpawnArgs): Spawned;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  /** waitid(P_PIDFD, pidfd, WEXITED | WNOHANG): null while the process runs; ECHILD if it is not our child. */
  waitid(pidfd: number): WaitStatus | null;
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to this process. */
  setChildSubreaper(on: boolean): void;
  /** Poll `fd` for readability on the libuv loop; `onReady` runs once. Returns a function that stops the watch. */
  watchFd(fd: number, onReady: () => void): () => void;
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  mkfifo(path: string, mode: number): void;
  /** memfd_create(name, MFD_CLOEXEC). */
  memfdCreate(name: string): number;
  /** A sealed (write/grow/shrink/seal) MFD_CLOEXEC memfd copy of the file at `path`. */
  sealedCopy(path: string): number;
  close(fd: number): void;
  /** eventfd2(0, EFD_CLOEXEC | EFD_NONBLOCK): a counter fd (cgroup v1 OOM notifications via cgroup.event_control). */
  eventfd(): number;
  /**
   * bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns`: 8-byte instructions,
   * from `deviceFilter()` in cgroups/devices.ts) → its fd. When the verifier refuses it the
   * message ends with the verifier log's last line and `verifierLog` holds the whole log.
   */
  bpfProgLoadDevice(insns: Buffer, license: string): number;
  /** bpf(BPF_PROG_ATTACH, attach_type BPF_CGROUP_DEVICE) of `progFd` to the cgroup directory `cgroupFd`; `flags` e.g. BPF_F_ALLOW_MULTI (2). */
  bpfProgAttach(progFd: number, cgroupFd: number, flags: number): void;
  /** bpf(BPF_PROG_DETACH, BPF_CGROUP_DEVICE) of `progFd` from `cgroupFd`; ENOENT when it is not attached there. */
  bpfProgDetach(progFd: number, cgroupFd: number): void;
  /** bpf(BPF_PROG_QUERY, BPF_CGROUP_DEVICE): ids of the device programs attached to that cgroup itself (not inherited ones). */
  bpfProgQueryDevice(cgroupFd: number): number[];
  /** bpf(BPF_PROG_GET_FD_BY_ID) → a program fd; ENOENT when the program no longer exists. */
  bpfProgGetFdById(id: number): number;
  /**
   * socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): two connected ends; each send is one
   * message, its fds delivered with it. berth-init's control socket (fd 6) is one end.
   */
  socketpair(): [number, number];
  /** socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) + connect(path): runc's `--console-socket` dial. ENOENT/ECONNREFUSED when nothing listens there. */
  connectUnix(path: string): number;
  /** sendmsg(fd, data, SCM_RIGHTS fds, MSG_NOSIGNAL): `data` is 1 to 4096 bytes (an empty message would read as end of stream); at most 16 fds, which stay open here. */
  sendFds(fd: number, data: Buffer | string, fds: number[]): void;
  /**
   * recvmsg(fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC): one message and its fds, which the caller now
   * owns. Never blocks: EAGAIN when nothing is queued. `{ data: <empty>, fds: [] }` is end of
   * stream. EMSGSIZE (fds closed) for a message over 4096 bytes or 16 fds.
   */
  recvFds(fd: number): FdMessage;
  /** ioctl(fd, TIOCSWINSZ): set a pty's window size (rows, cols, each 0..65535); its foreground group gets SIGWINCH. */
  setWindowSize(fd: number, rows: number, cols: number): void;
  /**
   * clone3(CLONE_NEWUSER | CLONE_PIDFD) of a process that does nothing but hold a new user
   * namespace (all signals blocked: only SIGKILL ends it). The caller writes its maps, opens
   * /proc/<pid>/ns/user, then kills and reaps it.
   */
  spawnUsernsHolder(): Spawned;
  /** open_tree(AT_FDCWD, path, flags | OPEN_TREE_CLOEXEC): with OPEN_TREE_CLONE, a detached copy of the mount at path. */
  openTree(path: string, flags: number): number;
  /** mount_setattr(fd, "", flags | AT_EMPTY_PATH, attr) (flags may hold AT_RECURSIVE). */
  mountSetattr(fd: number, flags: number, attr: MountAttr): void;
  /** ioctl(fd, NS_GET_NSTYPE): the CLONE_NEW* flag of the namespace `fd` refers to; ENOTTY when it is not a namespace. */
  nsGetType(fd: number): number;
  /** mount(2) in this process's mount namespace (fstype and data null for a bind or remount). */
  mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** umount2(2), e.g. with MNT_DETACH (2). */
  umount2(target: string, flags: number): void;
}
