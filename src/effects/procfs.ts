import { readFileSync, readlinkSync } from 'node:fs';

/**
 * /proc readings for identity checks. A pid alone is not an identity (pids are reused); a pid
 * plus field 22 of /proc/<pid>/stat (start time in clock ticks since boot) is, as runc's
 * `hasInit` uses it.
 */
export interface ProcStat {
  /** Process state letter: R, S, D, Z (zombie), T ... */
  state: string;
  startTime: string;
  /** Field 4: the parent's pid. */
  ppid: number;
}

export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const startTime = rest[19];
  if (state === undefined || startTime === undefined) return null;
  return { state, startTime, ppid: Number(rest[1]) };
}

/**
 * Whether the process still runs berth-init (waiting on the exec FIFO), that is, it has not been
 * started: the helper runs from a memfd named berth-init, whose /proc/<pid>/exe link says so;
 * once the FIFO released it, it has exec'd the container's program. Null if it is gone.
 */
export function runsInitHelper(pid: number): boolean | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`).startsWith('/memfd:berth-init');
  } catch {
    return null;
  }
}
