/**
 * berth-init's control socket (fd 6; native/init/chan.c, plan.h): an AF_UNIX SOCK_SEQPACKET
 * pair. The helper sends named fds on its end ("console": the pty master of TERMINAL) and closes
 * it at EXEC before writing READY, so once READY is read every message is already queued and
 * `drain` reads them all without waiting. Any spawn of berth-init (create, and exec) can use one.
 *
 *   const ctl = new ControlChannel(d.sys);
 *   spawn({ ..., fds: [0, 1, 2, plan, status, fifo, ctl.theirs] }); ctl.releaseTheirs();
 *   ... READY ...
 *   ctl.drain(); const master = ctl.takeOne('console'); ctl.close();
 *
 * On failure, `close` releases every fd received and not taken; fds still in the socket go with it.
 */
import type { Syscalls } from './syscalls.js';

export class ControlChannel {
  /** The helper's end: place it at fd 6 of the spawn, then `releaseTheirs`. */
  readonly theirs: number;
  private ours: number;
  private theirsOpen = true;
  private readonly received = new Map<string, number[]>();

  constructor(private readonly sys: Syscalls) {
    [this.ours, this.theirs] = sys.socketpair();
  }

  /** Close our copy of the helper's end once the helper holds its own (after the spawn). */
  releaseTheirs(): void {
    if (!this.theirsOpen) return;
    this.theirsOpen = false;
    this.sys.close(this.theirs);
  }

  /**
   * Read every queued message, then close our end. Call after READY. EAGAIN (the helper's end
   * still open somewhere) ends the read too, rather than waiting. A name sent twice keeps the
   * last fds.
   */
  drain(): void {
    if (this.ours < 0) return;
    for (;;) {
      let m;
      try {
        m = this.sys.recvFds(this.ours);
      } catch (e) {
        if ((e as { code?: string }).code === 'EAGAIN') break;
        throw e;
      }
      if (m.data.length === 0 && m.fds.length === 0) break;
      const name = m.data.toString('utf8');
      for (const fd of this.received.get(name) ?? []) this.sys.close(fd);
      this.received.set(name, m.fds);
    }
    this.sys.close(this.ours);
    this.ours = -1;
  }

  /** The fds received under `name`, now the caller's, or null if none came. */
  take(name: string): number[] | null {
    const fds = this.received.get(name) ?? null;
    this.received.delete(name);
    return fds;
  }

  /** The one fd received under `name`, now the caller's; null (closing them) unless exactly one came. */
  takeOne(name: string): number | null {
    const fds = this.take(name) ?? [];
    if (fds.length === 1) return fds[0]!;
    for (const fd of fds) this.sys.close(fd);
    return null;
  }

  /** Close everything still held: both ends, and every fd received and not taken. Idempotent. */
  close(): void {
    const fds = [...this.received.values()].flat();
    this.received.clear();
    if (this.ours >= 0) fds.push(this.ours);
    this.ours = -1;
    if (this.theirsOpen) fds.push(this.theirs);
    this.theirsOpen = false;
    for (const fd of fds) {
      try {
        this.sys.close(fd);
      } catch {
        // best effort on cleanup paths
      }
    }
  }
}
