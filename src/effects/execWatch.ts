import type { EffectInput, RunningExec } from '../machines/container.machine.js';
import type { ContainerEvent, ExecStarted, ExitInfo } from '../machines/events.js';
import type { EffectDeps, TrackedProcess } from './deps.js';
import { readProcStat } from './procfs.js';
import { collect } from './reap.js';

/** Key of an exec'd process in `EffectDeps.execs` ('/' never appears in an id). */
export const execKey = (id: string, execId: string): string => `${id}/${execId}`;

const UNKNOWN: ExitInfo = { code: null, signal: null };
/** How often a process that is not ours is checked while it is a zombie. */
const ZOMBIE_POLL_MS = 100;

/**
 * The exec watcher: lives as long as the container's machine, watches every running exec (the
 * restored context's, then each ExecStarted the machine forwards) on its pidfd and reports
 * ExecExited.
 *
 * Only the parent learns an exit status, so only the parent reports an exit while the process
 * is a zombie: it reaps it at once. Another process (a CLI command, a library that did not run
 * the exec) reports it, without a status, once it is gone — checked at load and, while it is a
 * zombie, every ZOMBIE_POLL_MS. Otherwise it could log "status unknown" ahead of the parent,
 * whose exact report the machine would then refuse. A process found gone at load ended while
 * nobody watched: a fact all the same (DESIGN rule 4).
 *
 * Reaping matters beyond the log: the init of a pid namespace cannot finish exiting while a
 * process of its namespace is an unreaped zombie whose parent is outside it (setns + fork, as
 * here) — the kernel's zap_pid_ns_processes waits for them.
 */
export function watchExecs(
  d: EffectDeps,
  c: EffectInput,
  sendBack: (e: ContainerEvent) => void,
  receive: (listener: (e: ExecStarted) => void) => void,
): () => void {
  const stops = new Map<string, () => void>();
  const report = (execId: string, exit: ExitInfo) => sendBack({ type: 'ExecExited', execId, ...exit });

  const watch = (execId: string, e: RunningExec) => {
    if (stops.has(execId)) return;
    const key = execKey(c.id, execId);
    const proc = d.execs.get(key) ?? openIfRunning(d, key, e);
    if (proc === null) {
      queueMicrotask(() => report(execId, UNKNOWN));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const ended = (exit: ExitInfo) => {
      stops.delete(execId);
      untrackExec(d, key, proc);
      report(execId, exit);
    };
    const onExit = () => {
      if (proc.child) return ended(collect(d, proc));
      const st = readProcStat(proc.pid);
      if (st === null || st.startTime !== proc.startTime || st.state !== 'Z') return ended(UNKNOWN);
      timer = setTimeout(onExit, ZOMBIE_POLL_MS).unref();
    };
    const stop = d.watch(proc.pidfd, onExit);
    stops.set(execId, () => {
      stop();
      clearTimeout(timer);
    });
  };

  for (const [execId, e] of Object.entries(c.execs)) watch(execId, e);
  receive((e) => {
    if (e.type === 'ExecStarted') watch(e.execId, e);
  });
  return () => {
    for (const stop of stops.values()) stop();
    stops.clear();
  };
}

/**
 * Exec'd processes a runtime of this process spawned as its own child (`pid:startTime`). A
 * runtime reopened here reaps those; a detached exec reparented to this process as the
 * subreaper is not among them: its status belongs to the subreaper's own reaper (a shim).
 */
const spawnedHere = new Set<string>();

export function spawnedInThisProcess(pid: number, startTime: string | number): void {
  // Removed when the exec is seen ended (untrackExec), so a long-lived program's set stays small.
  spawnedHere.add(`${pid}:${startTime}`);
}

/** A pidfd on an exec'd process that is still the one the log recorded (pid and start time). */
function openIfRunning(d: EffectDeps, key: string, e: RunningExec): TrackedProcess | null {
  let pidfd: number;
  try {
    pidfd = d.sys.pidfdOpen(e.pid);
  } catch {
    return null;
  }
  const st = readProcStat(e.pid);
  const mine = `${e.pid}:${e.startTime}`;
  if (st === null || st.startTime !== e.startTime) {
    spawnedHere.delete(mine);
    d.sys.close(pidfd);
    return null;
  }
  // Ours to reap when a runtime closed since then spawned it here as its child: nobody else
  // will, and its pid namespace's init cannot finish exiting until it is reaped.
  const proc = { pid: e.pid, pidfd, startTime: e.startTime, child: st.ppid === process.pid && spawnedHere.has(mine) };
  d.execs.set(key, proc);
  return proc;
}

/** The exec has ended (reaped, or gone): forget it, here and among the ones spawned here. */
function untrackExec(d: EffectDeps, key: string, proc: TrackedProcess): void {
  spawnedHere.delete(`${proc.pid}:${proc.startTime}`);
  if (d.execs.get(key) === proc) d.execs.delete(key);
  try {
    d.sys.close(proc.pidfd);
  } catch {
    // already closed (the runtime closed)
  }
}
