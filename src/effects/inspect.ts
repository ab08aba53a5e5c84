import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import type { EffectInput } from '../machines/container.machine.js';
import type { SettledStatus } from '../machines/events.js';
import { cgroupOf } from './cgroup.js';
import type { EffectDeps } from './deps.js';
import { readProcStat } from './procfs.js';

/**
 * What the kernel shows about one container, read without changing anything: the one source
 * of truth for reconciliation (probe.ts) and for `replay --verify` (verify.ts).
 */
export interface KernelView {
  /**
   * The recorded init: `alive` (the pid runs with the recorded start time), `zombie` (it exited
   * and nobody reaped it yet), `gone` (exited and reaped, or the pid now names another
   * process), `none` (the log records no init).
   */
  init: 'alive' | 'zombie' | 'gone' | 'none';
  /**
   * While alive: `helper` — still berth-init, blocked on the exec fifo (not started); `program`
   * — the container's own program (started).
   */
  stage: 'helper' | 'program' | null;
  /** The recorded cgroup, if any: does it exist, is it frozen. */
  cgroup: { path: string; exists: boolean; frozen: boolean | null } | null;
  execFifo: boolean;
  containerDir: boolean;
  /**
   * While alive: each namespace the spec asked berth to create, and whether the init is in a
   * namespace of its own (not the runtime's). The mount namespace is where the container's
   * mounts live: own means none of them is on the host's table.
   */
  namespaces: Array<{ type: string; own: boolean }>;
}

/** The name berth-init runs under: a sealed memfd copy of the helper (CVE-2019-5736). */
const HELPER_EXE = /^\/memfd:berth-init/;
const HELPER_COMM = 'berth-init';

/** /proc/<pid>/ns names of the runtime-spec namespace types. */
const NS_FILE: Record<string, string> = {
  pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time',
};

export function inspectContainer(d: EffectDeps, c: EffectInput): KernelView {
  const init = initState(c);
  const alive = init === 'alive';
  return {
    init,
    stage: alive ? stageOf(c.pid!) : null,
    cgroup: cgroupView(d, c),
    execFifo: existsSync(d.paths.execFifo(c.id)),
    containerDir: existsSync(d.paths.containerDir(c.id)),
    namespaces: alive ? namespacesOf(c) : [],
  };
}

export function initState(c: Pick<EffectInput, 'pid' | 'startTime'>): KernelView['init'] {
  if (c.pid === null || c.startTime === null) return 'none';
  const stat = readProcStat(c.pid);
  if (stat === null || stat.startTime !== c.startTime) return 'gone';
  return stat.state === 'Z' || stat.state === 'X' ? 'zombie' : 'alive';
}

/**
 * berth-init execs the container's program only once `start` opened the exec fifo, so the
 * executable tells a created container from a started one even when a crash left the fifo.
 */
function stageOf(pid: number): 'helper' | 'program' {
  try {
    return HELPER_EXE.test(readlinkSync(`/proc/${pid}/exe`)) ? 'helper' : 'program';
  } catch {
    // exe is unreadable without ptrace access; comm is always readable.
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === HELPER_COMM ? 'helper' : 'program';
    } catch {
      return 'program';
    }
  }
}

function cgroupView(d: EffectDeps, c: EffectInput): KernelView['cgroup'] {
  if (c.cgroup === null) return null;
  const cg = cgroupOf(d, c);
  const exists = cg.exists();
  let frozen: boolean | null = null;
  if (exists) {
    try {
      frozen = cg.freezerState() === 'frozen';
    } catch {
      frozen = null; // no freezer on this hierarchy
    }
  }
  return { path: c.cgroup, exists, frozen };
}

function namespacesOf(c: EffectInput): KernelView['namespaces'] {
  const wanted = (c.config?.linux?.namespaces ?? []).filter((n) => n.path === undefined || n.path === '');
  const out: KernelView['namespaces'] = [];
  for (const { type } of wanted) {
    const file = NS_FILE[type];
    if (file === undefined) continue;
    try {
      out.push({ type, own: readlinkSync(`/proc/${c.pid}/ns/${file}`) !== readlinkSync(`/proc/self/ns/${file}`) });
    } catch {
      // the kernel lacks this namespace type (time before 5.6): nothing to compare
    }
  }
  return out;
}

/**
 * The settled status the kernel shows for a container whose init the log recorded. An init
 * that is gone leaves a stopped container — or, after a delete that removed everything but
 * was not logged, a deleted one (`deleting` says that was under way).
 */
export function statusOf(view: KernelView, from: string): SettledStatus {
  if (view.init === 'alive') {
    if (view.cgroup?.frozen === true) return 'paused';
    return view.stage === 'helper' ? 'created' : 'running';
  }
  const debris = view.containerDir || view.cgroup?.exists === true;
  if ((from === 'deleting' || from === 'deleted') && !debris) return 'deleted';
  return 'stopped';
}
