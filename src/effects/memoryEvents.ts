import { closeSync, existsSync, openSync, readFileSync, readSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupManager } from './cgroups/index.js';
import type { EffectDeps } from './deps.js';

/**
 * Memory notifications from a container's cgroup, without polling:
 *   v1  an eventfd registered through cgroup.event_control (cgroup-v1/memory.txt): with
 *       memory.oom_control for OOM events, with memory.pressure_level and a level for
 *       pressure; the eventfd becomes readable on every event
 *   v2  memory.events is a kernfs file that notifies inotify watchers when a counter changes
 *       (`oom_kill`, and `high`: the cgroup was throttled over memory.high)
 * Each returns a stop function; a cgroup without the files gives a no-op.
 */

/** Where to listen: the v1 memory cgroup dir, or the v2 memory.events file. */
function sources(d: EffectDeps, cg: CgroupManager, cgroup: string): { v1: string | null; v2: string | null } {
  const layout = d.cgroups();
  if (cg.version === 2) {
    const events = join(layout.unified ?? '', cgroup, 'memory.events');
    return { v1: null, v2: existsSync(events) ? events : null };
  }
  return { v1: layout.v1.memory ? join(layout.v1.memory, cgroup) : null, v2: null };
}

/** v1: an eventfd armed on `file` (with `args`) via cgroup.event_control; `onEvent` per event. */
function v1Notify(d: EffectDeps, dir: string, file: string, args: string, onEvent: () => void): () => void {
  let efd = -1;
  let target = -1;
  try {
    efd = d.sys.eventfd();
    target = openSync(join(dir, file), 'r');
    writeFileSync(join(dir, 'cgroup.event_control'), `${efd} ${target}${args ? ` ${args}` : ''}`);
  } catch (e) {
    for (const fd of [efd, target]) if (fd >= 0) closeSync(fd);
    // ENOENT: the cgroup is gone already (another process deleted the container): nothing to watch
    const gone = (e as NodeJS.ErrnoException).code === 'ENOENT';
    d.log[gone ? 'debug' : 'warn']({ dir, file, err: e }, 'no live memory notification for this container');
    return () => undefined;
  }
  let stop = (): void => undefined;
  let stopped = false;
  const arm = (): void => {
    stop = d.watch(efd, () => {
      try {
        readSync(efd, Buffer.alloc(8));
      } catch {
        // drained by a racing read; the event itself is what matters
      }
      onEvent();
      // onEvent may have stopped us (a subscriber unsubscribed): never re-arm a closed fd
      if (!stopped) arm();
    });
  };
  arm();
  return () => {
    if (stopped) return;
    stopped = true;
    stop();
    closeSync(efd);
    closeSync(target);
  };
}

function v2Notify(file: string, onEvent: () => void): () => void {
  const w = watch(file, onEvent);
  w.on('error', () => w.close());
  return () => w.close();
}

/** How many times (10 ms apart) an OOM notification re-reads the kill count. */
const OOM_RECHECKS = 50;

/**
 * OOM kills as they happen: `report` gets the kernel's kill count each time it grows. The
 * notification comes when the OOM condition starts, before the victim is killed and counted,
 * so the count is re-read for a moment until it grows.
 */
export function watchOom(d: EffectDeps, cg: CgroupManager, cgroup: string, report: (count: number) => void): () => void {
  let seen = cg.oomKills();
  let timer: NodeJS.Timeout | undefined;
  const onEvent = (): void => {
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
  const src = sources(d, cg, cgroup);
  const stop = src.v2 ? v2Notify(src.v2, onEvent) : src.v1 ? v1Notify(d, src.v1, 'memory.oom_control', '', onEvent) : () => undefined;
  return () => {
    clearTimeout(timer);
    stop();
  };
}

export type PressureLevel = 'low' | 'medium' | 'critical';

/**
 * Memory pressure: v1 reports the level it was registered for (and, by default, the levels
 * above it); v2 reports each time memory.events `high` grows (reclaim throttling over
 * memory.high), as `medium`.
 */
export function watchMemoryPressure(d: EffectDeps, cg: CgroupManager, cgroup: string, level: PressureLevel, report: (level: PressureLevel) => void): () => void {
  const src = sources(d, cg, cgroup);
  if (src.v1) return v1Notify(d, src.v1, 'memory.pressure_level', level, () => report(level));
  if (!src.v2) return () => undefined;
  const file = src.v2;
  const high = (): number => Number(/^high (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  let seen = high();
  return v2Notify(file, () => {
    const now = high();
    if (now > seen) report('medium');
    seen = now;
  });
}
