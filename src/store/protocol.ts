import { StringDecoder } from 'node:string_decoder';
import { ERROR_CODES, RuntimeError, type ErrorCode } from '../errors.js';

/**
 * The owner socket protocol (docs/log.md): newline-delimited JSON in both directions.
 *
 *   client → owner   {"id":7,"op":"append","args":["web",[…],{"expectedVersion":3}]}
 *   owner → client   {"id":7,"ok":true,"result":{…}}  |  {"id":7,"ok":false,"error":{"code":"CONFLICT","message":"…"}}
 *   owner → client   {"sub":9,"event":{…}}  |  {"sub":9,"done":true}  |  {"sub":9,"error":{…}}
 *
 * `args` are the EventLog method's positional arguments. A subscription is named by the id of
 * its `subscribe` request; `unsubscribe` takes that id. `hello` returns {protocol}.
 */

/** 2: prune, readSnapshots, writeSnapshots; events may carry `meta`. */
export const PROTOCOL_VERSION = 2;
/** A longer line is refused and the connection dropped: a peer cannot grow our memory unbounded. */
export const MAX_LINE_CHARS = 16 * 1024 * 1024;
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export const OPS = [
  'hello', 'append', 'read', 'readAll', 'version', 'streams', 'prune', 'readSnapshots', 'writeSnapshots', 'subscribe', 'unsubscribe',
] as const;
export type Op = (typeof OPS)[number];

export interface WireError {
  code: ErrorCode;
  message: string;
  field?: string;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof RuntimeError) {
    const w: WireError = { code: e.code, message: e.message };
    if (e.field !== undefined) w.field = e.field;
    return w;
  }
  return { code: 'INTERNAL', message: (e as Error | null)?.message ?? String(e) };
}

/** Re-creates the owner's error on this side, with the same code; an unknown code becomes INTERNAL. */
export function fromWireError(w: unknown): RuntimeError {
  const { code, message, field } = (w ?? {}) as { code?: unknown; message?: unknown; field?: unknown };
  const known = typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
  return new RuntimeError(
    known ? (code as ErrorCode) : 'INTERNAL',
    typeof message === 'string' ? message : 'event log owner sent a malformed error',
    typeof field === 'string' ? { field } : {},
  );
}

/** Splits a byte stream into lines; calls onOverflow (and stops) when a line exceeds MAX_LINE_CHARS. */
export function lineSplitter(onLine: (line: string) => void, onOverflow: () => void): (chunk: Buffer) => void {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  let dead = false;
  return (chunk) => {
    if (dead) return;
    buf += decoder.write(chunk);
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.length > 0) onLine(line);
    }
    if (buf.length > MAX_LINE_CHARS) {
      dead = true;
      onOverflow();
    }
  };
}

export function socketPathError(socketPath: string): RuntimeError | undefined {
  if (Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH_BYTES) return undefined;
  return new RuntimeError('INVALID_ARGUMENT', `socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`, { field: 'socketPath' });
}
