import { RuntimeError, type ErrorInfo } from '../errors.js';
import type { OciConfig, OciResources } from './spec.js';

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

export type SettledStatus = 'created' | 'running' | 'paused' | 'stopped' | 'deleted';

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
  /** The container's cgroup path (relative to each hierarchy's root). */
  cgroup: string;
}
export interface CreateFailed { type: 'CreateFailed'; error: ErrorInfo }
export interface Started { type: 'Started' }
export interface StartFailed { type: 'StartFailed'; error: ErrorInfo }
export interface Signaled { type: 'Signaled'; signal: number; count: number }
export interface KillFailed { type: 'KillFailed'; error: ErrorInfo }
export interface Exited extends ExitInfo {
  type: 'Exited';
}
export interface Deleted { type: 'Deleted'; exit: ExitInfo | null }
export interface DeleteFailed { type: 'DeleteFailed'; error: ErrorInfo }
export interface Paused { type: 'Paused' }
export interface PauseFailed { type: 'PauseFailed'; error: ErrorInfo }
export interface Resumed { type: 'Resumed' }
export interface ResumeFailed { type: 'ResumeFailed'; error: ErrorInfo }
/** The limits in force after an update (the whole resources object, as applied). */
export interface Updated { type: 'Updated'; resources: OciResources }
export interface UpdateFailed { type: 'UpdateFailed'; error: ErrorInfo }
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
  | CreateRequested | StartRequested | KillRequested | DeleteRequested | PauseRequested | ResumeRequested
  | UpdateRequested;
export type Fact =
  | Created | CreateFailed | Started | StartFailed | Signaled | KillFailed | Exited | Deleted
  | DeleteFailed | Observed | Paused | PauseFailed | Resumed | ResumeFailed | Updated | UpdateFailed
  | OomKilled;
export type ContainerEvent = Intent | Fact;
export type ContainerEventType = ContainerEvent['type'];

/** Current payload schema of every event type; bump one when its payload shape changes. */
export const SCHEMAS: Record<ContainerEventType, number> = {
  CreateRequested: 1,
  StartRequested: 1,
  KillRequested: 1,
  DeleteRequested: 1,
  Created: 1,
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
