import { rmSync } from 'node:fs';
import type { ExitInfo, Observed, SettledStatus } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { constants as osc } from 'node:os';
import { loadBundle } from './bundle.js';
import { cgroupPathFor, mergeResources, removeEmptyDefaultParent } from './cgroup.js';
import { cgroupManager } from './cgroups/index.js';
import { shownResources } from './cgroups/readback.js';
import { initState, inspectContainer, statusOf, type KernelView } from './inspect.js';
import { exitedYet, reapIfOurs, reapOwnZombie } from './reap.js';
import { runsInitHelper } from './procfs.js';
import { knownProcess, openIfSame } from './track.js';
import { probeInterruptedCheckpoint } from './checkpoint.js';
import { undoInterruptedRestore } from './restore.js';

/**
 * Reconciliation: when a container is loaded from the log, ask the kernel what is true now
 * (inspect.ts, shared with `replay --verify`). The init is alive if a pidfd opened on its pid
 * shows the recorded start time and is not a zombie; a live init that is still berth-init has
 * not been started. Nothing is re-run: an interrupted create is undone (it was never
 * acknowledged), an interrupted update is reported as far as the cgroup shows it.
 */
export async function probeContainer(d: EffectDeps, c: EffectInput): Promise<Observed> {
  const from = c.restoredFrom ?? 'stopped';
  if (from === 'restoring') return undoInterruptedRestore(d, c);
  if (from === 'checkpointing') {
    // At the end of a dump criu kills the tree: a zombie init is dead all the same, whoever
    // reaps it (this process reaps its own, a child or one reparented to it as the subreaper).
    reapIfOurs(d, knownProcess(d, c), c);
    return probeInterruptedCheckpoint(d, c, initState(c) === 'alive');
  }
  if (from === 'creating' || c.pid === null) {
    await undoInterruptedCreate(d, c);
    return observed('deleted', 'create was interrupted before the init was ready');
  }
  const known = knownProcess(d, c);
  if (known?.child) {
    // Our own child: waitid says for sure whether it has exited, and with which status.
    const exit = exitedYet(d, known);
    if (exit) return observed('stopped', 'init exited', exit);
  } else if (!known) {
    // Our own child that exited while no runtime here watched it (closed, or killed by another
    // process): reaping it gives the exact status, and frees the pid.
    const own = reapOwnZombie(d, c);
    if (own) return observed('stopped', 'init exited while unobserved', own);
  }
  if (!known?.child && !(known ?? openIfSame(d, c))) {
    const status = statusOf(inspectContainer(d, c), from);
    if (status === 'deleted') return observed('deleted', 'delete was interrupted after it removed everything');
    return observed('stopped', `init ${c.pid} exited while unobserved`);
  }
  const view = inspectContainer(d, c);
  const status = view.init === 'alive' ? statusOf(view, from) : liveFallback(view, from);
  if (status === 'running' && view.execFifo) {
    // A start interrupted after the init was released: the fifo was the handshake, now spent.
    rmSync(d.paths.execFifo(c.id), { force: true });
  }
  if (from === 'updating' && c.update !== null && c.cgroup !== null) {
    const shown = shownResources(d.cgroups(), c.cgroup, c.update);
    return { ...observed(status, 'update was interrupted: the limits in force as the cgroup shows them'), resources: mergeResources(c.resources, shown) };
  }
  if (status === 'paused') {
    // Where resume returns: whether the init had been started, asked of the process itself.
    const started = from === 'running' || (from !== 'created' && runsInitHelper(c.pid!) === false);
    return { ...observed(status, 'init alive'), pausedFrom: started ? 'running' : 'created' };
  }
  return observed(status, 'init alive');
}

/** Our pidfd says alive but /proc no longer does (it exited this instant): trust the pidfd's view next time. */
function liveFallback(view: KernelView, from: string): SettledStatus {
  if (view.cgroup?.frozen === true) return 'paused';
  return from === 'created' || from === 'running' || from === 'paused' ? from : view.execFifo ? 'created' : 'running';
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

function observed(status: SettledStatus, reason: string, exit: ExitInfo | null = null): Observed {
  return { type: 'Observed', status, reason, exit };
}
