/**
 * The model the lifecycle fuzz holds the runtime to: per container id, what status the runtime
 * must report, what its init process is doing, and the limits its cgroup must have. Commands
 * (commands.ts) change it the way the runtime-spec, runc and berth's documented differences
 * say the real system changes; the checks (check.ts) compare it with the runtime, the log and
 * the kernel after every command.
 *
 * Adding an operation: add what it creates to ContainerModel, a command class (commands.ts or
 * criuCommands.ts), its entry in COMMANDS (registry.ts), and what the kernel must then show to
 * `mismatches` (check.ts).
 */
import type { ExitInfo } from '../../../src/machines/events.js';
import type { InitModel } from './program.js';

export type ModelStatus = 'absent' | 'created' | 'running' | 'paused' | 'stopped' | 'checkpointed';

/** The OCI status the runtime reports for a model status (a checkpointed container is stopped: its processes are gone). */
export function ociStatus(s: ModelStatus): string {
  return s === 'checkpointed' ? 'stopped' : s;
}

/** The limits as given (what the logged resources say). */
export interface Limits {
  /** memory.limit in bytes; -1 unlimited; undefined never set. */
  memory?: number;
  /** pids.limit; 0 or less is "max" (runc). */
  pids?: number;
  /** cpu.shares (2..262144); undefined never set. */
  shares?: number;
}

/** What the cgroup files must say for `Limits`. */
export interface KernelLimits {
  memory: number | 'unlimited';
  pids: number | 'max';
  shares: number;
}

export const KERNEL_DEFAULTS: KernelLimits = { memory: 'unlimited', pids: 'max', shares: 1024 };

export function kernelLimits(l: Limits): KernelLimits {
  return {
    memory: l.memory === undefined || l.memory === -1 ? 'unlimited' : l.memory,
    pids: l.pids === undefined || l.pids <= 0 ? 'max' : l.pids,
    shares: l.shares ?? KERNEL_DEFAULTS.shares,
  };
}

export interface ContainerModel {
  id: string;
  status: ModelStatus;
  /** Whether the id has a stream in the log (it was ever created, even if that failed). */
  logged: boolean;
  /** Where a paused container returns on resume. */
  pausedFrom: 'created' | 'running';
  init: InitModel | null;
  limits: Limits;
  /**
   * The exit the runtime must report once stopped: exact, or `unknown` allowed when the exit
   * may have been seen first by a process that was not the init's parent (a CLI command).
   */
  exit: ExitInfo | null;
  exitMayBeUnknown: boolean;
  /**
   * Which process created it, and so is the init's parent: the library (this process's runtime
   * must reap it) or a CLI command (once that exits, the init is reparented to this process as
   * its subreaper, which reaps it as containerd-shim or conmon would).
   */
  parent: 'lib' | 'cli';
  /** A delete was interrupted (CLI killed): the cgroup may already be gone while stopped. */
  halfDeleted: boolean;
  /**
   * The detached exec'd processes that run (`sleep <tag>`, tags unique in the container), and
   * those a fatal signal already reached while frozen (they die at resume).
   */
  execs: number[];
  doomed: number[];
  /** A stop signal reached them (`kill --all`), and no SIGCONT since. */
  execsStopped: boolean;
  /** The last tag given to an exec'd process. */
  execSeq: number;
  /** A CLI killed in the middle of `exec --detach` may have left one more exec'd process, not in the log. */
  strayExec: boolean;
  /** The images of the last checkpoint (what an in-place restore restores). */
  image: string | null;
}

export interface Model {
  containers: Map<string, ContainerModel>;
  /** Counters for the report. */
  stats: RunStats;
  /** The commands of this run as they ran, with the container each one resolved to. */
  transcript: string[];
}

export interface RunStats {
  commands: number;
  refused: number;
  cliCrashes: number;
  crashes: number;
  reopens: number;
  /** How many times each operation ran (refused, done or interrupted), by kind: `exec`, `checkpoint`… */
  ops: Record<string, number>;
}

export const IDS = ['fz-a', 'fz-b', 'fz-c'] as const;

/** An exec'd process is `sleep <tag>`, tags above the service's own `sleep 1000`. */
export const EXEC_TAG_BASE = 2000;

export function emptyContainer(id: string): ContainerModel {
  return {
    id, status: 'absent', logged: false, pausedFrom: 'running', init: null, limits: {},
    exit: null, exitMayBeUnknown: false, parent: 'lib', halfDeleted: false,
    execs: [], doomed: [], execsStopped: false, execSeq: 0, strayExec: false, image: null,
  };
}

export function newModel(): Model {
  return {
    containers: new Map(IDS.map((id) => [id, emptyContainer(id)])),
    stats: { commands: 0, refused: 0, cliCrashes: 0, crashes: 0, reopens: 0, ops: {} },
    transcript: [],
  };
}

export function container(m: Model, id: string): ContainerModel {
  const c = m.containers.get(id);
  if (!c) throw new Error(`model has no slot for ${id}`);
  return c;
}

/** The container exists (is listed, has a state). */
export function exists(c: ContainerModel): boolean {
  return c.status !== 'absent';
}

/** Its processes are gone: no exec'd process outlives the container's pid namespace. */
export function noExecs(c: ContainerModel): ContainerModel {
  return { ...c, execs: [], doomed: [], execsStopped: false, strayExec: false };
}
