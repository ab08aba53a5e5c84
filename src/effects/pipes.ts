import { Socket } from 'node:net';
import type { WatchFn } from './fdWatch.js';

/**
 * Reading pipes and FIFOs on the event loop. libuv treats a pipe fd given to `net.Socket` as a
 * stream (non-blocking), so no threadpool thread ever parks on a pipe that may never be written.
 */

/** Read from `fd` until the first newline or end of file; the socket (and fd) is closed after. */
export function readLine(fd: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const sock = new Socket({ fd, readable: true, writable: false });
    let buf = '';
    const done = (v: string | null, err?: Error) => {
      clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      if (err) reject(err);
      else resolve(v);
    };
    const timer = setTimeout(() => done(null, Object.assign(new Error('timed out waiting for the init helper'), { code: 'ETIMEDOUT' })), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    });
    sock.on('end', () => done(buf.length > 0 ? buf : null));
    sock.on('error', (e) => done(null, e));
  });
}

/** Resolve once `fd` is readable (a pidfd is readable once its process has exited). */
export function whenReadable(watch: WatchFn, fd: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const stop = watch(fd, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    const onAbort = () => {
      stop();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
