import type { ConsoleStream } from './effects/console.js';
import type { ContainerStdio } from './effects/stdio.js';
import type { ExitInfo } from './machines/events.js';
import { parseSignal } from './signals.js';

/** A process started in a running container by `exec` (a handle; the log holds its facts). */
export class ExecProcess {
  constructor(
    readonly containerId: string,
    /** Its name in the container's log (ExecStarted / ExecExited). */
    readonly execId: string,
    /** Its host pid. */
    readonly pid: number,
    /** Streams to its stdio when it was started with `stdio: 'pipe'`. */
    readonly stdio: ContainerStdio,
    private readonly ops: {
      wait(): Promise<ExitInfo>;
      kill(signal: number): void;
      console(): ConsoleStream | null;
      resizeConsole(rows: number, cols: number): void;
    },
  ) {}

  /**
   * The pty master of a `process.terminal` exec started without a console socket, as
   * `Container.console` is for the init: read its output, write its input. It ends when the
   * process and whatever inherited the pty have closed it; destroyed by the container's
   * `delete()` and by closing the runtime. Null otherwise.
   */
  get console(): ConsoleStream | null {
    return this.ops.console();
  }

  /** Resize its terminal (TIOCSWINSZ; its foreground process gets SIGWINCH). */
  resizeConsole(rows: number, cols: number): void {
    this.ops.resizeConsole(rows, cols);
  }

  /** Resolve with its exit: code, or signal when it was killed (as `wait` of a container). */
  wait(): Promise<ExitInfo> {
    return this.ops.wait();
  }

  /** Send it a signal (name like `TERM`/`SIGKILL` or number; default SIGTERM) through its pidfd. */
  kill(signal: string | number = 'SIGTERM'): void {
    this.ops.kill(parseSignal(signal));
  }
}
