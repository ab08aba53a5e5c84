import { RuntimeError, type ErrorInfo } from '../errors.js';
import type { OciConfig, OciProcess, OciResources } from './spec.js';
import { CHECKPOINT_SCHEMAS, type CheckpointFailed, type Checkpointed, type CheckpointRequested, type RestoreFailed, type Restored, type RestoreRequested } from './checkpointEvents.js';
export type * from './checkpointEvents.js';

/**
 * The log schema. Every event a container's machine accepts is one of these; the log stores
 * them as `{ type, schema, data }` and replay feeds them back to the machine unchanged.
 *
 * Intents (…Requested) are commands the runtime appends, synced, before the effect runs.
 * Facts are what effects and probes report; the machine emits each fact it accepts and the
 * runtime appends it.
 */

/** Exit of a container's init: a code when it exited, a signal when it was killed; both null when unknown. */
export interface ExitInfo {
  code: number | null;
  signal: number | null;
}

export type SettledStatus = 'created' | 'running' | 'paused' | 'stopped' | 'deleted'
  | 'checkpointed';

// ---- intents ----
export interface CreateRequested {
  type: 'CreateRequested';
  bundle: string;
  pidFile: string | null;
  /** The uid of the process that asked (runc shows it as `owner`). */
  owner: string;
}
export interface StartRequested { type: 'StartRequested' }
export interface KillRequested { type: 'KillRequested'; signal: number; all: boolean }
export interface DeleteRequested { type: 'DeleteRequested'; force: boolean }
export interface PauseRequested { type: 'PauseRequested' }
export interface ResumeRequested { type: 'ResumeRequested' }
/** Resources to change (runc update): merged over the limits in force. */
export interface UpdateRequested { type: 'UpdateRequested'; resources: OciResources }
/** Run another process in the running container (runc exec). */
export interface ExecRequested {
  type: 'ExecRequested';
  /** Names the process in the container's stream (unique among its running execs). */
  execId: string;
  /** The process as asked (validated); capabilities, rlimits and oomScoreAdj it lacks are the container's. */
  process: OciProcess;
  pidFile: string | null;
}

// ---- facts ----
export interface Created {
  type: 'Created';
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, identifies the init across pid reuse. */
  startTime: string;
  /** ISO time the init became ready. */
  created: string;
  rootfs: string;
  config: OciConfig;
  /** The container's cgroup path (relative to each hierarchy's root); null when upcast from schema 1. */
  cgroup: string | null;
}
export interface CreateFailed { type: 'CreateFailed'; error: ErrorInfo }
/** `warnings`: poststart hooks that failed (the start still succeeded); absent when none did. */
export interface Started { type: 'Started'; warnings?: ErrorInfo[] }
export interface StartFailed { type: 'StartFailed'; error: ErrorInfo }
export interface Signaled { type: 'Signaled'; signal: number; count: number }
export interface KillFailed { type: 'KillFailed'; error: ErrorInfo }
export interface Exited extends ExitInfo {
  type: 'Exited';
}
/** `warnings`: poststop hooks that failed (the delete still succeeded); absent when none did. */
export interface Deleted { type: 'Deleted'; exit: ExitInfo | null; warnings?: ErrorInfo[] }
export interface DeleteFailed { type: 'DeleteFailed'; error: ErrorInfo }
export interface Paused { type: 'Paused' }
export interface PauseFailed { type: 'PauseFailed'; error: ErrorInfo }
export interface Resumed { type: 'Resumed' }
export interface ResumeFailed { type: 'ResumeFailed'; error: ErrorInfo }
/** The limits in force after an update (the whole resources object, as applied). */
export interface Updated { type: 'Updated'; resources: OciResources }
export interface UpdateFailed { type: 'UpdateFailed'; error: ErrorInfo }
/** The exec'd process runs: its host pid and start time (identity across pid reuse) and its argv. */
export interface ExecStarted { type: 'ExecStarted'; execId: string; pid: number; startTime: string; args: string[] }
export interface ExecFailed { type: 'ExecFailed'; execId: string; error: ErrorInfo }
/** An exec'd process ended: code or signal as waitid said, both null when not its parent. */
export interface ExecExited extends ExitInfo { type: 'ExecExited'; execId: string }
/** The kernel's OOM killer killed `count` processes of the container so far. */
export interface OomKilled { type: 'OomKilled'; count: number }
/** What a probe of the kernel found when a stream's last fact might be stale (reconciliation). */
export interface Observed {
  type: 'Observed';
  status: SettledStatus;
  reason: string;
  exit: ExitInfo | null;
  /** The limits in force, when an interrupted update was found (and completed). */
  resources?: OciResources;
  /** For a paused finding: whether the init had been started (where resume returns). */
  pausedFrom?: 'created' | 'running';
}

export type Intent =
  | CheckpointRequested | RestoreRequested
  | CreateRequested | StartRequested | KillRequested | DeleteRequested | PauseRequested | ResumeRequested
  | UpdateRequested | ExecRequested;
export type Fact =
  | Checkpointed | CheckpointFailed | Restored | RestoreFailed
  | Created | CreateFailed | Started | StartFailed | Signaled | KillFailed | Exited | Deleted
  | DeleteFailed | Observed | Paused | PauseFailed | Resumed | ResumeFailed | Updated | UpdateFailed
  | OomKilled | ExecStarted | ExecFailed | ExecExited;
export type ContainerEvent = Intent | Fact;
export type ContainerEventType = ContainerEvent['type'];

/** Current payload schema of every event type; bump one when its payload shape changes. */
export const SCHEMAS: Record<ContainerEventType, number> = {
  ...CHECKPOINT_SCHEMAS,
  CreateRequested: 1,
  StartRequested: 1,
  KillRequested: 1,
  DeleteRequested: 1,
  Created: 2,
  CreateFailed: 1,
  Started: 1,
  StartFailed: 1,
  Signaled: 1,
  KillFailed: 1,
  Exited: 1,
  Deleted: 1,
  DeleteFailed: 1,
  Observed: 1,
  PauseRequested: 1,
  Paused: 1,
  PauseFailed: 1,
  ResumeRequested: 1,
  Resumed: 1,
  ResumeFailed: 1,
  UpdateRequested: 1,
  Updated: 1,
  UpdateFailed: 1,
  OomKilled: 1,
  ExecRequested: 1,
  ExecStarted: 1,
  ExecFailed: 1,
  ExecExited: 1,
};

export function isContainerEventType(t: string): t is ContainerEventType {
  return Object.hasOwn(SCHEMAS, t);
}

/** Split a machine event into the log's `{ type, schema, data }`. */
export function toLogEvent(e: ContainerEvent): { type: string; schema: number; data: Record<string, unknown> } {
  const { type, ...data } = e;
  return { type, schema: SCHEMAS[type], data };
}

/** The inverse of toLogEvent; an unknown type is a corrupt log (STORE_CORRUPT), never silently dropped. */
export function fromLogEvent(e: { type: string; data: Record<string, unknown>; version?: number }): ContainerEvent {
  if (typeof e.type !== 'string' || !isContainerEventType(e.type)) {
    throw new RuntimeError('STORE_CORRUPT', `event ${e.version ?? '?'}: unknown event type ${JSON.stringify(e.type)}`, { field: `version ${e.version ?? '?'}` });
  }
  return { ...(typeof e.data === 'object' && e.data !== null ? e.data : {}), type: e.type } as ContainerEvent;
}
