import type { Logger } from 'pino';
import type { CrashSeam } from '../crash.js';
import type { ExitInfo } from '../machines/events.js';
import type { CgroupLayout } from './cgroupLayout.js';
import type { ConsoleRequest } from './console.js';
import type { WatchFn } from './fdWatch.js';
import type { RootPaths } from './paths.js';
import type { Syscalls } from './syscalls.js';

/** A container init (or exec'd process) this process holds a pidfd for. */
export interface TrackedProcess {
  pid: number;
  pidfd: number;
  startTime: string;
  /** We are its parent, so waitid can reap it and tell its exit status. */
  child: boolean;
  /** Set once it has exited and been collected. */
  exit?: ExitInfo;
}

/** The fds a container's stdio gets: [stdin, stdout, stderr]; closed by the caller after spawn when `owned`. */
export interface StdioFds {
  fds: [number, number, number];
  /** fds opened for this spawn only (closed in the parent once the child has them). */
  owned: number[];
}

/**
 * Everything an effect may touch, handed in explicitly (no module singletons): the Syscalls
 * seam, the root's paths, this process's table of pidfds, host facts, and per-create options
 * that cannot live in the log (fds).
 */
export interface EffectDeps {
  sys: Syscalls;
  paths: RootPaths;
  procs: Map<string, TrackedProcess>;
  /** Exec'd processes this process holds a pidfd for, by `execKey(id, execId)` (execWatch.ts). */
  execs: Map<string, TrackedProcess>;
  /** Readability watches, one native poll per fd (fdWatch.ts). */
  watch: WatchFn;
  /** fd of the sealed berth-init copy (made once per process). */
  helperFd(): number;
  cgroups(): CgroupLayout;
  /** cgroupsPath in systemd's `slice:prefix:name` form (runc's --systemd-cgroup), mapped onto cgroupfs. */
  systemdCgroup: boolean;
  /** The stdio for the container being created (the runtime registers it before CreateRequested). */
  stdioFor(id: string): StdioFds;
  /** Where a terminal's pty master goes, for the container being created (console.ts). */
  consoleFor(id: string): ConsoleRequest;
  log: Logger;
  /** The fault-injection seam (src/crash.ts): a no-op unless BERTH_CRASH_AT names a point. */
  crash: CrashSeam;
}
