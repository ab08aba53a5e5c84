/**
 * What the kernel shows about a container, read straight from /proc and cgroupfs (never through
 * berth): its init process (alive with its state, name, pending and caught signals; a zombie;
 * or gone), its cgroup in every hierarchy (present, frozen, the limit files) and its files in
 * the root.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CgroupLayout } from '../../../src/effects/cgroupLayout.js';
import { defaultCgroupPath } from '../../../src/effects/cgroup.js';
import { rootPaths } from '../../../src/effects/paths.js';
import type { StoredEvent } from '../../../src/store/eventLog.js';
import { containerProcesses } from '../../helpers/leaks.js';
import { EXEC_TAG_BASE } from './model.js';

export type InitView =
  | { kind: 'alive'; state: string; name: string; pending: bigint; caught: bigint; pidNs: string }
  | { kind: 'zombie' }
  | { kind: 'gone' };

export interface CgroupView {
  /** Directories of the container's cgroup that exist, of all it would occupy. */
  present: string[];
  absent: string[];
  freezer: string | null;
  /** The tags of the exec'd `sleep <tag>` processes in it (see execCommand.ts), ascending. */
  execTags: number[];
  memory: string | null;
  pids: string | null;
  shares: string | null;
}

export interface ContainerView {
  /** The init of the current incarnation, from its Created event (null: never created). */
  created: { pid: number; startTime: string; cgroup: string } | null;
  init: InitView;
  cgroup: CgroupView;
  dir: boolean;
  fifo: boolean;
}

function statusField(text: string, key: string): string | undefined {
  return new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1];
}

export function observeInit(pid: number, startTime: string): InitView {
  let stat: string;
  let status: string;
  let pidNs: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
    pidNs = stat.includes(') Z ') ? '' : readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return { kind: 'gone' };
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[19] !== startTime) return { kind: 'gone' }; // the pid was reused
  if (rest[0] === 'Z') return { kind: 'zombie' };
  const hex = (k: string) => BigInt(`0x${statusField(status, k) ?? '0'}`);
  return {
    kind: 'alive',
    state: rest[0] ?? '?',
    name: statusField(status, 'Name') ?? '?',
    pending: hex('SigPnd') | hex('ShdPnd'),
    caught: hex('SigCgt'),
    pidNs,
  };
}

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

export function cgroupDirs(layout: CgroupLayout, cgroup: string): string[] {
  const mounts = [...new Set(Object.values(layout.v1))];
  return [...mounts, ...(layout.unified ? [layout.unified] : [])].map((m) => join(m, cgroup));
}

export function observeCgroup(layout: CgroupLayout, cgroup: string): CgroupView {
  const dirs = cgroupDirs(layout, cgroup);
  const at = (ctrl: string, file: string) => (layout.v1[ctrl] ? read(join(layout.v1[ctrl], cgroup, file)) : null);
  return {
    present: dirs.filter((d) => existsSync(d)),
    absent: dirs.filter((d) => !existsSync(d)),
    freezer: at('freezer', 'freezer.state'),
    execTags: execTags((at('pids', 'cgroup.procs') ?? '').split('\n').filter(Boolean).map(Number)),
    memory: at('memory', 'memory.limit_in_bytes'),
    pids: at('pids', 'pids.max'),
    shares: at('cpu', 'cpu.shares'),
  };
}

function execTags(pids: number[]): number[] {
  const tags: number[] = [];
  for (const pid of pids) {
    try {
      const m = /^sleep\0(\d+)\0$/.exec(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
      if (m && Number(m[1]) >= EXEC_TAG_BASE) tags.push(Number(m[1]));
    } catch {
      // gone meanwhile
    }
  }
  return tags.sort((a, b) => a - b);
}

/**
 * The init of the stream's last incarnation (events after its last CreateRequested): the one
 * its Created fact names, or its last restore's.
 */
export function lastCreated(events: readonly StoredEvent[]): ContainerView['created'] {
  const from = events.map((e) => e.type).lastIndexOf('CreateRequested');
  const created = from < 0 ? undefined : events.slice(from).findLast((e) => e.type === 'Created' || e.type === 'Restored');
  if (!created) return null;
  const d = created.data as { pid: number; startTime: string; cgroup: string };
  return { pid: d.pid, startTime: d.startTime, cgroup: d.cgroup };
}

export function observeContainer(layout: CgroupLayout, root: string, id: string, events: readonly StoredEvent[]): ContainerView {
  const created = lastCreated(events);
  const paths = rootPaths(root);
  return {
    created,
    init: created ? observeInit(created.pid, created.startTime) : { kind: 'gone' },
    cgroup: observeCgroup(layout, created?.cgroup ?? defaultCgroupPath(root, id)!),
    dir: existsSync(paths.containerDir(id)),
    fifo: existsSync(paths.execFifo(id)),
  };
}

/** Every cgroup directory under this root's default parent (`/berth/<root tag>/*`). */
export function rootCgroups(layout: CgroupLayout, root: string): string[] {
  const tag = dirname(defaultCgroupPath(root, 'x')!);
  const out: string[] = [];
  for (const dir of cgroupDirs(layout, tag)) {
    if (!existsSync(dir)) continue;
    for (const n of readdirSync(dir, { withFileTypes: true })) if (n.isDirectory()) out.push(join(dir, n.name));
  }
  return out.sort();
}

/** Container processes of ours (another pid namespace, or berth-init) outside the given namespaces. */
export function strayProcesses(before: Set<number>, liveNs: Set<string>): string[] {
  return containerProcesses(before).filter((line) => {
    const pid = Number(line.split(' ')[0]);
    try {
      return !liveNs.has(readlinkSync(`/proc/${pid}/ns/pid`));
    } catch {
      return false; // gone meanwhile
    }
  });
}
