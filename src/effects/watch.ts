import type { ContainerEvent } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { cgroupOf } from './cgroup.js';
import { collect } from './reap.js';
import { openIfSame } from './track.js';

/**
 * Watch a live container's init: its pidfd polled on the libuv loop (never a blocked thread).
 * On exit, reap it when it is our child and report `Exited`. The returned cleanup stops the
 * watch (the actor left the `alive` state, or the runtime is closing).
 */
export function watchExit(d: EffectDeps, c: EffectInput, sendBack: (e: ContainerEvent) => void): () => void {
  const proc = d.procs.get(c.id) ?? openIfSame(d, c);
  if (!proc) {
    // Gone between the probe and now: report it as an exit of unknown status.
    queueMicrotask(() => sendBack({ type: 'Exited', code: null, signal: null }));
    return () => undefined;
  }
  const stop = d.watch(proc.pidfd, () => {
    // The kernel's OOM count is read before the exit is reported, while the cgroup exists.
    const oom = c.cgroup === null ? 0 : cgroupOf(d, c).oomKills();
    if (oom > c.oomKills) sendBack({ type: 'OomKilled', count: oom });
    // The pidfd stays open (other watchers may poll it) until delete forgets the process.
    sendBack({ type: 'Exited', ...collect(d, proc) });
  });
  return stop;
}
