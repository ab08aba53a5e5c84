import type { FdMessage, MountAttr, SpawnArgs, Spawned, Syscalls, WaitStatus } from './syscalls.js';

type Method = keyof Syscalls;

/** An Error shaped like the addon's: `{ code: 'EPERM', errno, syscall }`. */
export function errnoError(code: string, syscall: string, errno = 1): Error {
  return Object.assign(new Error(`${syscall}: ${code}`), { code, errno, syscall });
}

/**
 * A recording fake of the Syscalls seam (youki's TestHelperSyscall): every call is logged with
 * its arguments, failures are scripted per method (`failNext`), processes are simulated
 * (`exit(pid, status)` makes a pidfd readable and waitid report it).
 */
export class FakeSyscalls implements Syscalls {
  readonly calls: { method: Method; args: unknown[] }[] = [];
  private readonly failures = new Map<Method, { code: string; times: number }>();
  private nextFd = 100;
  private nextPid = 4000;
  private readonly procs = new Map<number, { pid: number; status: WaitStatus | null; reaped: boolean; child: boolean }>();
  private readonly watchers = new Map<number, Set<() => void>>();
  readonly openFds = new Set<number>();

  failNext(method: Method, code: string, times = 1): this {
    this.failures.set(method, { code, times });
    return this;
  }

  callsOf(method: Method): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  /** Simulate the exit of a process we spawned or opened. */
  exit(pid: number, status: { code?: number; signal?: number }): void {
    for (const [fd, p] of this.procs) {
      if (p.pid !== pid || p.status) continue;
      p.status = { pid, code: status.code ?? null, signal: status.signal ?? null };
      const ws = this.watchers.get(fd);
      this.watchers.delete(fd);
      for (const w of ws ?? []) queueMicrotask(w);
    }
  }

  private record(method: Method, args: unknown[]): void {
    this.calls.push({ method, args });
    const f = this.failures.get(method);
    if (f) {
      if (--f.times <= 0) this.failures.delete(method);
      throw errnoError(f.code, method);
    }
  }

  private fd(): number {
    const fd = this.nextFd++;
    this.openFds.add(fd);
    return fd;
  }

  spawn(a: SpawnArgs): Spawned {
    this.record('spawn', [a]);
    const pid = this.nextPid++;
    a.beforeExec?.(pid); // a throw here is the killed and reaped child: nothing of it remains
    const pidfd = this.fd();
    this.procs.set(pidfd, { pid, status: null, reaped: false, child: true });
    return { pid, pidfd };
  }

  pidfdOpen(pid: number): number {
    this.record('pidfdOpen', [pid]);
    const pidfd = this.fd();
    this.procs.set(pidfd, { pid, status: null, reaped: false, child: false });
    return pidfd;
  }

  pidfdSendSignal(pidfd: number, signal: number): void {
    this.record('pidfdSendSignal', [pidfd, signal]);
    const p = this.procs.get(pidfd);
    if (!p) throw errnoError('EBADF', 'pidfd_send_signal', 9);
    if (p.status) throw errnoError('ESRCH', 'pidfd_send_signal', 3);
    if (signal === 9) this.exit(p.pid, { signal: 9 });
  }

  waitid(pidfd: number): WaitStatus | null {
    this.record('waitid', [pidfd]);
    const p = this.procs.get(pidfd);
    if (!p) throw errnoError('EBADF', 'waitid', 9);
    if (!p.child || p.reaped) throw errnoError('ECHILD', 'waitid', 10);
    if (!p.status) return null;
    p.reaped = true;
    return p.status;
  }

  setChildSubreaper(on: boolean): void {
    this.record('setChildSubreaper', [on]);
  }

  watchFd(fd: number, onReady: () => void): () => void {
    this.record('watchFd', [fd]);
    if (this.procs.get(fd)?.status) {
      let live = true;
      queueMicrotask(() => live && onReady());
      return () => { live = false; };
    }
    const set = this.watchers.get(fd) ?? new Set();
    set.add(onReady);
    this.watchers.set(fd, set);
    return () => { set.delete(onReady); };
  }

  pipe(): [number, number] {
    this.record('pipe', []);
    return [this.fd(), this.fd()];
  }

  mkfifo(path: string, mode: number): void {
    this.record('mkfifo', [path, mode]);
  }

  memfdCreate(name: string): number {
    this.record('memfdCreate', [name]);
    return this.fd();
  }

  sealedCopy(path: string): number {
    this.record('sealedCopy', [path]);
    return this.fd();
  }

  close(fd: number): void {
    this.record('close', [fd]);
    if (!this.openFds.delete(fd)) throw errnoError('EBADF', 'close', 9);
  }

  eventfd(): number {
    this.record('eventfd', []);
    return this.fd();
  }

  /**
   * The BPF device programs: one simulated cgroup (any cgroupFd), `bpfAttached` its program ids in
   * attach order; each loaded program gets an id (from 1) and `bpfLoaded` keeps its instructions.
   */
  readonly bpfAttached: number[] = [];
  readonly bpfLoaded = new Map<number, Buffer>();
  private readonly bpfProgOfFd = new Map<number, number>();
  private nextProgId = 1;

  bpfProgLoadDevice(insns: Buffer, license: string): number {
    this.record('bpfProgLoadDevice', [insns, license]);
    const id = this.nextProgId++;
    this.bpfLoaded.set(id, Buffer.from(insns));
    const fd = this.fd();
    this.bpfProgOfFd.set(fd, id);
    return fd;
  }

