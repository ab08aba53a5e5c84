import { rmSync } from 'node:fs';
import { constants as osc } from 'node:os';
import type { Deleted, ExitInfo } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { collect, reap } from './reap.js';
import { openIfSame, untrack } from './track.js';

/**
 * delete: with force, SIGKILL the init and wait for it (a pid namespace dies with its init);
 * then remove the container's directory (exec fifo included) and forget its pidfd. Reaps the
 * init when we are its parent, so no zombie outlives the container.
 */
export async function deleteContainer(d: EffectDeps, c: EffectInput): Promise<Deleted> {
  const proc = d.procs.get(c.id) ?? openIfSame(d, c);
  let exit: ExitInfo | null = null;
  if (proc) {
    if (c.force) {
      try {
        d.sys.pidfdSendSignal(proc.pidfd, osc.signals.SIGKILL);
      } catch {
        // already exited
      }
      exit = await reap(d, proc);
    } else {
      exit = collect(d, proc);
    }
    untrack(d, c.id);
  }
  rmSync(d.paths.containerDir(c.id), { recursive: true, force: true });
  return { type: 'Deleted', exit: exit && (exit.code !== null || exit.signal !== null) ? exit : null };
}
