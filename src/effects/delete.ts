import { rmSync } from 'node:fs';
import { constants as osc } from 'node:os';
import type { Deleted, ExitInfo } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { cgroupOf, removeEmptyDefaultParent } from './cgroup.js';
import { collect, reap } from './reap.js';
import { knownProcess, openIfSame, untrack } from './track.js';

/**
 * delete: with force, SIGKILL every process of the container (thawing it if paused, so they
 * can die) and wait for the init; then remove its cgroup and its directory (exec fifo
 * included) and forget its pidfd. Reaps the init when we are its parent, so no zombie
 * outlives the container.
 */
export async function deleteContainer(d: EffectDeps, c: EffectInput): Promise<Deleted> {
  const proc = knownProcess(d, c) ?? openIfSame(d, c);
  const cg = c.cgroup === null ? null : cgroupOf(d, c);
  let exit: ExitInfo | null = null;
  if (proc) {
    if (c.force) {
      try {
        d.sys.pidfdSendSignal(proc.pidfd, osc.signals.SIGKILL);
      } catch {
        // already exited
      }
      if (cg) {
        await cg.signalAll(osc.signals.SIGKILL).catch(() => 0);
      }
      exit = await reap(d, proc);
    } else {
      exit = collect(d, proc);
    }
    untrack(d, c.id);
  }
  if (cg) {
    await cg.destroy();
    removeEmptyDefaultParent(d, c.cgroup!);
  }
  rmSync(d.paths.containerDir(c.id), { recursive: true, force: true });
  return { type: 'Deleted', exit: exit && (exit.code !== null || exit.signal !== null) ? exit : null };
}
