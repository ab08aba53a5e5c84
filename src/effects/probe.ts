import { rmSync } from 'node:fs';
import type { ExitInfo, Observed, SettledStatus } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { constants as osc } from 'node:os';
import { loadBundle } from './bundle.js';
import { cgroupOf, cgroupPathFor, mergeResources, removeEmptyDefaultParent } from './cgroup.js';
import { cgroupManager } from './cgroups/index.js';
import { exitedYet, reapOwnZombie } from './reap.js';
import { runsInitHelper } from './procfs.js';
import { knownProcess, openIfSame } from './track.js';

/**
 * Reconciliation: when a container is loaded from the log, ask the kernel what is true now.
 * The init is alive if a pidfd opened on its pid shows the recorded start time and is not a
 * zombie; a live init whose exec FIFO still exists has not been started. Nothing is re-run.
 */
export async function probeContainer(d: EffectDeps, c: EffectInput): Promise<Observed> {
  const from = c.restoredFrom ?? 'stopped';
  if (from === 'creating' || c.pid === null) {
    await undoInterruptedCreate(d, c);
    return observed('deleted', 'create was interrupted before the init was ready');
  }
  const known = knownProcess(d, c);
  if (known?.child) {
    // Our own child: waitid says for sure whether it has exited, and with which status.
    const exit = exitedYet(d, known);
    if (exit) return observed('stopped', 'init exited', exit);
    return observed(liveStatus(d, c, from), 'init alive');
  }
  const own = known ? null : reapOwnZombie(d, c);
  if (own) return observed('stopped', 'init exited while unobserved', own);
  const proc = known ?? openIfSame(d, c);
  if (!proc) return observed('stopped', `init ${c.pid} exited while unobserved`);
  return finishUpdate(d, c, observed(liveStatus(d, c, from), 'init alive'));
}

/**
 * An update interrupted after its intent (the runtime died while or after writing the limit
 * files, before logging the outcome) may have left some of them written: the log and the
 * cgroup would disagree. The writes are idempotent, so they are completed and the limits now
 * in force are part of the finding. One the kernel refuses leaves things as a failed update.
 */
function finishUpdate(d: EffectDeps, c: EffectInput, found: Observed): Observed {
  if (c.restoredFrom !== 'updating' || c.update === null || c.cgroup === null || found.status === 'stopped') return found;
  try {
    cgroupOf(d, c).apply(c.update);
  } catch (e) {
    d.log.warn({ id: c.id, err: e }, 'completing an interrupted update failed');
    return found;
  }
  return { ...found, reason: `${found.reason}; an interrupted update was completed`, resources: mergeResources(c.resources, c.update) };
}

/**
 * A create interrupted before `Created` was logged: the helper's pid is unknown, but the
 * helper was spawned into (v2) or joined (v1) the container's own cgroup, which create
 * refuses to share. So: kill whatever is in that cgroup, remove it, remove the directory.
 */
async function undoInterruptedCreate(d: EffectDeps, c: EffectInput): Promise<void> {
  const cgroup = cgroupPathFor(d, c.id, cgroupsPathOf(c.bundle));
  const cg = cgroupManager(d.cgroups(), cgroup, { sys: d.sys });
  if (cg.exists()) {
    await cg.signalAll(osc.signals.SIGKILL).catch(() => 0);
    await cg.destroy().catch((e: unknown) => d.log.warn({ id: c.id, cgroup, err: e }, 'cgroup of an interrupted create not removed'));
    removeEmptyDefaultParent(d, cgroup);
  }
  rmSync(d.paths.containerDir(c.id), { recursive: true, force: true });
}

/** The cgroupsPath the bundle asks for, if it can still be read (else the default applies). */
function cgroupsPathOf(bundle: string | null): string | undefined {
  try {
    return loadBundle(bundle ?? '').config.linux?.cgroupsPath;
  } catch {
    return undefined;
  }
}

/**
 * A live init is paused if its cgroup is frozen; otherwise created while it still runs
 * berth-init, else running. Whether it has started is asked of the process, not of the exec
 * FIFO: a start interrupted after the init read its way past the FIFO leaves the FIFO behind
 * (removed here) with the program running. A paused finding says where resume returns.
 */
function liveStatus(d: EffectDeps, c: EffectInput, from: string): Pick<Observed, 'status' | 'pausedFrom'> {
  const started = from === 'running' || (from !== 'created' && c.pid !== null && runsInitHelper(c.pid) === false);
  if (started) rmSync(d.paths.execFifo(c.id), { force: true });
  const at = started ? 'running' : 'created';
  if (c.cgroup !== null && cgroupOf(d, c).freezerState() === 'frozen') return { status: 'paused', pausedFrom: at };
  return { status: at };
}

function observed(found: SettledStatus | Pick<Observed, 'status' | 'pausedFrom'>, reason: string, exit: ExitInfo | null = null): Observed {
  const f = typeof found === 'string' ? { status: found } : found;
  return { type: 'Observed', ...f, reason, exit };
}
