/**
 * Where the pty master of a `process.terminal` container goes (runc's console handling). The
 * init makes the pty inside the container (TERMINAL, terminalPlan.ts) and sends the master over
 * its control socket (control.ts); from there:
 * - with a console socket (runc's `--console-socket`, what containerd and podman pass), the
 *   master is sent on, SCM_RIGHTS with the data "/dev/ptmx" as runc sends it, and not kept;
 * - without one, the runtime keeps it for the caller: `container.console`, a ConsoleStream.
 *
 * The socket is connected before anything is made (as runc does), so a wrong path fails early
 * and leaves nothing behind.
 */
import { ReadStream } from 'node:tty';
import { RuntimeError, errnoOf } from '../errors.js';
import type { OciProcess } from '../machines/spec.js';
import type { ControlChannel } from './control.js';
import type { Syscalls } from './syscalls.js';

/** What the caller of create asked for a terminal's master (registered per create, like stdio). */
export interface ConsoleRequest {
  /** A listening unix socket: the master is sent there and not kept. */
  socket: string | null;
  /** The caller will not stay to hold the master (CLI `create`, `run --detach`): a terminal then needs `socket`. */
  detached: boolean;
  /** Receives the master when there is no socket: the caller owns the fd from then on. */
  keep(master: number): void;
}

export const NO_CONSOLE: ConsoleRequest = { socket: null, detached: false, keep: () => undefined };

/** The console side of one create: deliver the master (or close it), then `close`. */
export interface ConsoleTarget {
  /** Send the master to the socket or hand it to the caller; either way this side is done with it. */
  deliver(master: number): void;
  /** Release the connection to the console socket, if any (idempotent). */
  close(): void;
}

/**
 * Check the terminal options against the process (runc's checkTerminal wording) and connect
 * the console socket. Throws INVALID_ARGUMENT before anything is made.
 */
export function prepareConsole(sys: Syscalls, what: string, p: OciProcess, req: ConsoleRequest): ConsoleTarget {
  const terminal = p.terminal === true;
  if (terminal && req.detached && req.socket === null) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: cannot allocate tty if berth will detach without setting console socket`, { field: 'process.terminal' });
  }
  if (!terminal && req.socket !== null) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: cannot use console socket if berth will not detach or allocate tty`, { field: 'consoleSocket' });
  }
  let socket = -1;
  if (terminal && req.socket !== null) {
    try {
      socket = sys.connectUnix(req.socket);
    } catch (e) {
      const why = errnoOf(e) ?? String(e);
      throw new RuntimeError('INVALID_ARGUMENT', `${what}: --console-socket ${req.socket}: ${why}`, { field: 'consoleSocket', cause: e });
    }
  }
  const close = () => {
    if (socket < 0) return;
    const fd = socket;
    socket = -1;
    sys.close(fd);
  };
  return {
    deliver(master) {
      if (socket < 0) return req.keep(master);
      try {
        sys.sendFds(socket, '/dev/ptmx', [master]);
      } finally {
        sys.close(master);
        close();
      }
    },
    close,
  };
}

/**
 * A pty master as a Node stream (a tty.ReadStream, which writes too): read the container's
 * output, write its input. It ends when the last holder of the peer closes it: Linux then
 * fails reads with EIO, which libuv passes on as an error; here it is the end of the stream,
 * as a pipe's EOF would be. Destroying it closes the master.
 */
export class ConsoleStream extends ReadStream {
  override destroy(error?: Error): this {
    if (error !== undefined && errnoOf(error) === 'EIO' && !this.readableEnded) {
      this.push(null);
      this.read(0);
      return this;
    }
    return super.destroy(error);
  }
}

/**
 * After READY: the master the init sent over its control socket goes to its target. A process
 * without a terminal gets none (anything else received is closed with the channel).
 */
export function deliverConsole(what: string, p: OciProcess, ctl: ControlChannel, target: ConsoleTarget): void {
  if (p.terminal !== true) return;
  const master = ctl.takeOne('console');
  if (master === null) throw new RuntimeError('INTERNAL', `${what}: the init helper sent no console`);
  target.deliver(master);
}