  bpfProgAttach(progFd: number, cgroupFd: number, flags: number): void {
    this.record('bpfProgAttach', [progFd, cgroupFd, flags]);
    const id = this.bpfProgOfFd.get(progFd);
    if (id === undefined) throw errnoError('EBADF', 'bpf_prog_attach', 9);
    if (this.bpfAttached.includes(id)) throw errnoError('EINVAL', 'bpf_prog_attach', 22); // the kernel refuses the same program twice
    this.bpfAttached.push(id);
  }

  bpfProgDetach(progFd: number, cgroupFd: number): void {
    this.record('bpfProgDetach', [progFd, cgroupFd]);
    const i = this.bpfAttached.indexOf(this.bpfProgOfFd.get(progFd) ?? -1);
    if (i < 0) throw errnoError('ENOENT', 'bpf_prog_detach', 2);
    this.bpfAttached.splice(i, 1);
  }

  bpfProgQueryDevice(cgroupFd: number): number[] {
    this.record('bpfProgQueryDevice', [cgroupFd]);
    return [...this.bpfAttached];
  }

  /** Namespace type (CLONE_NEW* flag) of fds the test declares; any other fd is not a namespace. */
  readonly nsTypes = new Map<number, number>();

  nsGetType(fd: number): number {
    this.record('nsGetType', [fd]);
    const t = this.nsTypes.get(fd);
    if (t === undefined) throw errnoError('ENOTTY', 'ioctl NS_GET_NSTYPE', 25);
    return t;
  }

  bpfProgGetFdById(id: number): number {
    this.record('bpfProgGetFdById', [id]);
    if (!this.bpfLoaded.has(id)) throw errnoError('ENOENT', 'bpf_prog_get_fd_by_id', 2);
    const fd = this.fd();
    this.bpfProgOfFd.set(fd, id);
    return fd;
  }

  /**
   * Unix sockets: each end's peer and the messages queued for it. A sent fd arrives as a new fd
   * (the kernel duplicates it); an end whose peer is closed reads end of stream once drained.
   * `listenUnix(path)` makes a path `connectUnix` can reach and returns the accepting end.
   */
  private readonly peers = new Map<number, number>();
  private readonly queued = new Map<number, { data: Buffer; fds: number }[]>();
  private readonly listeners = new Map<string, (fd: number) => void>();

  private pair(): [number, number] {
    const [a, b] = [this.fd(), this.fd()];
    this.peers.set(a, b).set(b, a);
    this.queued.set(a, []).set(b, []);
    return [a, b];
  }

  /** A listening path: each connection's far end is passed to `onAccept` (the test's side). */
  listenUnix(path: string, onAccept: (fd: number) => void = () => undefined): void {
    this.listeners.set(path, onAccept);
  }

  socketpair(): [number, number] {
    this.record('socketpair', []);
    return this.pair();
  }

  connectUnix(path: string): number {
    this.record('connectUnix', [path]);
    const accept = this.listeners.get(path);
    if (!accept) throw Object.assign(errnoError('ENOENT', 'connect', 2), { path });
    const [ours, theirs] = this.pair();
    accept(theirs);
    return ours;
  }

  sendFds(fd: number, data: Buffer | string, fds: number[]): void {
    this.record('sendFds', [fd, data, fds]);
    const peer = this.peers.get(fd);
    if (peer === undefined) throw errnoError('ENOTSOCK', 'sendmsg', 88);
    if (!this.openFds.has(peer)) throw errnoError('EPIPE', 'sendmsg', 32);
    for (const f of fds) if (!this.openFds.has(f)) throw errnoError('EBADF', 'sendmsg', 9);
    this.queued.get(peer)!.push({ data: Buffer.from(data), fds: fds.length });
  }

  /** The other end of a socket made by socketpair or connectUnix. */
  peerOf(fd: number): number | undefined {
    return this.peers.get(fd);
  }

  /** Queue a message for `fd` as if its peer had sent `count` fds with it (berth-init's side). */
  deliver(fd: number, name: string, count = 1): void {
    this.queued.get(fd)?.push({ data: Buffer.from(name), fds: count });
  }

  recvFds(fd: number): FdMessage {
    this.record('recvFds', [fd]);
    const q = this.queued.get(fd);
    if (q === undefined) throw errnoError('ENOTSOCK', 'recvmsg', 88);
    const m = q.shift();
    if (m) return { data: m.data, fds: Array.from({ length: m.fds }, () => this.fd()) };
    if (this.openFds.has(this.peers.get(fd)!)) throw errnoError('EAGAIN', 'recvmsg', 11);
    return { data: Buffer.alloc(0), fds: [] };
  }

  setWindowSize(fd: number, rows: number, cols: number): void {
    this.record('setWindowSize', [fd, rows, cols]);
    if (!this.openFds.has(fd)) throw errnoError('EBADF', 'ioctl TIOCSWINSZ', 9);
  }

  spawnUsernsHolder(): Spawned {
    this.record('spawnUsernsHolder', []);
    const pid = this.nextPid++;
    const pidfd = this.fd();
    this.procs.set(pidfd, { pid, status: null, reaped: false, child: true });
    return { pid, pidfd };
  }

  openTree(path: string, flags: number): number {
    this.record('openTree', [path, flags]);
    return this.fd();
  }

  mountSetattr(fd: number, flags: number, attr: MountAttr): void {
    this.record('mountSetattr', [fd, flags, attr]);
    if (!this.openFds.has(fd)) throw errnoError('EBADF', 'mount_setattr', 9);
  }

  /** Mount points made through mount() and not yet unmounted. */
  readonly mounts = new Set<string>();

  mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void {
    this.record('mount', [source, target, fstype, flags, data]);
    this.mounts.add(target);
  }

  umount2(target: string, flags: number): void {
    this.record('umount2', [target, flags]);
    if (!this.mounts.delete(target)) throw errnoError('EINVAL', 'umount2', 22);
  }
}
