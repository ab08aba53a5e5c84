import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { linuxSyscalls } from '../../src/effects/linux.js';

/**
 * Proof that a test left nothing behind: compare a snapshot taken before with the host after.
 * Processes: none in a pid namespace other than ours, none running berth-init. Mounts: the
 * same mount table. Fds: the same open fds in this process. Event loop: nothing new keeping it
 * alive (a timer, child or socket the library left would keep a test file from exiting). Root:
 * no container directory, no FIFO.
 */
export interface HostSnapshot {
  mounts: string[];
  fds: string[];
  pids: Set<number>;
  /** What keeps this process's event loop alive (timers, child processes, sockets): `process.getActiveResourcesInfo()`. */
  resources: string[];
}

const ourPidNs = readlinkSync('/proc/self/ns/pid');
const ourUserNs = readlinkSync('/proc/self/ns/user');

function mounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ').slice(3, 5).join(' ')).filter(Boolean).sort();
}

/** This process's open fds, as `n->target`. */
export function fds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return fd; // the fd readdir itself used
    }
  });
}

/**
 * Fds open now that were not before (by number and target). An fd open before and closed since
 * is not a leak: the test runner and the loader open and close their own meanwhile.
 */
export function newFds(before: string[]): string[] {
  return fds().filter((f) => !before.includes(f) && !/^\d+$/.test(f));
}

function pids(): Set<number> {
  return new Set(readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number));
}

export function snapshot(): HostSnapshot {
  return { mounts: mounts(), fds: fds(), pids: pids(), resources: process.getActiveResourcesInfo() };
}

/** The parent pid of `pid` (field 4 of /proc/<pid>/stat), or 0. */
function ppidOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** Whether `pid` descends from this process (containers the test made: as parent, or as subreaper). */
function ours(pid: number): boolean {
  for (let p = ppidOf(pid), hops = 0; p > 1 && hops < 64; p = ppidOf(p), hops++) if (p === process.pid) return true;
  return false;
}

/**
 * Processes that look like a container's (in another pid or user namespace, a berth-init, or a
 * managed container's log copier, berth-logs),
 * started since `before` and descending from this test process: other work on the host is not
 * ours. A user namespace holder (idmapped mounts) is a copy of this process in a new user
 * namespace: the user namespace check catches one left behind.
 */
export function containerProcesses(before: Set<number> = new Set()): string[] {
  const out: string[] = [];
  for (const pid of pids()) {
    if (before.has(pid) || !ours(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      // A managed container's log copier, by its comm: a zombie keeps that, not its cmdline or namespaces.
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).startsWith('berth-logs')) {
        out.push(`${pid} [${state}] berth-logs`);
        continue;
      }
      const ns = readlinkSync(`/proc/${pid}/ns/pid`);
      const userNs = readlinkSync(`/proc/${pid}/ns/user`);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
      if (ns !== ourPidNs || userNs !== ourUserNs || cmd.startsWith('berth-init')) out.push(`${pid} [${state}] ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

const sys = linuxSyscalls();

/**
 * Make this test process the subreaper of what it starts, as containerd-shim or conmon is for
 * runc: a container created by a `berth create` that has exited is reparented here instead of
 * to pid 1 (which, on these machines, never reaps).
 */
export function actAsShim(): void {
  sys.setChildSubreaper(true);
}

/** Reap exited container inits that were reparented to this process. */
export function reapOrphans(before: Set<number>): void {
  for (const line of containerProcesses(before)) {
    if (!/ \[Z\] /.test(line)) continue;
    const pid = Number(line.split(' ')[0]);
    try {
      const pidfd = sys.pidfdOpen(pid);
      try {
        sys.waitid(pidfd);
      } finally {
        sys.close(pidfd);
      }
    } catch {
      // not our child (or already reaped): left for its own parent
    }
  }
}

/** Wait briefly for exits to be reaped (a killed init's parent may reap it a moment later). */
async function settle<T>(read: () => T[], tries = 50): Promise<T[]> {
  let v = read();
  for (let i = 0; i < tries && v.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    v = read();
  }
  return v;
}

/** `openRuntime` is true while a runtime is open in this process: its log files and its sealed
 * berth-init copy are then expected (closing the runtime must release them: tested on close). */
export async function assertNoLeaks(before: HostSnapshot, root?: string, opts: { openRuntime?: boolean } = {}): Promise<void> {
  assert.deepEqual(await settle(() => {
    reapOrphans(before.pids);
    return containerProcesses(before.pids);
  }), [], 'container processes left behind');
  assert.deepEqual(mounts(), before.mounts, 'mount table changed');
  const runtimeFd = (f: string) => opts.openRuntime === true && /memfd:berth-init|\/log\//.test(f);
  const leakedFds = newFds(before.fds).filter((f) => !runtimeFd(f));
  assert.deepEqual(leakedFds, [], 'fds left open');
  // An open runtime holds its control socket and a pending read of it; anything else new is a
  // leak. A child that just exited holds its handles until the next turn of the loop: settle.
  const runtimeResource = (r: string) => opts.openRuntime === true && (r === 'PipeWrap' || r === 'FSReqPromise');
  assert.deepEqual(await settle(() => without(process.getActiveResourcesInfo(), before.resources).filter((r) => !runtimeResource(r))), [], 'event loop resources left active (timers, children, sockets)');
  if (root) {
    const dir = join(root, 'containers');
    const left = existsSync(dir) ? readdirSync(dir) : [];
    assert.deepEqual(left, [], `container state left in ${dir}`);
  }
}

/** `after` minus `before`, as multisets. */
function without(after: string[], before: string[]): string[] {
  const left = [...before];
  return after.filter((r) => {
    const i = left.indexOf(r);
    if (i === -1) return true;
    left.splice(i, 1);
    return false;
  });
}
