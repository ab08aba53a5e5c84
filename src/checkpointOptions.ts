import { isAbsolute } from 'node:path';
import { RuntimeError } from './errors.js';
import type { CheckpointOptions, ManageCgroupsMode, RestoreOptions } from './machines/events.js';
import { MANAGE_CGROUPS_MODES, emptyNsArgs } from './effects/criuArgs.js';
import type { StdioSpec } from './effects/stdio.js';

/** criu options of `c.checkpoint()` and `rt.restore()`, as runc's flags of the same names. */
export interface CriuFlags {
  /** Directory of the criu images (required). */
  imagePath: string;
  /** Directory for criu's log and work files (default: the image path). */
  workPath?: string;
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  /** soft (default), full, strict or ignore. */
  manageCgroupsMode?: ManageCgroupsMode;
  /** Namespaces to create empty instead of restoring them (criu: only `network`). */
  emptyNs?: string[];
  lazyPages?: boolean;
}

export interface CheckpointOpts extends CriuFlags {
  /** Keep the container running after the dump (default: criu stops it). */
  leaveRunning?: boolean;
  /** Dump memory only, leaving the container running (criu pre-dump). */
  preDump?: boolean;
  /** Images of a previous pre-dump, relative to the image path (criu --prev-images-dir). */
  parentPath?: string;
  /**
   * With lazyPages: `address:port` where criu serves the memory pages until the restore's
   * lazy-pages daemon has fetched them all; the checkpoint returns then.
   */
  pageServer?: string;
}

export interface RestoreOpts extends CriuFlags {
  /** The bundle (absolute); default: the checkpointed container's own. */
  bundle?: string;
  pidFile?: string;
  /** The restored container's stdio, as for create (default `inherit`). */
  stdio?: StdioSpec;
}

function invalid(what: string, field: string, reason: string): never {
  throw new RuntimeError('INVALID_ARGUMENT', `${what}: ${reason}`, { field });
}

function criuOptions(what: string, o: CriuFlags): RestoreOptions {
  if (typeof o?.imagePath !== 'string' || !isAbsolute(o.imagePath)) invalid(what, 'imagePath', `image path must be an absolute path, got ${JSON.stringify(o?.imagePath)}`);
  if (o.workPath !== undefined && (typeof o.workPath !== 'string' || !isAbsolute(o.workPath))) invalid(what, 'workPath', `work path must be an absolute path, got ${JSON.stringify(o.workPath)}`);
  const mode = o.manageCgroupsMode ?? 'soft';
  if (!MANAGE_CGROUPS_MODES.includes(mode)) invalid(what, 'manageCgroupsMode', `manage-cgroups-mode ${String(mode)}: use soft, full, strict or ignore`);
  const emptyNs = o.emptyNs ?? [];
  try {
    emptyNsArgs(emptyNs);
  } catch (e) {
    invalid(what, 'emptyNs', (e as Error).message);
  }
  for (const k of ['tcpEstablished', 'extUnixSk', 'shellJob', 'fileLocks', 'lazyPages'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') invalid(what, k, `${k} must be a boolean`);
  }
  return {
    imagePath: o.imagePath, workPath: o.workPath ?? null, tcpEstablished: o.tcpEstablished ?? false,
    extUnixSk: o.extUnixSk ?? false, shellJob: o.shellJob ?? false, fileLocks: o.fileLocks ?? false,
    manageCgroupsMode: mode, emptyNs: [...emptyNs], lazyPages: o.lazyPages ?? false,
  };
}

export function checkpointOptions(id: string, o: CheckpointOpts): CheckpointOptions {
  const what = `checkpoint ${id}`;
  const base = criuOptions(what, o);
  if (o.parentPath !== undefined && (typeof o.parentPath !== 'string' || o.parentPath === '')) invalid(what, 'parentPath', 'parent path must be a non-empty string');
  if (o.preDump && o.lazyPages) invalid(what, 'lazyPages', '--lazy-pages and --pre-dump cannot be combined');
  if (o.pageServer !== undefined && !/^[^:\s]+:\d{1,5}$/.test(String(o.pageServer))) invalid(what, 'pageServer', `page server ${JSON.stringify(o.pageServer)}: use address:port`);
  if (o.lazyPages && o.pageServer === undefined) invalid(what, 'pageServer', '--lazy-pages needs --page-server address:port, where the restore fetches the pages from');
  if (!o.lazyPages && o.pageServer !== undefined) invalid(what, 'pageServer', '--page-server is supported only with --lazy-pages');
  return {
    ...base, leaveRunning: o.leaveRunning ?? false, preDump: o.preDump ?? false, parentPath: o.parentPath ?? null,
    pageServer: o.pageServer ?? null,
  };
}

export function restoreOptions(id: string, o: RestoreOpts): RestoreOptions {
  const what = `restore ${id}`;
  if (o?.bundle !== undefined && (typeof o.bundle !== 'string' || !isAbsolute(o.bundle))) invalid(what, 'bundle', `bundle must be an absolute path, got ${JSON.stringify(o.bundle)}`);
  return criuOptions(what, o);
}
