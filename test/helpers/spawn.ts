/**
 * Small helpers for tests that spawn through the addon: wait for a child's exit on the loop,
 * and collect what is left in a pipe.
 */
import { readSync } from 'node:fs';

import type { Syscalls, WaitStatus } from '../../src/effects/syscalls.js';

/** Resolves with waitid's report once the pidfd is readable (the process exited). */
export function exited(sys: Syscalls, pidfd: number): Promise<WaitStatus | null> {
  return new Promise((resolve) => {
    sys.watchFd(pidfd, () => resolve(sys.waitid(pidfd)));
  });
}

/** Everything left in a pipe whose write ends are all closed. */
export function drain(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) return Buffer.concat(chunks).toString('utf8');
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}
