import { firstValueFrom, filter, type Observable } from 'rxjs';
import { RuntimeError } from './errors.js';
import type { ConsoleStream } from './effects/console.js';
import type { ContainerStdio } from './effects/stdio.js';
import type { ExitInfo } from './machines/events.js';
import type { ContainerState } from './machines/replay.js';
import { parseSignal } from './signals.js';
import type { Runtime } from './runtime.js';
import type { StoredEvent } from './store/eventLog.js';
import type { OciResources } from './machines/spec.js';
import type { Stats } from './effects/cgroups/index.js';
import type { ExecOptions } from './runtime.js';
import type { ExecProcess } from './execProcess.js';
import type { CheckpointOpts } from './checkpointOptions.js';

/** A handle on one container of a runtime. It holds no state of its own: the log does. */
export class Container {
  constructor(
    private readonly rt: Runtime,
    readonly id: string,
    /** Streams to the container's stdio when it was created with `stdio: 'pipe'`. */
    readonly stdio: ContainerStdio,
  ) {}

  /**
   * The pty master of a `process.terminal` container created by this runtime without a
   * console socket, as a stream: read the terminal's output, write its input (a tty.ReadStream,
   * a net.Socket that writes too). It ends when the container's last holder of the pty closes
   * it (the kernel's EIO is its end of stream), and is destroyed (the fd closed) by `delete()`
   * and by closing the runtime. Read it: a pty whose output is not read blocks its writers once
   * its buffer is full. Null otherwise (a handle from `get()` in another process, no terminal).
   */
  get console(): ConsoleStream | null {
    return this.rt.console(this.id);
  }

  /** Resize the console (TIOCSWINSZ; the foreground process gets SIGWINCH). */
  resizeConsole(rows: number, cols: number): void {
    this.rt.resizeConsole(this.id, rows, cols);
  }

  /** The current state, then every change, derived from the log; completes on delete. */
  get state$(): Observable<ContainerState> {
    return this.rt.state$(this.id);
  }

  /** The container's history, then its events as they are committed; completes once it is deleted. */
  get events$(): Observable<StoredEvent> {
    return this.rt.containerEvents$(this.id);
  }

  state(): Promise<ContainerState> {
    return this.rt.state(this.id);
  }

  start(): Promise<void> {
    return this.rt.start(this.id);
  }

  /** Send a signal (name like `TERM`/`SIGKILL` or number; default SIGTERM). */
  async kill(signal: string | number = 'SIGTERM', opts: { all?: boolean } = {}): Promise<void> {
    return this.rt.kill(this.id, parseSignal(signal), opts.all ?? false);
  }

  pause(): Promise<void> {
    return this.rt.pause(this.id);
  }

  resume(): Promise<void> {
    return this.rt.resume(this.id);
  }

  update(resources: OciResources): Promise<ContainerState> {
    return this.rt.update(this.id, resources);
  }

  /**
   * Run another process in the running container (runc exec). `process` has config.json's
   * `process` shape; the returned handle has its pid, its stdio (with `stdio: 'pipe'`) and
   * `wait()` for its exit.
   */
  exec(process: unknown, opts: ExecOptions = {}): Promise<ExecProcess> {
    return this.rt.exec(this.id, process, opts);
  }

  /** Host pids of the container's processes. */
  ps(): Promise<number[]> {
    return this.rt.ps(this.id);
  }

  stats(): Promise<Stats> {
    return this.rt.stats(this.id);
  }

  /** Dump the container with criu (see `Runtime.checkpoint`). */
  checkpoint(opts: CheckpointOpts): Promise<ContainerState> {
    return this.rt.checkpoint(this.id, opts);
  }

  delete(opts: { force?: boolean } = {}): Promise<void> {
    return this.rt.delete(this.id, opts.force ?? false);
  }

  history(): Promise<StoredEvent[]> {
    return this.rt.history(this.id);
  }

  /**
   * Resolve with the init's exit once the container has stopped. The code is known when this
   * process is the init's parent; otherwise both fields are null.
   */
  async wait(opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    const stopped = firstValueFrom(this.state$.pipe(filter((s) => s.status === 'stopped' || s.state === 'deleted')));
    const s = await (opts.signal ? abortable(stopped, opts.signal) : stopped);
    const known = s.exit !== null && (s.exit.code !== null || s.exit.signal !== null);
    // Another process may have logged the exit first without its status; as the init's
    // parent, this process reaps it and knows.
    const own = known ? null : this.rt.childExit(this.id);
    return (own ? await own : s.exit) ?? { code: null, signal: null };
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new RuntimeError('INVALID_ARGUMENT', 'wait aborted');
}
