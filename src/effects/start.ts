import { closeSync, constants as fsc, openSync, readSync, unlinkSync } from 'node:fs';
import { RuntimeError, errnoOf, wrapSyscall } from '../errors.js';
import type { Started } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { trackedProcess } from './track.js';

/**
 * start: release the init blocked on the exec FIFO. The FIFO is opened O_RDWR|O_NONBLOCK: that
 * completes the init's blocking open for writing without ever blocking us, and a FIFO with our
 * own write end never reports a false end-of-file. We wait until the FIFO is readable or the
 * init has exited, then decide by the byte alone: a short-lived process may exit in the same
 * loop turn its init wrote the byte, and that is still a successful start.
 */
export async function startContainer(d: EffectDeps, c: EffectInput): Promise<Started> {
  const id = c.id;
  const fifo = d.paths.execFifo(id);
  const proc = trackedProcess(d, c);
  let fd: number;
  try {
    fd = openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new RuntimeError('ILLEGAL_STATE', `start ${id}: exec fifo ${fifo} is gone: container already started`);
    throw wrapSyscall(`start ${id}: open ${fifo}`, e);
  }
  d.crash('start:fifo');
  try {
    await new Promise<void>((resolve) => {
      const stops = [fd, proc.pidfd].map((f) => d.watch(f, () => {
        for (const stop of stops) stop();
        resolve();
      }));
    });
    if (!readByte(fd)) throw new RuntimeError('ILLEGAL_STATE', `start ${id}: container init exited before it was started`);
  } finally {
    closeSync(fd);
  }
  d.crash('start:read');
  try {
    unlinkSync(fifo);
  } catch {
    // the fifo is only a handshake; a leftover goes with the container directory
  }
  return { type: 'Started' };
}

function readByte(fd: number): boolean {
  try {
    return readSync(fd, Buffer.alloc(1), 0, 1, null) === 1;
  } catch (e) {
    if (errnoOf(e) === 'EAGAIN') return false;
    throw e;
  }
}
