import type { ExitInfo } from '../machines/events.js';
import type { EffectDeps } from './deps.js';
import { whenReadable } from './pipes.js';
import { readProcStat } from './procfs.js';

/** A process known by its pidfd; `exit` caches what waitid said once it exited. */
export interface Reapable {
  pidfd: number;
  exit?: ExitInfo;
}

const UNKNOWN: ExitInfo = { code: null, signal: null };

/** Wait for the process to exit (its pidfd becomes readable), then collect its status. */
export async function reap(d: EffectDeps, p: Reapable): Promise<ExitInfo> {
  if (p.exit) return p.exit;
  await whenReadable(d.watch, p.pidfd);
  return collect(d, p);
}

/**
 * waitid on an exited process, once: our child is reaped and its status kept; for a process
 * we are not the parent of (ECHILD), the status is unknown.
 */
export function collect(d: EffectDeps, p: Reapable): ExitInfo {
  if (p.exit) return p.exit;
  try {
    const st = d.sys.waitid(p.pidfd);
    if (st === null) return UNKNOWN;
    p.exit = { code: st.code, signal: st.signal };
  } catch {
    p.exit = UNKNOWN;
  }
  return p.exit;
}

/** Non-blocking: the exit if the process has exited (reaping it when it is our child), else null. */
export function exitedYet(d: EffectDeps, p: Reapable): ExitInfo | null {
  if (p.exit) return p.exit;
  try {
    const st = d.sys.waitid(p.pidfd);
    if (st === null) return null;
    p.exit = { code: st.code, signal: st.signal };
    return p.exit;
  } catch {
    return null;
  }
}

/**
 * Reap the init if it is this process's own zombie: through the pidfd this process tracks for
 * it (`exit` is then kept on it), else by pid. Null when it is not such a zombie.
 */
export function reapIfOurs(d: EffectDeps, tracked: Reapable | undefined | null, init: { pid: number | null; startTime: string | null }): ExitInfo | null {
  return tracked ? exitedYet(d, tracked) : reapOwnZombie(d, init);
}

/**
 * Reap a container init that is this process's own child and has exited while no runtime here
 * watched it (the runtime was closed, or another process killed it): its status is known only
 * to us, and nobody else can reap it. Null when it is not such a zombie.
 */
export function reapOwnZombie(d: EffectDeps, init: { pid: number | null; startTime: string | null }): ExitInfo | null {
  if (init.pid === null || init.startTime === null) return null;
  const stat = readProcStat(init.pid);
  if (stat === null || stat.state !== 'Z' || stat.startTime !== init.startTime || stat.ppid !== process.pid) return null;
  let pidfd: number;
  try {
    pidfd = d.sys.pidfdOpen(init.pid);
  } catch {
    return null; // reaped meanwhile
  }
  try {
    return exitedYet(d, { pidfd });
  } finally {
    d.sys.close(pidfd);
  }
}
