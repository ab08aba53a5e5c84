/**
 * Signalling every process of a cgroup without cgroup.kill, as runc's signalAllProcesses: freeze
 * (so nothing forks away between listing and signalling), signal each pid, thaw. A cgroup that
 * was already frozen (a paused container) stays frozen, except after SIGKILL: frozen tasks only
 * die once thawed, which is what `kill`/`delete --force` of a paused container need.
 */
import { errnoOf } from '../../errors.js';
import type { CgroupManager } from './types.js';

export const SIGKILL = 9;

export async function freezeSignalThaw(m: CgroupManager, signal: number): Promise<number> {
  const wasFrozen = m.freezerState() === 'frozen';
  if (!wasFrozen) {
    try {
      await m.freeze();
    } catch {
      // Signal anyway: a cgroup that cannot be frozen (no freezer) still gets its signal, as in runc.
    }
  }
  let count = 0;
  try {
    for (const pid of m.pids()) {
      try {
        process.kill(pid, signal);
        count++;
      } catch (e) {
        if (errnoOf(e) !== 'ESRCH') throw e;
      }
    }
  } finally {
    if (!wasFrozen || signal === SIGKILL) await m.thaw().catch(() => undefined);
  }
  return count;
}
