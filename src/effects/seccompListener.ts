/**
 * SCMP_ACT_NOTIFY (runc's seccomp notify, runtime-spec config-linux.md "seccomp"): the init
 * installs the filter with SECCOMP_FILTER_FLAG_NEW_LISTENER and sends the listener over its
 * control socket ("seccompFd"); after READY the runtime hands it to the agent at
 * `linux.seccomp.listenerPath` in ONE sendmsg: the container process state JSON
 * (`ociVersion`, `fds: ["seccompFd"]`, `pid`, `metadata`, `state`) with the fd as SCM_RIGHTS,
 * then closes its copy. The socket is connected before anything is spawned, so a wrong path
 * fails early and leaves nothing behind.
 */
import { RuntimeError, errnoOf } from '../errors.js';
import type { OciConfig } from '../machines/spec.js';
import type { ControlChannel } from './control.js';
import { OCI_VERSION } from '../machines/replay.js';
import type { OciState } from './hookPlan.js';
import type { Syscalls } from './syscalls.js';

const FIELD = 'linux.seccomp.listenerPath';

export interface SeccompListener {
  /** Send the listener the init sent (after READY) with the process state; closes the connection. */
  deliver(ctl: ControlChannel, pid: number, state: OciState): void;
  /** Release the connection, if any (idempotent). */
  close(): void;
}

/** Connect to listenerPath when the profile notifies; a no-op listener otherwise. */
export function prepareSeccompListener(sys: Syscalls, what: string, config: OciConfig): SeccompListener {
  const seccomp = config.linux?.seccomp;
  const notify = (seccomp?.syscalls ?? []).some((r) => r.action === 'SCMP_ACT_NOTIFY');
  if (!notify || !seccomp?.listenerPath) return { deliver: () => undefined, close: () => undefined };
  let socket: number;
  try {
    socket = sys.connectUnix(seccomp.listenerPath);
  } catch (e) {
    throw new RuntimeError('INVALID_CONFIG', `${what}: ${FIELD} ${seccomp.listenerPath}: ${errnoOf(e) ?? String(e)}`, { field: FIELD, cause: e });
  }
  const close = () => {
    if (socket < 0) return;
    sys.close(socket);
    socket = -1;
  };
  return {
    deliver(ctl, pid, state) {
      const fd = ctl.takeOne('seccompFd');
      try {
        if (fd === null) throw new RuntimeError('INTERNAL', `${what}: the init helper sent no seccomp listener`);
        const msg = { ociVersion: OCI_VERSION, fds: ['seccompFd'], pid, metadata: seccomp.listenerMetadata ?? '', state };
        sys.sendFds(socket, JSON.stringify(msg), [fd]);
      } finally {
        if (fd !== null) sys.close(fd);
        close();
      }
    },
    close,
  };
}
