import { writeSync } from 'node:fs';
import type { WatchFn } from './fdWatch.js';

/**
 * Waiting on fds on the event loop (the helper's status pipe is read in statusLines.ts and
 * helperReport.ts), so no threadpool thread ever parks on an fd that may never become ready.
 */

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

/** The one byte berth-init's WAIT reads. A helper that already failed cannot take it (EPIPE): its ERR line says why. */
export function goAhead(fd: number): void {
  try {
    writeSync(fd, 'g');
  } catch {
    // reported through the status line
  }
}
