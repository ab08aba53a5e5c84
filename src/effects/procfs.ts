import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * /proc readings for identity checks. A pid alone is not an identity (pids are reused); a pid
 * plus field 22 of /proc/<pid>/stat (start time in clock ticks since boot) is, as runc's
 * `hasInit` uses it.
 */
export interface ProcStat {
  /** Process state letter: R, S, D, Z (zombie), T ... */
  state: string;
  startTime: string;
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
  return { state, startTime };
}

/** The pid namespace link of a process (`pid:[4026531836]`), or null once it is gone. */
export function pidNamespaceOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Host pids in the pid namespace `nsLink`: every process of a container with its own pid namespace. */
export function pidsInPidNamespace(nsLink: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (pidNamespaceOf(Number(name)) === nsLink) out.push(Number(name));
  }
  return out;
}
