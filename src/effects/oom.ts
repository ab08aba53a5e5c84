import { closeSync, existsSync, openSync, readSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupManager } from './cgroups/index.js';
import type { EffectDeps } from './deps.js';

/**
 * Live OOM notification for a container's cgroup, so an OOM kill inside a container whose init
 * survives is a fact as it happens (the exit watcher also reads the count when the init dies):
 *   v1  an eventfd registered with memory.oom_control through cgroup.event_control
 *       (cgroup-v1/memory.txt "OOM Control"); it becomes readable on every OOM event
 *   v2  memory.events is a kernfs file that notifies inotify watchers when it changes
 * `onOom` gets the kernel's OOM kill count after each event. The notification comes when the
 * OOM condition starts, before the victim is killed and counted, so the count is re-read for a
 * moment until it grows. Returns a stop function.
 */
/** How many times (10 ms apart) an OOM notification re-reads the kill count. */
const OOM_RECHECKS = 50;

export function watchOom(d: EffectDeps, cg: CgroupManager, cgroup: string, report: (count: number) => void): () => void {
  const layout = d.cgroups();
  let seen = cg.oomKills();
  let timer: NodeJS.Timeout | undefined;
  const onOom = (): void => {
    clearTimeout(timer);
    let tries = 0;
    const check = (): void => {
      const count = cg.oomKills();
      if (count > seen) {
        seen = count;
        report(count);
      } else if (++tries < OOM_RECHECKS) {
        timer = setTimeout(check, 10);
      }
    };
    check();
  };
  if (cg.version === 2) {
    const events = join(layout.unified ?? '', cgroup, 'memory.events');
    if (!existsSync(events)) return () => undefined;
    const w = watch(events, onOom);
    w.on('error', () => w.close());
    return () => {
      clearTimeout(timer);
      w.close();
    };
  }
  const memory = layout.v1.memory;
  if (!memory) return () => undefined;
  const dir = join(memory, cgroup);
  let efd = -1;
  let control = -1;
  try {
    efd = d.sys.eventfd();
    control = openSync(join(dir, 'memory.oom_control'), 'r');
    writeFileSync(join(dir, 'cgroup.event_control'), `${efd} ${control}`);
  } catch (e) {
    for (const fd of [efd, control]) if (fd >= 0) closeSync(fd);
    d.log.warn({ cgroup, err: e }, 'no live OOM notification for this container');
    return () => undefined;
  }
  let stop = (): void => undefined;
  const arm = () => {
    stop = d.watch(efd, () => {
      try {
        readSync(efd, Buffer.alloc(8));
      } catch {
        // drained by a racing read; the count below is what matters
      }
      onOom();
      arm();
    });
  };
  arm();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    stop();
    closeSync(efd);
    closeSync(control);
  };
}
