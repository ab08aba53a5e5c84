/**
 * A console socket as containerd or podman runs one for runc's `--console-socket`: a unix
 * listener that accepts one connection and receives one message carrying an fd (SCM_RIGHTS; the
 * message data is the fd's name), read with the addon's recvFds as Go's RecvFd does.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

import type { Syscalls } from '../../src/effects/syscalls.js';

export interface ReceivedFd {
  /** The message data (runc sends the master's name). */
  name: string;
  /** The fd that came with it, now the test's to close. */
  fd: number;
}

export interface ConsoleSocket {
  path: string;
  /** The first message that carried an fd; rejects if the connection ends without one. */
  received: Promise<ReceivedFd>;
  /** Stop listening and drop the connection (the received fd is the caller's). */
  close(): Promise<void>;
}

/**
 * Listen at `<dir>/<name>`. The accepted connection is never read by libuv (pauseOnConnect): a
 * plain read would discard the fds attached to the data. Readiness is polled with watchFd on
 * the connection's own fd, which libuv does not poll while the socket is paused.
 */
export async function listenConsoleSocket(sys: Syscalls, dir: string, name = 'console.sock'): Promise<ConsoleSocket> {
  const path = join(dir, name);
  const server: Server = createServer({ pauseOnConnect: true });
  let conn: Socket | null = null;
  let stop = (): void => undefined;
  let settle: { resolve: (r: ReceivedFd) => void; reject: (e: Error) => void };
  const received = new Promise<ReceivedFd>((resolve, reject) => { settle = { resolve, reject }; });
  received.catch(() => undefined); // a test that never looks at it must not see an unhandled rejection

  const receive = (fd: number): void => {
    stop = sys.watchFd(fd, () => {
      try {
        const m = sys.recvFds(fd);
        if (m.data.length === 0 && m.fds.length === 0) return settle.reject(new Error('console socket: connection closed without an fd'));
        if (m.fds.length === 0) return receive(fd);
        for (const extra of m.fds.slice(1)) sys.close(extra);
        settle.resolve({ name: m.data.toString('utf8'), fd: m.fds[0]! });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return receive(fd);
        settle.reject(e as Error);
      }
    });
  };

  server.on('connection', (socket) => {
    if (conn !== null) return socket.destroy();
    conn = socket;
    socket.on('error', () => undefined);
    receive((socket as unknown as { _handle: { fd: number } })._handle.fd);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    received,
    async close() {
      stop();
      settle.reject(new Error('console socket closed'));
      (conn as Socket | null)?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
