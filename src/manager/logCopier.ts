/**
 * berth-logs: copies a detached container's stdout (fd 3) and stderr (fd 4) into its log file
 * as JSON lines `{ stream, time, line }`, and exits once both pipes reach end of file (every
 * process of the container has closed them). It is the only process reading those pipes, so it
 * must outlive whoever created the container (a CLI command exits at once; a library process
 * may too): without a reader the container would block on a full pipe or die of SIGPIPE.
 * When both ends are done it writes `<log>.closed`, which ends `logs --follow`.
 *
 *   node logCopier.js <log file>
 */
import { appendFileSync, closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';

export interface LogLine {
  stream: 'stdout' | 'stderr';
  time: string;
  line: string;
}

/** Lines longer than this are split (a runaway line must not grow the copier's memory without bound). */
const MAX_LINE = 16 * 1024;

function main(file: string): void {
  process.title = `berth-logs ${file}`;
  process.chdir('/');
  const out = openSync(file, 'a', 0o640);
  let open = 2;
  const copy = (fd: number, stream: LogLine['stream']) => {
    let pending = '';
    const write = (line: string) => appendFileSync(out, `${JSON.stringify({ stream, time: new Date().toISOString(), line } satisfies LogLine)}\n`);
    const sock = new Socket({ fd, readable: true, writable: false });
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0 || pending.length > MAX_LINE) {
        const cut = nl >= 0 && nl <= MAX_LINE ? nl : MAX_LINE;
        write(pending.slice(0, cut));
        pending = pending.slice(cut + (cut === nl ? 1 : 0));
      }
    });
    const done = () => {
      if (pending !== '') write(pending);
      pending = '';
      if (--open === 0) {
        closeSync(out);
        try {
          writeFileSync(`${file}.closed`, '');
        } catch {
          // the container was removed, its directory with it: nobody follows this log
        }
      }
    };
    // 'close' follows end of file, and an error too: either way this stream is done.
    sock.once('close', done);
    sock.once('error', () => undefined);
  };
  copy(3, 'stdout');
  copy(4, 'stderr');
  // Reading: the manager may start the container now (see startCopier).
  writeSync(1, 'ready\n');
  closeSync(1);
}

if (process.argv[2] !== undefined && process.argv[1] !== undefined && /logCopier\.[jt]s$/.test(process.argv[1])) main(process.argv[2]);
