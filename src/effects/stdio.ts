import { openSync } from 'node:fs';
import { Socket } from 'node:net';
import { PassThrough, type Readable, type Writable } from 'node:stream';
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
    else if (i === 1) streams.stdout = held(sock);
    else streams.stderr = held(sock);
    return theirs;
  }) as [number, number, number];
  return { fds: { fds, owned }, streams };
}

/**
 * A pipe Socket emits 'end' as soon as it reads end of file if nobody consumes it yet, so a
 * process that exits before the caller attaches a listener (an exec'd `true`) would look like
 * a stream that never ends. Behind a PassThrough, 'end' waits for a consumer; the Socket still
 * stops reading when the buffer is full, so the process blocks on a full pipe as usual.
 */
function held(sock: Socket): Readable {
  const out = new PassThrough();
  sock.on('error', (e) => out.destroy(e));
  // Destroying the stream (or its natural close) releases the pipe.
  out.on('close', () => sock.destroy());
  return sock.pipe(out);
}
