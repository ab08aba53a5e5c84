import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { Observable } from 'rxjs';
import { RuntimeError } from '../errors.js';
import type { Syscalls } from '../effects/syscalls.js';
import { logCopierPath } from '../effects/linux.js';

/** One line of a container's output, as native/logs/berth-logs.c writes it (one JSON object a line). */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** ISO-8601, milliseconds, UTC: when the copier read the line. */
  time: string;
  line: string;
}

export interface LogsOptions {
  /** Keep reading until the container's output ends. */
  follow?: boolean;
  /** Only lines at or after this time. */
  since?: Date;
  /** Only the last N lines of what is there when asked (then, with follow, every new one). */
  tail?: number;
}

/**
 * Start the log copier for a container (native/logs/berth-logs.c; docs/manager.md says why it
 * is a process of its own)
 * and return the write ends of its two pipes, for the container's stdout and stderr, once it
 * reads them: two pipes carry no order between them, so a copier that started reading late
 * would find both full and could not tell which came first. The caller closes the write ends
 * once the container holds its copies.
 */
export async function startCopier(sys: Syscalls, file: string): Promise<{ stdout: number; stderr: number }> {
  // The previous run's copier (a restart) finishes before this one starts, so its end marker
  // cannot land after this run's output began; one killed before writing it is waited for no longer.
  for (let i = 0; i < 100 && existsSync(file) && !existsSync(`${file}.closed`); i++) await new Promise((r) => setTimeout(r, 50));
  rmSync(`${file}.closed`, { force: true });
  const [outR, outW] = sys.pipe();
  const [errR, errW] = sys.pipe();
  try {
    // detached: its own session, so a terminal's hangup or ^C to the creator does not reach it
    const child = spawn(logCopierPath(), [file], { stdio: ['ignore', 'pipe', 'inherit', outR, errR], detached: true });
    child.unref();
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new RuntimeError('INTERNAL', `log copier for ${file} exited with ${code}`)));
    }).finally(() => child.stdout!.destroy());
  } catch (e) {
    for (const fd of [outW, errW]) sys.close(fd);
    throw e;
  } finally {
    for (const fd of [outR, errR]) sys.close(fd);
  }
  return { stdout: outW, stderr: errW };
}

/** A container's log lines: what is in the file, then, with `follow`, new ones until the copier is done. */
export function logs$(file: string, opts: LogsOptions = {}, pollMs = 100): Observable<LogLine> {
  return new Observable<LogLine>((sub) => {
    let offset = 0;
    let rest = '';
    let timer: NodeJS.Timeout | undefined;
    const since = opts.since?.getTime() ?? -Infinity;
    const read = (): LogLine[] => {
      if (!existsSync(file)) return [];
      const fd = openSync(file, 'r');
      try {
        const buf = Buffer.alloc(64 * 1024);
        let n;
        while ((n = readSync(fd, buf, 0, buf.length, offset)) > 0) {
          offset += n;
          rest += buf.toString('utf8', 0, n);
        }
      } finally {
        closeSync(fd);
      }
      const cut = rest.lastIndexOf('\n') + 1;
      const lines = rest.slice(0, cut).split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
      rest = rest.slice(cut);
      return lines.filter((l) => Date.parse(l.time) >= since);
    };
    // A subscriber may unsubscribe from inside next() (take(n)): the teardown then runs before
    // the emitting loop ends, so the loop checks `closed` rather than scheduling a poll that
    // nothing would clear (it kept the process alive, polling a file that may never close).
    const emit = (lines: LogLine[]) => {
      for (const l of lines) {
        if (sub.closed) return;
        sub.next(l);
      }
    };
    const first = read();
    emit(opts.tail === undefined ? first : first.slice(Math.max(0, first.length - opts.tail)));
    const poll = () => {
      const done = existsSync(`${file}.closed`);
      emit(read());
      if (sub.closed) return;
      if (done || !opts.follow) sub.complete();
      else timer = setTimeout(poll, pollMs);
    };
    if (opts.follow) poll();
    else sub.complete();
    return () => clearTimeout(timer);
  });
}
