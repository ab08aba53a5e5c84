import { existsSync, rmSync } from 'node:fs';
import type { ExitInfo, Observed, SettledStatus } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { constants as osc } from 'node:os';
import { loadBundle } from './bundle.js';
import { cgroupOf, cgroupPathFor, removeEmptyDefaultParent } from './cgroup.js';
import { cgroupManager } from './cgroups/index.js';
import { exitedYet, reapOwnZombie } from './reap.js';
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
  return observed(liveStatus(d, c, from), 'init alive');
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

/** A live init is paused if its cgroup is frozen, created while its exec FIFO exists, else running. */
function liveStatus(d: EffectDeps, c: EffectInput, from: string): SettledStatus {
  if (c.cgroup !== null && cgroupOf(d, c).freezerState() === 'frozen') return 'paused';
  if (from === 'created' || from === 'running') return from;
  return existsSync(d.paths.execFifo(c.id)) ? 'created' : 'running';
}

function observed(status: SettledStatus, reason: string, exit: ExitInfo | null = null): Observed {
  return { type: 'Observed', status, reason, exit };
}
