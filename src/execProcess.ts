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
    private readonly ops: { wait(): Promise<ExitInfo>; kill(signal: number): void },
  ) {}

  /** Resolve with its exit: code, or signal when it was killed (as `wait` of a container). */
  wait(): Promise<ExitInfo> {
    return this.ops.wait();
  }

  /** Send it a signal (name like `TERM`/`SIGKILL` or number; default SIGTERM) through its pidfd. */
  kill(signal: string | number = 'SIGTERM'): void {
    this.ops.kill(parseSignal(signal));
  }
}
