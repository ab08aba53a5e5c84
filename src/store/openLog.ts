import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRuntimeError, RuntimeError, wrapSyscall } from '../errors.js';
import type { EventLog } from './eventLog.js';
import { openLevelEventLog, type LevelEventLogOptions } from './levelEventLog.js';
import { serveEventLog } from './logServer.js';
import { connectEventLog } from './remoteEventLog.js';

export interface OpenEventLogOptions extends LevelEventLogOptions {
  /** Serve the log on `<root>/log.sock` while we own it: true for a long-lived library process, false for a one-shot CLI command. */
  serve: boolean;
  /** How long to wait for a locked log with no owner answering (default 5000 ms). */
  lockTimeoutMs?: number;
}

export interface OpenedEventLog {
  log: EventLog;
  /** `owner`: this process holds `<root>/log`; `remote`: another process does and serves it to us. */
  mode: 'owner' | 'remote';
}

export const DEFAULT_LOCK_TIMEOUT_MS = 5000;

export function logPaths(root: string): { dir: string; socket: string } {
  return { dir: join(root, 'log'), socket: join(root, 'log.sock') };
}

/** Equal jitter over a cap growing from 5 to 50 ms: waiters spread out instead of retrying in step. */
function backoff(attempt: number): number {
  const cap = Math.min(50, 5 * 2 ** attempt);
  return Math.max(5, cap / 2 + Math.random() * (cap / 2));
}

/** The owner's log, whose close() also stops serving and removes the socket. */
function owned(local: EventLog, server: { close(): Promise<void> } | undefined): EventLog {
  let closing: Promise<void> | undefined;
  return {
    append: (stream, events, opts) => local.append(stream, events, opts),
    read: (stream, opts) => local.read(stream, opts),
    readAll: (opts) => local.readAll(opts),
    version: (stream) => local.version(stream),
    streams: () => local.streams(),
    prune: (stream, opts) => local.prune(stream, opts),
    readSnapshots: () => local.readSnapshots(),
    writeSnapshots: (snapshots) => local.writeSnapshots(snapshots),
    events$: (stream) => local.events$(stream),
    close() {
      // Stop serving first: remote clients get their answers, then the database closes.
      closing ??= (async () => {
        try {
          await server?.close();
        } finally {
          await local.close();
        }
      })();
      return closing;
    },
  };
}

async function serveOrClose(local: EventLog, socket: string): Promise<{ close(): Promise<void> }> {
  try {
    return await serveEventLog(local, socket);
  } catch (e) {
    await local.close();
    throw e;
  }
}

/**
 * Opens the event log of a runtime root (docs/log.md, "Processes and the lock").
 *
 * Open `<root>/log`; if another process holds it, use that process through `<root>/log.sock`;
 * if nobody answers there (a one-shot command holds it), retry with jittered backoff until
 * `lockTimeoutMs`, then fail with STORE_LOCKED.
 */
export async function openEventLog(root: string, opts: OpenEventLogOptions): Promise<OpenedEventLog> {
  const { dir, socket } = logPaths(root);
  const timeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  try {
    // 0700: the socket is reachable by the owner's user only, even before it is chmod 0600.
    await mkdir(root, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw wrapSyscall(`create runtime root ${root}`, e);
  }
  let lockedBy: unknown;
  for (let attempt = 0; ; attempt++) {
    let local: EventLog | undefined;
    try {
      local = await openLevelEventLog(dir, opts);
    } catch (e) {
      if (!isRuntimeError(e, 'STORE_LOCKED')) throw e;
      lockedBy = e;
    }
    if (local !== undefined) return { log: owned(local, opts.serve ? await serveOrClose(local, socket) : undefined), mode: 'owner' };
    try {
      return { log: await connectEventLog(socket), mode: 'remote' };
    } catch (e) {
      if (isRuntimeError(e, 'INVALID_ARGUMENT')) throw e; // a socket path too long: waiting won't help
      // Nobody serves: the holder is a one-shot command (or is just starting or stopping).
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new RuntimeError('STORE_LOCKED', `event log in ${root} is locked by another process that does not serve ${socket} (waited ${timeoutMs} ms)`, {
        cause: lockedBy,
      });
    }
    await sleep(Math.min(backoff(attempt), left));
  }
}
