import type { ContainerContext } from './machines/container.machine.js';
import type { Observed, SettledStatus } from './machines/events.js';
import { isSettled, type MachineState } from './machines/lifecycle.js';
import type { KernelView } from './effects/inspect.js';

/**
 * `replay --verify`: what the log says a container is, against what the kernel shows
 * (effects/inspect.ts, the same reading reconciliation uses). Pure: the runtime reads both
 * sides and decides what to append on --repair.
 */

export interface Difference {
  /** What was compared: `init`, `init.started`, `execFifo`, `cgroup`, `cgroup.frozen`, `namespace.<type>`, `containerDir`, `outcome`. */
  check: string;
  /** What the log's state implies. */
  expected: string;
  /** What the kernel shows. */
  observed: string;
}

export interface VerifyReport {
  id: string;
  /** The state replay of the log ends in, and the version it reflects. */
  state: MachineState;
  version: number;
  differences: Difference[];
  /** Another live process is carrying out an operation on it: nothing was compared. */
  busy: boolean;
  /** With repair: the Observed fact appended (null when none was needed, or none could say it). */
  repaired: Observed | null;
  /** With repair: what still differs afterwards (debris no fact can remove: `delete` does). */
  remaining: Difference[];
}

const initShown: Record<KernelView['init'], string> = {
  alive: 'alive',
  zombie: 'exited (not yet reaped)',
  gone: 'exited',
  none: 'none recorded',
};

/** Every way the kernel differs from what the log says of a settled container. */
export function compare(state: MachineState, ctx: ContainerContext, view: KernelView): Difference[] {
  const out: Difference[] = [];
  const add = (check: string, expected: string, observed: string) => out.push({ check, expected, observed });
  if (!isSettled(state)) {
    add('outcome', 'an outcome for the last intent', `none: the log ends in ${state}`);
    return out;
  }
  const alive = state === 'created' || state === 'running' || state === 'paused';
  if (alive) {
    if (view.init !== 'alive') add('init', `pid ${ctx.pid} alive (start time ${ctx.startTime})`, initShown[view.init]);
    else {
      if (state === 'created' && view.stage === 'program') add('init.started', 'no: berth-init waiting on the exec fifo', 'yes: running its program');
      if (state === 'running' && view.stage === 'helper') add('init.started', 'yes: running its program', 'no: berth-init waiting on the exec fifo');
      for (const n of view.namespaces) if (!n.own) add(`namespace.${n.type}`, 'its own', 'the runtime\'s');
    }
    if (state === 'created' && !view.execFifo) add('execFifo', 'present', 'absent');
    if (state === 'running' && view.execFifo) add('execFifo', 'absent', 'present');
    if (view.cgroup !== null) {
      if (!view.cgroup.exists) add('cgroup', `${view.cgroup.path} present`, 'absent');
      else if (view.cgroup.frozen !== null && view.cgroup.frozen !== (state === 'paused')) {
        add('cgroup.frozen', state === 'paused' ? 'frozen' : 'thawed', view.cgroup.frozen ? 'frozen' : 'thawed');
      }
    }
    if (!view.containerDir) add('containerDir', 'present', 'absent');
  } else if (state === 'stopped') {
    // A stopped container may keep its cgroup and directory until delete; only its init must be gone.
    if (view.init === 'alive') add('init', 'exited', 'alive');
  } else if (state === 'deleted' || state === 'checkpointed') {
    // A checkpointed container holds nothing on the host but its images.
    if (view.init === 'alive') add('init', 'exited', 'alive');
    if (view.cgroup?.exists) add('cgroup', `${view.cgroup.path} absent`, 'present');
    if (view.containerDir) add('containerDir', 'absent', 'present');
  }
  return out;
}

/** The fact `--repair` appends for a settled container whose kernel shows another status. */
export function repairFact(observed: SettledStatus, differences: Difference[]): Observed {
  return { type: 'Observed', status: observed, reason: `verify: ${differences.map((d) => d.check).join(', ')}`, exit: null };
}
