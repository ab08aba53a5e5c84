import { closeSync, constants as fsc, openSync, readSync, unlinkSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { RuntimeError, errnoOf, wrapSyscall } from '../errors.js';
import type { Started } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { ociState } from './hookPlan.js';
import { helperHookFailure, hookCwd, runHooksWarning } from './hooks.js';
import { whenReadable } from './pipes.js';
import { trackedProcess } from './track.js';

/**
 * start: release the init blocked on the exec FIFO and wait until the user process executes.
 * The FIFO is opened O_RDONLY|O_NONBLOCK: that completes the init's blocking open for writing
 * without ever blocking us (before a writer came, it reports neither data nor hang-up). The init
 * runs the startContainer hooks, writes "0" and execve()s; its write end is close-on-exec, so
 * end of file means the user process is running (or the init died): we decide by the bytes
 * alone, since a short-lived process may exit in the same loop turn. A failed startContainer
 * hook is written into the FIFO instead (`ERR HOOK …`) and the init exits: start fails, the
 * container is stopped. Then the poststart hooks run; a failure is a warning, kept in `Started`.
 */
export async function startContainer(d: EffectDeps, c: EffectInput): Promise<Started> {
  const id = c.id;
  const fifo = d.paths.execFifo(id);
  const proc = trackedProcess(d, c);
  let fd: number;
  try {
    fd = openSync(fifo, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new RuntimeError('ILLEGAL_STATE', `start ${id}: exec fifo ${fifo} is gone: container already started`);
    throw wrapSyscall(`start ${id}: open ${fifo}`, e);
  }
  let report: string;
  d.crash('start:fifo');
  try {
    report = await readFifo(d, fd, proc.pidfd);
  } finally {
    closeSync(fd);
  }
  d.crash('start:read');
  try {
    unlinkSync(fifo);
  } catch {
    // the fifo is only a handshake; a leftover goes with the container directory
  }
  if (report === '') throw new RuntimeError('ILLEGAL_STATE', `start ${id}: container init exited before it was started`);
  if (!report.startsWith('0')) {
    // The init exits after its report; kill it anyway and wait, so the exit is known (and the
    // container stopped) when the failure is.
    try {
      d.sys.pidfdSendSignal(proc.pidfd, osc.signals.SIGKILL);
    } catch {
      // already gone
    }
    await whenReadable(d.watch, proc.pidfd);
    throw startFailure(id, report);
  }
  const state = ociState(c, 'running', proc.pid);
  const warnings = await runHooksWarning('poststart', c.config, state, `start ${id}`, hookCwd(c.bundle), d.log);
  return warnings.length > 0 ? { type: 'Started', warnings } : { type: 'Started' };
}

/** What the init wrote into the FIFO, once its write end is closed or the init has exited. */
async function readFifo(d: EffectDeps, fd: number, pidfd: number): Promise<string> {
  let data = '';
  for (;;) {
    const exited = await new Promise<boolean>((resolve) => {
      const stops = [fd, pidfd].map((f) => d.watch(f, () => {
        for (const stop of stops) stop();
        resolve(f === pidfd);
      }));
    });
    const r = readAvailable(fd);
    data += r.text;
    if (r.eof || exited) return data;
  }
}

function readAvailable(fd: number): { text: string; eof: boolean } {
  const buf = Buffer.alloc(4096);
  let text = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if (errnoOf(e) === 'EAGAIN') return { text, eof: false };
      throw e;
    }
    if (n === 0) return { text, eof: true };
    text += buf.toString('utf8', 0, n);
  }
}

function startFailure(id: string, report: string): RuntimeError {
  const m = /^ERR HOOK (\d+) (.*)$/.exec(report.trim());
  if (m) return helperHookFailure(`start ${id}`, Number(m[1]), m[2] ?? '');
  return new RuntimeError('INTERNAL', `start ${id}: unexpected report from init helper: ${report.slice(0, 200)}`);
}
