/**
 * Reading a pty master in tests, through the runtime's ConsoleStream: it reads until every fd of
 * the peer is closed; the terminal's "\r\n" line ends are read back as "\n".
 */
import { ConsoleStream } from '../../src/effects/console.js';

export interface PtyReader {
  stream: ConsoleStream;
  /** Everything read until the end; the master is closed by then. */
  output: Promise<string>;
}

/** Read `master` (taking ownership of the fd) until its end. */
export function readPty(master: number): PtyReader {
  return readConsole(new ConsoleStream(master));
}

/** Read a console the runtime keeps (`container.console`, `exec.console`) until its end. */
export function readConsole(stream: ConsoleStream): PtyReader {
  let text = '';
  stream.setEncoding('utf8');
  const output = new Promise<string>((resolve, reject) => {
    stream.on('data', (chunk: string) => { text += chunk; });
    stream.on('end', () => resolve(text.replace(/\r\n/g, '\n')));
    stream.on('close', () => resolve(text.replace(/\r\n/g, '\n')));
    stream.on('error', reject);
  });
  return { stream, output };
}
