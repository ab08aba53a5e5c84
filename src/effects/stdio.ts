import { openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { StdioFds } from './deps.js';
import type { Syscalls } from './syscalls.js';

/**
 * How a container's stdio is wired: `inherit` gives it this process's fds 0–2 (the CLI's
 * choice, as runc does), `ignore` gives it /dev/null, `pipe` gives the caller streams, and an
 * array chooses per fd (numbers are fds the caller owns and keeps).
 */
export type StdioOption = 'inherit' | 'ignore' | 'pipe' | number;
export type StdioSpec = 'inherit' | 'ignore' | 'pipe' | [StdioOption, StdioOption, StdioOption];

export interface ContainerStdio {
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
}

export function openStdio(sys: Syscalls, spec: StdioSpec = 'inherit'): { fds: StdioFds; streams: ContainerStdio } {
  const each: [StdioOption, StdioOption, StdioOption] = Array.isArray(spec) ? spec : [spec, spec, spec];
  const owned: number[] = [];
  const streams: ContainerStdio = { stdin: null, stdout: null, stderr: null };
  const fds = each.map((opt, i): number => {
    if (typeof opt === 'number') return opt;
    if (opt === 'inherit') return i;
    if (opt === 'ignore') {
      const fd = openSync('/dev/null', 'r+');
      owned.push(fd);
      return fd;
    }
    const [r, w] = sys.pipe();
    const [ours, theirs] = i === 0 ? [w, r] : [r, w];
    owned.push(theirs);
    const sock = new Socket({ fd: ours, readable: i !== 0, writable: i === 0 });
    if (i === 0) streams.stdin = sock;
    else if (i === 1) streams.stdout = sock;
    else streams.stderr = sock;
    return theirs;
  }) as [number, number, number];
  return { fds: { fds, owned }, streams };
}
