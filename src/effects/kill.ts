import { RuntimeError, errnoOf, wrapSyscall } from '../errors.js';
import type { Signaled } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { pidNamespaceOf, pidsInPidNamespace } from './procfs.js';
import { trackedProcess } from './track.js';

/**
 * kill: signal the init through its pidfd (immune to pid reuse). With `all`, every process of
 * the container's own pid namespace is signalled too (the cgroup-based `--all` comes with
 * per-container cgroups).
 */
export async function signalContainer(d: EffectDeps, c: EffectInput): Promise<Signaled> {
  const id = c.id;
  const proc = trackedProcess(d, c);
  try {
    d.sys.pidfdSendSignal(proc.pidfd, c.signal);
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') throw new RuntimeError('ILLEGAL_STATE', `kill ${id}: container not running`);
    throw wrapSyscall(`kill ${id}: signal ${c.signal}`, e, { step: 'pidfd_send_signal' });
  }
  let count = 1;
  if (c.all && ownsPidNamespace(c)) {
    const ns = pidNamespaceOf(proc.pid);
    for (const pid of ns ? pidsInPidNamespace(ns) : []) {
      if (pid === proc.pid) continue;
      try {
        process.kill(pid, c.signal);
        count++;
      } catch {
        // exited meanwhile
      }
    }
  }
  return { type: 'Signaled', signal: c.signal, count };
}

function ownsPidNamespace(c: EffectInput): boolean {
  return (c.config?.linux?.namespaces ?? []).some((n) => n.type === 'pid' && !n.path);
}
