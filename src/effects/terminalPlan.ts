/**
 * The TERMINAL operation (native/init/plan.h, terminal.c) for a process with `terminal: true`.
 * Pure. It needs the container's root as "/" and a session of its own, and must run before CREDS
 * (it chowns the pty to the user): create emits it right after PIVOT_ROOT with `console: true`
 * (runtime-spec "Default Devices": /dev/console is the pty, bind-mounted); an exec emits it after
 * SETSID in the process that joined the container's mount namespace, with `console: false`.
 */
import type { OciProcess } from '../machines/spec.js';
import type { PlanOp } from './planWire.js';

export function planTerminal(p: OciProcess, opts: { console: boolean }): PlanOp[] {
  if (p.terminal !== true) return [];
  const { height = 0, width = 0 } = p.consoleSize ?? {};
  return [{ op: 'TERMINAL', args: [p.user.uid, height, width, opts.console ? 1 : 0].map(String) }];
}
