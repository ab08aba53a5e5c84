import { Socket } from 'node:net';
import type { EffectDeps } from './deps.js';
import { reap } from './reap.js';
import type { Spawned } from './syscalls.js';

/**
 * The init helper's status pipe (native/init/plan.h): one line, READY or ERR, preceded by
 * "PID <n>" when the plan forks. Read on the event loop (libuv treats the pipe as a stream), so
 * no thread ever parks on it.
 */
export interface StatusLines {
  /** The next line, or null at end of file; rejects on timeout. */
  next(): Promise<string | null>;
  /** Stop reading and close the pipe (idempotent). */
  close(): void;
}

export function statusLines(fd: number, timeoutMs: number): StatusLines {
  const sock = new Socket({ fd, readable: true, writable: false });
  const lines: string[] = [];
  const waiters: { resolve: (l: string | null) => void; reject: (e: Error) => void }[] = [];
  let buf = '';
  let ended = false;
  let failure: Error | null = null;
  const flush = () => {
    while (waiters.length > 0 && (lines.length > 0 || ended || failure)) {
      const w = waiters.shift()!;
      if (lines.length > 0) w.resolve(lines.shift()!);
      else if (failure) w.reject(failure);
      else w.resolve(null);
    }
  };
  const close = () => {
    clearTimeout(timer);
    sock.removeAllListeners();
    sock.on('error', () => undefined);
    sock.destroy();
  };
  const timer = setTimeout(() => {
    failure = Object.assign(new Error('timed out waiting for the init helper'), { code: 'ETIMEDOUT' });
    close();
    flush();
  }, timeoutMs);
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    flush();
  });
  sock.on('end', () => {
    if (buf.length > 0) lines.push(buf);
    buf = '';
    ended = true;
    close();
    flush();
  });
  sock.on('error', (e) => {
    failure = e;
    close();
    flush();
  });
  return {
    next: () => new Promise((resolve, reject) => {
      waiters.push({ resolve, reject });
      flush();
    }),
    close,
  };
}

/**
 * A "PID <n>" line: the helper forked (CLONE_PARENT, so we are the child's parent) and exits.
 * Take a pidfd on the child — safe from pid reuse, since only we can reap it — and reap the
 * helper. Returns null when `line` is not a PID line.
 */
export async function adoptForked(d: EffectDeps, helper: Spawned, line: string | null): Promise<Spawned | null> {
  const m = /^PID (\d+)$/.exec(line ?? '');
  if (!m) return null;
  const pid = Number(m[1]);
  const pidfd = d.sys.pidfdOpen(pid);
  await reap(d, { pidfd: helper.pidfd });
  d.sys.close(helper.pidfd);
  return { pid, pidfd };
}
