import type { SpawnArgs, Spawned, Syscalls, WaitStatus } from './syscalls.js';

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

  bpfProgGetFdById(id: number): number {
    this.record('bpfProgGetFdById', [id]);
    if (!this.bpfLoaded.has(id)) throw errnoError('ENOENT', 'bpf_prog_get_fd_by_id', 2);
    const fd = this.fd();
    this.bpfProgOfFd.set(fd, id);
    return fd;
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
