/**
 * The container programs the lifecycle fuzz runs, and a model of what their init process does
 * with each signal. Signals here are sent from the host, an ancestor pid namespace, to the
 * container's pid 1, so pid_namespaces(7) applies: SIGKILL and SIGSTOP are always delivered;
 * any other signal reaches pid 1 only if it has a handler for it, and is otherwise dropped at
 * send time (never left pending). SIGCONT continues a stopped process even when it is then
 * dropped. A signal for a frozen or stopped process waits (pending) until it runs again, and
 * pending signals are then taken lowest number first.
 *
 * Measured on this kernel (the reasons are in busybox ash): the service script catches INT,
 * USR1, USR2, TERM (its traps, and ash's own INT handler) and CHLD; the first one taken that
 * exits decides the exit code. berth-init, before start, has no handler at all.
 */
import type { ExitInfo } from '../../../src/machines/events.js';

export const SIGINT = 2;
export const SIGKILL = 9;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;

/**
 * `service`: runs until signalled, with a sleeping child (so `kill --all` has more than one
 * process to reach); `exits`: exits 7 as soon as it is started.
 */
export type Program = 'service' | 'exits';

export const PROGRAMS: Record<Program, string[]> = {
  service: ['sh', '-c', "trap 'exit 101' USR1; trap 'exit 102' USR2; trap 'exit 143' TERM; trap '' HUP; while :; do sleep 1000 & wait; done"],
  exits: ['sh', '-c', 'exit 7'],
};

/** What the service shell does with a signal it catches: exit with this code, or nothing (null). */
export const SHELL_CATCHES: ReadonlyMap<number, number | null> = new Map([
  [SIGINT, 130], [10, 101], [12, 102], [15, 143], [SIGCHLD, null],
]);

/** The signals the shell must have handlers for before the model holds (/proc SigCgt). */
export const SHELL_READY_MASK = [...SHELL_CATCHES.keys()].reduce((m, s) => m | (1n << BigInt(s - 1)), 0n);

export interface InitModel {
  /** `helper`: berth-init waiting on the exec fifo; `shell`: the program after start. */
  phase: 'helper' | 'shell';
  program: Program;
  /** Stopped by SIGSTOP (state T once it is not frozen); a SIGSTOP still pending does not count. */
  stopped: boolean;
  /** Signals waiting to be taken (caught ones, and SIGSTOP for a frozen or stopped process), ascending. */
  pending: number[];
  /**
   * Caught signals whose handler ran but whose trap has not (ash runs traps from its main loop):
   * a thawed process with SIGSTOP pending takes the lower-numbered caught signals first, then stops.
   */
  taken: number[];
  /** Set once the process has exited (the model knows exactly how). */
  exit: ExitInfo | null;
}

export function newInit(program: Program): InitModel {
  return { phase: 'helper', program, stopped: false, pending: [], taken: [], exit: null };
}

function catches(init: InitModel, sig: number): boolean {
  return init.phase === 'shell' && init.program === 'service' && SHELL_CATCHES.has(sig);
}

const add = (list: number[], sig: number) => (list.includes(sig) ? list : [...list, sig].sort((a, b) => a - b));

/**
 * The process runs (neither frozen nor stopped). A pending SIGSTOP is taken after the caught
 * signals below it (all of the shell's are), which only reach their handlers; otherwise the
 * shell runs its traps, lowest signal first, and the first that exits decides.
 */
function run(init: InitModel): InitModel {
  if (init.pending.includes(SIGSTOP)) {
    return { ...init, stopped: true, pending: [], taken: [...new Set([...init.taken, ...init.pending.filter((s) => s !== SIGSTOP)])].sort((a, b) => a - b) };
  }
  for (const sig of [...new Set([...init.taken, ...init.pending])].sort((a, b) => a - b)) {
    const code = SHELL_CATCHES.get(sig) ?? null;
    if (code !== null) return { ...init, pending: [], taken: [], exit: { code, signal: null } };
  }
  return { ...init, pending: [], taken: [] };
}

/** Send `sig` to the init; `frozen` when its cgroup is frozen (a paused container). */
export function signalInit(init: InitModel, sig: number, frozen: boolean): InitModel {
  if (init.exit) return init;
  if (sig === SIGKILL) return { ...init, stopped: false, pending: [], taken: [], exit: { code: null, signal: SIGKILL } };
  let next = init;
  if (sig === SIGSTOP) {
    // A running process stops at once; a frozen or already stopped one keeps it pending.
    return frozen || init.stopped ? { ...init, pending: add(init.pending, SIGSTOP) } : { ...init, stopped: true };
  }
  if (sig === SIGCONT) next = { ...next, stopped: false, pending: next.pending.filter((s) => s !== SIGSTOP) };
  if (catches(next, sig)) next = { ...next, pending: add(next.pending, sig) };
  return frozen || next.stopped ? next : run(next);
}

/** The cgroup is thawed (resume): a stopped process stays stopped, anything else runs. */
export function thawInit(init: InitModel): InitModel {
  // A process stopped before the freeze goes back to being stopped, its signals still pending.
  return init.exit || init.stopped ? init : run(init);
}

/** start: the helper execs the program; `exits` is done at once. */
export function startInit(init: InitModel): InitModel {
  if (init.program === 'exits') return { ...init, phase: 'shell', exit: { code: 7, signal: null } };
  return { ...init, phase: 'shell' };
}

/** Default actions (signal(7)) for a process that is not a pid namespace's init: these stop it, these do nothing. */
export const STOP_SIGNALS: ReadonlySet<number> = new Set([SIGSTOP, 20, 21, 22]);
const IGNORED: ReadonlySet<number> = new Set([SIGCHLD, SIGCONT, 23, 28]);

/**
 * Whether `sig` kills an exec'd `sleep` (no handlers: every default action applies). A fatal
 * signal kills a stopped process at once; a frozen one (v1 freezer) only once thawed.
 */
export function killsExec(sig: number): boolean {
  return !STOP_SIGNALS.has(sig) && !IGNORED.has(sig);
}
