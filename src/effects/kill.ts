import { constants as osc } from 'node:os';
import { RuntimeError, errnoOf, wrapSyscall } from '../errors.js';
import type { Signaled } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import { cgroupOf } from './cgroup.js';
import type { EffectDeps } from './deps.js';
import { trackedProcess } from './track.js';

/**
 * kill: signal the init through its pidfd (immune to pid reuse), or with `all` every process
 * in the container's cgroup. A frozen process cannot act on SIGKILL, so a paused container is
 * thawed after one (as runc does; signalAll does it itself); other signals stay pending until
 * resume.
 */
export async function signalContainer(d: EffectDeps, c: EffectInput): Promise<Signaled> {
  const id = c.id;
  const proc = trackedProcess(d, c);
  let count = 1;
  try {
    if (c.all) count = await cgroupOf(d, c).signalAll(c.signal);
    else d.sys.pidfdSendSignal(proc.pidfd, c.signal);
    d.crash('kill:signaled');
    if (!c.all && c.resume === 'paused' && c.signal === osc.signals.SIGKILL) await cgroupOf(d, c).thaw();
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') throw new RuntimeError('ILLEGAL_STATE', `kill ${id}: container not running`);
    throw wrapSyscall(`kill ${id}: signal ${c.signal}`, e, { step: 'pidfd_send_signal' });
  }
  return { type: 'Signaled', signal: c.signal, count };
}
