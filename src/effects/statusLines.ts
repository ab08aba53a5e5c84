import { Socket } from 'node:net';

/**
 * The init helper's status pipe, line by line (`HOOKS`, then `READY` or `ERR …`). Read on the
 * event loop: libuv treats a pipe fd given to `net.Socket` as a non-blocking stream, so no
 * threadpool thread parks on a pipe that may never be written. Lines that arrive before they are
 * asked for are kept.
 */
export interface StatusLines {
  /** The next line; null at end of file; rejects with ETIMEDOUT after `timeoutMs` (null: no deadline). */
  next(timeoutMs: number | null): Promise<string | null>;
  /** Stop reading and close the fd. */
  close(): void;
}

export function statusLines(fd: number): StatusLines {
  const sock = new Socket({ fd, readable: true, writable: false });
  const lines: string[] = [];
  let buf = '';
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    wake?.();
  });
  sock.on('end', () => {
    ended = true;
    if (buf.length > 0) lines.push(buf);
    buf = '';
    wake?.();
  });
  sock.on('error', (e) => {
    failure = e;
    wake?.();
  });
  return {
    async next(timeoutMs) {
      for (;;) {
        if (lines.length > 0) return lines.shift()!;
        if (failure) throw failure;
        if (ended) return null;
        await new Promise<void>((resolve, reject) => {
          const timer = timeoutMs === null ? undefined : setTimeout(() => {
            wake = null;
            reject(Object.assign(new Error('timed out waiting for the init helper'), { code: 'ETIMEDOUT' }));
          }, timeoutMs);
          wake = () => {
            clearTimeout(timer);
            wake = null;
            resolve();
          };
        });
      }
    },
    close() {
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
    },
  };
}

/** One line from `fd` (null at end of file), then the fd is closed; rejects with ETIMEDOUT. */
export async function readLine(fd: number, timeoutMs: number): Promise<string | null> {
  const lines = statusLines(fd);
  try {
    return await lines.next(timeoutMs);
  } finally {
    lines.close();
  }
}
