import { RuntimeError } from '../errors.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps, TrackedProcess } from './deps.js';
import { readProcStat } from './procfs.js';

/**
 * The pidfd of a container's init, opening one when this process has none yet (a CLI command
 * working on a container another process created). The pidfd is opened first and the start
 * time checked after, so the pidfd cannot refer to a process that reused the pid.
 */
export function trackedProcess(d: EffectDeps, c: Pick<EffectInput, 'id' | 'pid' | 'startTime'>): TrackedProcess {
  const known = knownProcess(d, c);
  if (known) return known;
  const found = openIfSame(d, c);
  if (!found) throw new RuntimeError('ILLEGAL_STATE', `container ${c.id}: init process ${c.pid ?? '?'} is not running`);
  return found;
}

/**
 * The init this process already tracks for the container, if it is this incarnation's: after
 * another process deleted the container and created it again, the entry left from the earlier
 * incarnation is dropped (its pidfd closed), never taken for the new init.
 */
export function knownProcess(d: EffectDeps, c: Pick<EffectInput, 'id' | 'pid' | 'startTime'>): TrackedProcess | undefined {
  const p = d.procs.get(c.id);
  if (p && (p.pid !== c.pid || p.startTime !== c.startTime)) {
    untrack(d, c.id);
    return undefined;
  }
  return p;
}

/** Open a pidfd for the container's init if that process still runs with the recorded start time. */
export function openIfSame(d: EffectDeps, c: Pick<EffectInput, 'id' | 'pid' | 'startTime'>): TrackedProcess | null {
  if (c.pid === null || c.startTime === null) return null;
  let pidfd: number;
  try {
    pidfd = d.sys.pidfdOpen(c.pid);
  } catch {
    return null;
  }
  const stat = readProcStat(c.pid);
  if (stat === null || stat.startTime !== c.startTime || stat.state === 'Z') {
    d.sys.close(pidfd);
    return null;
  }
  const proc = { pid: c.pid, pidfd, startTime: c.startTime, child: false };
  d.procs.set(c.id, proc);
  return proc;
}

/** Forget the init and close its pidfd. */
export function untrack(d: EffectDeps, id: string): void {
  const p = d.procs.get(id);
  if (!p) return;
  d.procs.delete(id);
  try {
    d.sys.close(p.pidfd);
  } catch {
    // already closed
  }
}
