/**
 * The checkpoint/restore part of the log schema (docs/checkpoint.md), re-exported by events.ts:
 * criu's options as logged, the intents and facts, and their schema numbers.
 */
import type { ErrorInfo } from '../errors.js';
import type { OciConfig } from './spec.js';

/** How cgroups are handled by criu (runc's --manage-cgroups-mode). */
export type ManageCgroupsMode = 'soft' | 'full' | 'strict' | 'ignore';

/** criu options shared by checkpoint and restore (runc's flags of the same names). */
export interface CriuOptions {
  /** Directory of the criu images. */
  imagePath: string;
  /** Directory for criu's log (dump.log, restore.log) and work files; null: the image path. */
  workPath: string | null;
  tcpEstablished: boolean;
  extUnixSk: boolean;
  shellJob: boolean;
  fileLocks: boolean;
  manageCgroupsMode: ManageCgroupsMode;
  /** Namespaces created empty rather than restored (runc --empty-ns; criu supports `net`). */
  emptyNs: string[];
  lazyPages: boolean;
}

export interface CheckpointOptions extends CriuOptions {
  leaveRunning: boolean;
  /** Dump memory only and leave the container running (criu pre-dump). */
  preDump: boolean;
  /** Images of a previous (pre-)dump, relative to the image path as criu reads it. */
  parentPath: string | null;
  /** With lazyPages: `address:port` where criu serves the memory pages to the restore's lazy-pages daemon. */
  pageServer: string | null;
}

export type RestoreOptions = CriuOptions;

// ---- intents ----
export interface CheckpointRequested { type: 'CheckpointRequested'; options: CheckpointOptions }
/** Restore from criu images: a new container from a bundle (absent, deleted) or a checkpointed one in place. */
export interface RestoreRequested {
  type: 'RestoreRequested';
  /** The bundle; null: the checkpointed container's own. */
  bundle: string | null;
  pidFile: string | null;
  owner: string;
  options: RestoreOptions;
}

// ---- facts ----
/** criu dumped the container; without `leaveRunning` its processes are gone (killed by criu). */
export interface Checkpointed {
  type: 'Checkpointed';
  imagePath: string;
  /** `criu --version` of the binary that dumped. */
  criuVersion: string;
  options: CheckpointOptions;
  leaveRunning: boolean;
}
export interface CheckpointFailed { type: 'CheckpointFailed'; error: ErrorInfo }
/** criu restored the container; its init is a child of the restoring process. */
export interface Restored {
  type: 'Restored';
  pid: number;
  startTime: string;
  created: string;
  rootfs: string;
  config: OciConfig;
  cgroup: string;
  imagePath: string;
  criuVersion: string;
}
export interface RestoreFailed { type: 'RestoreFailed'; error: ErrorInfo }

/** Current payload schema of each checkpoint/restore event type. */
export const CHECKPOINT_SCHEMAS = {
  CheckpointRequested: 1,
  Checkpointed: 1,
  CheckpointFailed: 1,
  RestoreRequested: 1,
  Restored: 1,
  RestoreFailed: 1,
} as const;
