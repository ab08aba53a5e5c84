import type { ContainerEvent } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { cgroupOf } from './cgroup.js';
import { watchOom } from './memoryEvents.js';
import { collect } from './reap.js';
import { knownProcess, openIfSame } from './track.js';

/**
 * Watch a live container: its init's pidfd polled on the libuv loop (never a blocked thread),
 * and its cgroup's OOM notifications. An OOM kill is reported as the kernel's running count
 * (the machine takes only growing counts); on exit the count is read once more, while the
 * cgroup still exists, then the init is reaped when it is our child and `Exited` reported.
 * The returned cleanup stops both watches (the actor left `alive`, or the runtime closes).
 */
export function watchExit(d: EffectDeps, c: EffectInput, sendBack: (e: ContainerEvent) => void): () => void {
  const proc = knownProcess(d, c) ?? openIfSame(d, c);
  if (!proc) {
    // Gone between the probe and now: report it as an exit of unknown status.
    queueMicrotask(() => sendBack({ type: 'Exited', code: null, signal: null }));
    return () => undefined;
  }
  const cg = c.cgroup === null ? null : cgroupOf(d, c);
  const oom = (count: number) => {
    if (count > 0) sendBack({ type: 'OomKilled', count });
  };
  const stopOom = cg ? watchOom(d, cg, c.cgroup!, oom) : () => undefined;
  const stopExit = d.watch(proc.pidfd, () => {
    stopOom();
    if (cg) oom(cg.oomKills());
    // The pidfd stays open (other watchers may poll it) until delete forgets the process.
    sendBack({ type: 'Exited', ...collect(d, proc) });
  });
  return () => {
    stopExit();
    stopOom();
  };
}
