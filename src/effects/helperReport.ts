import type { EffectDeps } from './deps.js';
import { reap } from './reap.js';
import type { Spawned } from './syscalls.js';

/**
 * A "PID <n>" line: the helper forked (CLONE_PARENT, so we are the child's parent) and exits.
 * Take a pidfd on the child — safe from pid reuse, since only we can reap it — and reap the
 * helper. Returns null when `line` is not a PID line.
 */
export async function adoptForked(d: EffectDeps, helper: Spawned, line: string | null): Promise<Spawned | null> {
  const m = /^PID (\d+)$/.exec(line ?? '');
  if (!m) return null;
  const pid = Number(m[1]);
  const pidfd = d.sys.pidfdOpen(pid);
  await reap(d, { pidfd: helper.pidfd });
  d.sys.close(helper.pidfd);
  return { pid, pidfd };
}
