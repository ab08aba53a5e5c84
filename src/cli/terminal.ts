/**
 * `berth run` of a `process.terminal` container, or `berth exec --tty`, without
 * `--console-socket`: this process is the terminal's other end, as `runc run` and `runc exec` are. Its stdin goes to the pty (in raw mode when stdin
 * is a terminal, so ^C, ^Z and the like reach the container's line discipline instead of ours),
 * the pty's output goes to its stdout, and the pty follows our window size (initially and on
 * every resize, as runc does on SIGWINCH).
 */
import type { ConsoleStream } from '../effects/console.js';

/**
 * How long the relay still drains the pty once the init has exited. With a pid namespace the
 * kernel has killed every other holder of the pty by then and its output ends at once; without
 * one, a process left behind could hold it open for ever.
 */
const DRAIN_AFTER_EXIT_MS = 1000;

export interface Relay {
  /** After the init's exit: wait until the pty's output is drained (bounded), then detach. */
  finish(): Promise<void>;
}

/** A container or an exec'd process: what holds the terminal's window size. */
interface Resizable {
  resizeConsole(rows: number, cols: number): void;
}

export function relayConsole(c: Resizable, con: ConsoleStream): Relay {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const raw = stdin.isTTY === true;
  const ended = new Promise<void>((resolve) => con.once('close', () => resolve()));
  const onInput = (chunk: Buffer) => { if (!con.destroyed) con.write(chunk); };
  const onOutput = (chunk: Buffer) => { stdout.write(chunk); };
  const resize = () => {
    if (stdout.isTTY && stdout.rows > 0 && stdout.columns > 0) c.resizeConsole(stdout.rows, stdout.columns);
  };
  con.on('error', () => undefined); // a failed read ends the relay like the end of the output
  con.on('data', onOutput);
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onInput);
  stdout.on('resize', resize);
  resize();
  return {
    async finish() {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise((resolve) => { timer = setTimeout(resolve, DRAIN_AFTER_EXIT_MS); })]);
      clearTimeout(timer);
      stdout.off('resize', resize);
      stdin.off('data', onInput);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      con.off('data', onOutput);
    },
  };
}
