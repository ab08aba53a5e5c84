import { constants as fsc, openSync, unlinkSync } from 'node:fs';
import { RuntimeError, errnoOf, wrapSyscall } from '../errors.js';
import type { Started } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { readOneByte, whenReadable } from './pipes.js';
import { trackedProcess } from './track.js';

/**
 * start: release the init blocked on the exec FIFO. The FIFO is opened O_RDWR|O_NONBLOCK: that
 * completes the init's blocking open for writing without ever blocking us, and a FIFO with our
 * own write end never reports a false end-of-file. The init's exit (pidfd readable) before the
 * byte arrives means it died before it could exec.
 */
export async function startContainer(d: EffectDeps, c: EffectInput): Promise<Started> {
  const id = c.id;
  const fifo = d.paths.execFifo(id);
  let fd: number;
  try {
    fd = openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new RuntimeError('ILLEGAL_STATE', `start ${id}: exec fifo ${fifo} is gone: container already started`);
    throw wrapSyscall(`start ${id}: open ${fifo}`, e);
  }
  const proc = trackedProcess(d, c);
  const abort = new AbortController();
  const exited = whenReadable(d.sys, proc.pidfd, abort.signal).then(() => false, () => false);
  const released = readOneByte(fd, abort.signal);
  const ok = await Promise.race([released, exited]);
  abort.abort();
  await Promise.allSettled([released, exited]);
  if (!ok) throw new RuntimeError('ILLEGAL_STATE', `start ${id}: container init exited before it was started`);
  try {
    unlinkSync(fifo);
  } catch {
    // the fifo is only a handshake; a leftover goes with the container directory
  }
  return { type: 'Started' };
}
