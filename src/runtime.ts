import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { defer, finalize, from, Observable, ReplaySubject, share, switchMap, type Subscription } from 'rxjs';
import { createActor, waitFor, type Actor } from 'xstate';
import { Container } from './container.js';
import { RuntimeError, isRuntimeError, wrapSyscall } from './errors.js';
import { makeEffects } from './effects/index.js';
import type { EffectDeps, TrackedProcess, StdioFds } from './effects/deps.js';
import { fdWatchHub } from './effects/fdWatch.js';
import { readCgroupLayout, type CgroupLayout } from './effects/cgroupLayout.js';
import { initHelperPath, linuxSyscalls } from './effects/linux.js';
import { realBundle } from './effects/bundle.js';
import { DEFAULT_ROOT, rootPaths, type RootPaths } from './effects/paths.js';
import { openStdio, type StdioSpec } from './effects/stdio.js';
import { ConsoleStream, NO_CONSOLE, type ConsoleRequest } from './effects/console.js';
import type { Syscalls } from './effects/syscalls.js';
import { isContainerStream, validateId } from './ids.js';
import { parseSignal } from './signals.js';
import { containerMachine, type ContainerContext } from './machines/container.machine.js';
import { fromLogEvent, SCHEMAS, toLogEvent, type ContainerEvent, type ExecStarted, type ExitInfo, type Fact, type Intent, type Observed } from './machines/events.js';
import { collect, reap, reapIfOurs } from './effects/reap.js';
import { untrack } from './effects/track.js';
import { refuseStopped } from './effects/checkpoint.js';
import { whenReadable } from './effects/pipes.js';
import { UPCASTERS } from './machines/upcasters.js';
import { crashSeam, outcomePoint, type CrashSeam } from './crash.js';
import { inspectContainer, statusOf } from './effects/inspect.js';
import { readProcStat } from './effects/procfs.js';
import { collectStream, type GcOptions, type GcResult } from './gc.js';
import { compare, repairFact, type VerifyReport } from './verify.js';
import { watchMemoryPressure, type PressureLevel } from './effects/memoryEvents.js';
import { cgroupOf } from './effects/cgroup.js';
import type { CgroupManager, Stats } from './effects/cgroups/index.js';
import { validateProcess, type OciConfig, type OciResources } from './machines/spec.js';
import { execKey } from './effects/execWatch.js';
import { ExecProcess } from './execProcess.js';
import { exists, fromErrorInfo, isSettled, leafState, refusal, type Command, type MachineState } from './machines/lifecycle.js';
import { publicState, replay, type ContainerState, type Replayed } from './machines/replay.js';
import type { EventLog, StoredEvent } from './store/eventLog.js';
import { openEventLog } from './store/openLog.js';
import { checkpointOptions, restoreOptions, type CheckpointOpts, type RestoreOpts } from './checkpointOptions.js';
import { allEvents$, containerEvents$, containers$, state$ } from './store/projections.js';
import { projectAll, type ProjectStats } from './store/snapshots.js';
import { ContainerManager } from './manager/index.js';
import { PodManager } from './manager/pods.js';
import { openNetworks, type NetworkDefinition, type Networks } from './network/index.js';

export interface RuntimeOptions {
  /** The runtime root: log, socket and per-container files (default /run/berth). */
  root?: string;
  /**
   * Own the root's log and serve it to other processes over `<root>/log.sock` (default true).
   * A one-shot CLI command passes false: it opens the log late and closes it early.
   */
  serve?: boolean;
  /** How long to wait for a root locked by another process that does not serve (default 5 s; 30 s when serving). */
  lockTimeoutMs?: number;
  /** A pino logger; silent by default. */
  logger?: Logger;
  /** The kernel seam; tests pass a fake. */
  syscalls?: Syscalls;
  /** Read cgroupsPath in systemd's `slice:prefix:name` form (runc's --systemd-cgroup). */
  systemdCgroup?: boolean;
  /** Use the projection cache for `list` (default true; src/store/snapshots.ts). */
  snapshots?: boolean;
  /** Bridge networks the manager may create (default one: `berth0` on 10.89.0.0/16; src/network/). */
  networks?: NetworkDefinition[];
}

export interface CreateOptions {
  /** Absolute path of the OCI bundle (a directory holding config.json and the rootfs). */
  bundle: string;
  pidFile?: string;
  /** The container's stdio (default `inherit`). With `pipe`, `container.stdio` holds the streams. */
  stdio?: StdioSpec;
  /**
   * For a `process.terminal` container: a listening unix socket that receives the pty master
   * (runc's `--console-socket`: one message, data "/dev/ptmx", the fd by SCM_RIGHTS); this
   * process keeps no copy. Without it the master is kept as `container.console`.
   */
  consoleSocket?: string;
  /**
   * The caller will not stay to hold the master (the CLI's `create` and `run --detach`): a
   * terminal then needs `consoleSocket`, and a `consoleSocket` needs a terminal (runc's rules).
   */
  detached?: boolean;
}

export interface ExecOptions {
  /** The process's stdio, as `create`'s (default `inherit`); with `pipe`, `exec.stdio` holds the streams. */
  stdio?: StdioSpec;
  /** Write the exec'd process's host pid to this file. */
  pidFile?: string;
  /** Its name in the container's log (default `exec-<random hex>`); letters, digits and `_ + - .`. */
  execId?: string;
  /**
   * For a `process.terminal` exec: a listening unix socket that receives the pty master, as
   * `create`'s (runc exec's `--console-socket`). Without it the master is kept as `exec.console`.
   */
  consoleSocket?: string;
  /** The caller will not stay to hold the master (the CLI's `exec --detach`): as `create`'s. */
  detached?: boolean;
}

/** A container's live machine in this process and the log version it reflects. */
interface Live {
  id: string;
  actor: Actor<typeof containerMachine>;
  version: number;
  /** Appends of emitted facts, in order. */
  appends: Promise<void>;
}

export { DEFAULT_ROOT };

/**
 * Intents whose effect cannot be taken back (a process spawned or released, a signal sent,
 * state removed) are synced to disk before the effect runs (DESIGN rule 6). A pause, resume
 * or update can be undone and the probe on the next load sees what happened, so their intents
 * skip the fsync: it was half the cost of a pause.
 */
const IRREVERSIBLE: ReadonlySet<Intent['type']> = new Set(['CreateRequested', 'StartRequested', 'KillRequested', 'DeleteRequested', 'ExecRequested', 'CheckpointRequested', 'RestoreRequested']);

/** How long a command waits for another process's operation on the same container to finish. */
const BUSY_WAIT_MS = 10_000;
/** Appends of an intent retried after CONFLICT (another process wrote first) before giving up. */
const CONFLICT_RETRIES = 8;

/** Who carries out an intent: recorded in its `meta`, so other processes know it is in hand. */
interface Executor {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, identifies the process across pid reuse. */
  start: string;
  /** This runtime instance (a process may open more than one). */
  rt: string;
}

/** The init a context refers to (pid and start time), or '' before one was created. */
function initOf(c: ContainerContext): string {
  return c.pid === null ? '' : `${c.pid}/${c.startTime}`;
}

/** A consoleSocket option, when given, is a path (whether it is a socket is the effect's to find). */
function checkConsoleSocket(what: string, socket: unknown): void {
  if (socket !== undefined && (typeof socket !== 'string' || socket === '')) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: consoleSocket must be a socket path`, { field: 'consoleSocket' });
  }
}

/** Thrown inside load(): another live process is carrying out an operation on the container. */
class Busy {
  constructor(readonly replayed: Replayed) {}
}

/** Open a runtime on a root. The returned runtime owns no global state; close it when done. */
export async function openRuntime(opts: RuntimeOptions = {}): Promise<Runtime> {
  const root = opts.root ?? DEFAULT_ROOT;
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const serve = opts.serve ?? true;
  // A process that will hold the root for long (it serves) can afford to wait longer for a
  // burst of one-shot commands to let go of the lock.
  const lockTimeoutMs = opts.lockTimeoutMs ?? (serve ? 30_000 : 5_000);
  // Read once, here: a process either runs with a crash point armed or it does not.
  const crash = crashSeam();
  const { log, mode } = await openEventLog(root, { serve, lockTimeoutMs, upcasters: UPCASTERS, schemas: SCHEMAS });
  const rt = new Runtime(root, log, mode, opts.syscalls ?? linuxSyscalls(), opts.logger ?? pino({ level: 'silent' }), opts.systemdCgroup ?? false, crash);
  rt.useSnapshots = opts.snapshots ?? true;
  if (opts.networks !== undefined) rt.networkDefinitions = opts.networks;
  return rt;
}

export class Runtime {
  readonly paths: RootPaths;
  private readonly live = new Map<string, Live>();
  /** state$ streams with subscribers, by container (sharedState$). */
  private readonly sharedStates = new Map<string, Observable<ContainerState>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly stdio = new Map<string, StdioFds>();
  /** Terminal requests of creates in flight, and the pty masters kept for containers created here. */
  private readonly consoleRequests = new Map<string, ConsoleRequest>();
  private readonly consoles = new Map<string, { stream: ConsoleStream; fd: number }>();
  private readonly deps: EffectDeps;
  private readonly machine;
  private helper: number | null = null;
  private layout: CgroupLayout | null = null;
  private closed = false;
  /** Aborted by close(): waits on pidfds stop before the pidfds are closed. */
  private readonly closing = new AbortController();
  private readonly crash: CrashSeam;
  private readonly executor: Executor;
  /** Use the projection cache in list() (RuntimeOptions.snapshots). */
  useSnapshots = true;
  /** What the last list() found in the projection cache (for the bench and tests). */
  lastListStats: ProjectStats | null = null;

  constructor(
    readonly root: string,
    readonly log: EventLog,
    /** `owner`: this process holds the log; `remote`: it talks to the process that does. */
    readonly mode: 'owner' | 'remote',
    readonly sys: Syscalls,
    readonly logger: Logger,
    systemdCgroup = false,
    crash: CrashSeam = () => undefined,
  ) {
    this.paths = rootPaths(root);
    this.crash = crash;
    this.executor = { pid: process.pid, start: readProcStat(process.pid)?.startTime ?? '', rt: randomUUID() };
    const procs = new Map<string, TrackedProcess>();
    this.deps = {
      sys,
      paths: this.paths,
      procs,
      execs: new Map(),
      watch: fdWatchHub(sys),
      log: logger,
      helperFd: () => (this.helper ??= sys.sealedCopy(initHelperPath())),
      cgroups: () => (this.layout ??= readCgroupLayout()),
      systemdCgroup,
      stdioFor: (id) => this.stdio.get(id) ?? { fds: [0, 1, 2], owned: [] },
      consoleFor: (id) => this.consoleRequests.get(id) ?? NO_CONSOLE,
      crash,
    };
    this.machine = containerMachine.provide({ actors: makeEffects(this.deps) });
  }

  private manager: ContainerManager | null = null;

  /** The container manager: containers from a rootfs and a few options (docs/manager.md). */
  get containers(): ContainerManager {
    return (this.manager ??= new ContainerManager(this));
  }

  private podManager: PodManager | null = null;
  private bridges: Networks | null = null;
  /** Set by openRuntime's `networks` option, before first use. */
  networkDefinitions: NetworkDefinition[] | undefined;

  /** Bridge networks (src/network/, docs/network.md): addresses are events in `net:<name>` streams. */
  get networks(): Networks {
    return (this.bridges ??= openNetworks({ log: this.log, logger: this.logger, stateDir: `${this.root}/networks`, ...(this.networkDefinitions ? { networks: this.networkDefinitions } : {}) }));
  }

  /** Pods: containers sharing a holder's network, ipc and uts namespaces (docs/manager.md). */
  get pods(): PodManager {
    return (this.podManager ??= new PodManager(this.containers));
  }

  /** The host's cgroup layout (v1, hybrid or v2), read once. */
  cgroupLayout(): CgroupLayout {
    return (this.layout ??= readCgroupLayout());
  }

  /** Every event of every container committed from now on, in commit order; completes on close. */
  get events$(): Observable<StoredEvent> {
    return this.log.events$();
  }

  /** Every event from global position `from` (default 1: the whole log), then live; completes on close. */
  eventsFrom$(from = 1): Observable<StoredEvent> {
    return allEvents$(this.log, from);
  }

  /**
   * The set of containers and their states: the current set (reconciled with the kernel, as
   * `list`), then a new set whenever a committed event changes any of them. Completes on close.
   */
  get containers$(): Observable<ContainerState[]> {
    // The states list() folded: what its reconciliation appended meanwhile reaches the view as
    // events, which it folds on top of them.
    return containers$(this.log, async () => (await this.listed()).states);
  }

  async create(id: string, opts: CreateOptions): Promise<Container> {
    validateId(id);
    if (typeof opts?.bundle !== 'string' || !opts.bundle.startsWith('/')) {
      throw new RuntimeError('INVALID_ARGUMENT', `create ${id}: bundle must be an absolute path, got ${JSON.stringify(opts?.bundle)}`, { field: 'bundle' });
    }
    checkConsoleSocket(`create ${id}`, opts.consoleSocket);
    const { fds, streams } = openStdio(this.sys, opts.stdio);
    this.stdio.set(id, fds);
    let master: number | null = null;
    this.consoleRequests.set(id, { socket: opts.consoleSocket ?? null, detached: opts.detached ?? false, keep: (fd) => { master = fd; } });
    try {
      await this.command(id, 'create', {
        type: 'CreateRequested', bundle: realBundle(opts.bundle), pidFile: opts.pidFile ?? null, owner: '',
      });
      if (master !== null) this.keepConsole(id, master);
    } catch (e) {
      for (const s of Object.values(streams)) s?.destroy();
      if (master !== null && !this.consoles.has(id)) this.sys.close(master);
      throw e;
    } finally {
      for (const fd of fds.owned.splice(0)) this.sys.close(fd);
      this.stdio.delete(id);
      this.consoleRequests.delete(id);
    }
    return new Container(this, id, streams);
  }

  /**
   * The pty master of a terminal container created by this runtime without a console socket
   * (`id`), or of such an exec'd process (`execKey(id, execId)`).
   */
  console(id: string): ConsoleStream | null {
    return this.consoles.get(id)?.stream ?? null;
  }

  /** Set the window size of that pty (the container's foreground process gets SIGWINCH). */
  resizeConsole(id: string, rows: number, cols: number): void {
    const c = this.consoles.get(id);
    if (!c || c.stream.destroyed) throw new RuntimeError('INVALID_ARGUMENT', `resize console ${id}: this runtime holds no console of it`, { field: 'console' });
    try {
      this.sys.setWindowSize(c.fd, rows, cols);
    } catch (e) {
      throw e instanceof TypeError ? new RuntimeError('INVALID_ARGUMENT', `resize console ${id}: ${e.message}`) : wrapSyscall(`resize console ${id}`, e);
    }
  }

  private keepConsole(id: string, fd: number): void {
    const stream = new ConsoleStream(fd);
    this.consoles.set(id, { stream, fd });
    stream.once('close', () => {
      if (this.consoles.get(id)?.stream === stream) this.consoles.delete(id);
    });
  }

  /** Close the kept consoles of a container and its execs (delete): the container is gone. */
  private dropConsole(id: string): void {
    const execs = execKey(id, '');
    for (const [key, c] of [...this.consoles]) {
      if (key !== id && !key.startsWith(execs)) continue;
      c.stream.destroy();
      this.consoles.delete(key);
    }
  }

  /** A handle on an existing container (NOT_EXISTS otherwise). */
  async get(id: string): Promise<Container> {
    await this.state(id);
    return new Container(this, id, { stdin: null, stdout: null, stderr: null });
  }

  /** The container's state now: replay of its log, reconciled with the kernel. */
  async state(id: string): Promise<ContainerState> {
    validateId(id);
    return this.exclusive(id, () => this.stateNow(id));
  }

  private async stateNow(id: string, pre?: Replayed): Promise<ContainerState> {
    let l: Live;
    try {
      l = await this.load(id, pre);
    } catch (e) {
      // In another process's hands: what the log says, without a probe that would race it.
      if (e instanceof Busy) return publicState(e.replayed.state, e.replayed.context, e.replayed.version);
      throw e;
    }
    const snap = l.actor.getSnapshot();
    const st = leafState(snap.value);
    if (!exists(st)) {
      this.forget(l);
      throw refusal(id, 'start', st);
    }
    return publicState(st, snap.context, l.version);
  }

  /**
   * Every container: stopped ones straight from the projection cache (nothing in the kernel
   * can change them), the others reconciled with the kernel as `state` does.
   */
  async list(): Promise<ContainerState[]> {
    return (await this.listed()).list;
  }

  /** list(), and the fold of every stream it made (as reconciled), for containers$. */
  private async listed(): Promise<{ list: ContainerState[]; states: Map<string, Replayed> }> {
    const { states, stats } = await projectAll(this.log, { cache: this.useSnapshots });
    this.lastListStats = stats;
    const out: ContainerState[] = [];
    for (const [id, r] of states) {
      if (!exists(r.state)) continue;
      if (r.state === 'stopped' && !this.live.has(id)) {
        out.push(publicState(r.state, r.context, r.version));
        continue;
      }
      try {
        const now = await this.exclusive(id, () => this.stateNow(id, r));
        out.push(now);
        // Reconciliation appended facts: the fold returned must show them too.
        if (now.version !== r.version) states.set(id, replay(id, await this.log.read(id)));
      } catch (e) {
        if (!isRuntimeError(e, 'NOT_EXISTS')) throw e;
      }
    }
    return { list: out, states };
  }

  start(id: string): Promise<void> {
    return this.command(id, 'start', { type: 'StartRequested' }).then(() => undefined);
  }

  async kill(id: string, signal: number, all = false): Promise<void> {
    validateId(id);
    // Checked before the intent is logged: a signal the kernel would refuse is bad input.
    const sig = typeof signal === 'number' ? parseSignal(signal) : parseSignal(JSON.stringify(signal) ?? String(signal));
    await this.command(id, 'kill', { type: 'KillRequested', signal: sig, all: all === true });
  }

  /** Freeze every process of the container (its cgroup's freezer). */
  pause(id: string): Promise<void> {
    return this.command(id, 'pause', { type: 'PauseRequested' }).then(() => undefined);
  }

  resume(id: string): Promise<void> {
    return this.command(id, 'resume', { type: 'ResumeRequested' }).then(() => undefined);
  }

  /** Change the container's resource limits (runc update); the new set in force is logged. */
  update(id: string, resources: OciResources): Promise<ContainerState> {
    return this.command(id, 'update', { type: 'UpdateRequested', resources });
  }

  /**
   * Run another process in a running container (runc exec): it joins every namespace and the
   * cgroup of the container, with its own user, capabilities, rlimits, cwd and env. `process`
   * is an OCI process (config.json's `process` shape; INVALID_CONFIG naming the field
   * otherwise); capabilities, rlimits and oomScoreAdj it lacks are the container's. Logged as
   * ExecRequested, ExecStarted and, once it ends, ExecExited.
   */
  async exec(id: string, process: unknown, opts: ExecOptions = {}): Promise<ExecProcess> {
    validateId(id);
    const proc = validateProcess(process);
    checkConsoleSocket(`exec ${id}`, opts.consoleSocket);
    const execId = opts.execId ?? `exec-${randomBytes(6).toString('hex')}`;
    validateId(execId, 'exec id');
    const key = execKey(id, execId);
    const { fds, streams } = openStdio(this.sys, opts.stdio);
    let started: ExecStarted | null = null;
    let master: number | null = null;
    // Registered under the container's id: its commands run one at a time (exclusive).
    this.consoleRequests.set(id, { socket: opts.consoleSocket ?? null, detached: opts.detached ?? false, keep: (fd) => { master = fd; } });
    try {
      await this.command(id, 'exec', { type: 'ExecRequested', execId, process: proc, pidFile: opts.pidFile ?? null }, {
        stdio: fds,
        onFact: (f) => {
          if (f.type === 'ExecStarted' && f.execId === execId) started = f;
        },
      });
      if (master !== null) this.keepConsole(key, master);
    } catch (e) {
      for (const s of Object.values(streams)) s?.destroy();
      if (master !== null && !this.consoles.has(key)) this.sys.close(master);
      throw e;
    } finally {
      for (const fd of fds.owned.splice(0)) this.sys.close(fd);
      this.consoleRequests.delete(id);
    }
    const s = started as ExecStarted | null;
    if (s === null) throw new RuntimeError('INTERNAL', `exec ${id}: no ExecStarted for ${execId}`);
    const tracked = this.deps.execs.get(key) ?? null;
    return new ExecProcess(id, execId, s.pid, streams, {
      wait: () => this.execExit(id, execId, tracked),
      kill: (signal) => this.killExec(id, execId, signal),
      console: () => this.console(key),
      resizeConsole: (rows, cols) => this.resizeConsole(key, rows, cols),
    });
  }

  /**
   * An exec'd process's exit: exact when this process is its parent (it reaps it), else as
   * the log records it (ExecExited; both fields null when nobody who could tell logged it, or
   * the container was deleted first).
   */
  private async execExit(id: string, execId: string, own: TrackedProcess | null): Promise<ExitInfo> {
    if (own?.child) {
      if (!own.exit) await whenReadable(this.deps.watch, own.pidfd, this.closing.signal);
      const exit = collect(this.deps, own);
      // Resolve once the exit is in the log as well (this process's watcher appends it), so a
      // history read after wait() shows ExecExited; a runtime closed meanwhile ends the wait.
      await this.loggedExecExit(id, execId).catch(() => undefined);
      return exit;
    }
    return this.loggedExecExit(id, execId);
  }

  /** The exit of an exec'd process as the log records it (ExecExited, or the container's deletion). */
  private loggedExecExit(id: string, execId: string): Promise<ExitInfo> {
    return new Promise<ExitInfo>((resolve, reject) => {
      let startedAt = -1;
      const seen = (e: StoredEvent): ExitInfo | null => {
        if (e.data.execId === execId && e.type === 'ExecStarted') startedAt = e.version;
        if (e.data.execId === execId && e.type === 'ExecExited') return { code: e.data.code as number | null, signal: e.data.signal as number | null };
        return e.type === 'Deleted' && startedAt >= 0 ? { code: null, signal: null } : null;
      };
      const done = (exit: ExitInfo) => {
        sub.unsubscribe();
        resolve(exit);
      };
      const sub = this.log.events$(id).subscribe({
        next: (e) => { const x = seen(e); if (x) done(x); },
        error: reject,
        complete: () => reject(new RuntimeError('ILLEGAL_STATE', `exec ${execId} in ${id}: runtime closed before it exited`)),
      });
      this.log.read(id).then((events) => {
        for (const e of events) {
          const x = seen(e);
          if (x) return done(x);
        }
      }, reject);
    });
  }

  /** Signal an exec'd process this runtime tracks (through its pidfd). */
  killExec(id: string, execId: string, signal: number): void {
    const p = this.deps.execs.get(execKey(id, execId));
    if (!p) throw new RuntimeError('ILLEGAL_STATE', `exec ${execId} in ${id} is not running`);
    this.sys.pidfdSendSignal(p.pidfd, signal);
  }

  /** The validated config a container was created with (from its log). */
  async config(id: string): Promise<OciConfig> {
    await this.state(id);
    const config = this.live.get(id)?.actor.getSnapshot().context.config ?? null;
    if (config === null) throw new RuntimeError('NOT_EXISTS', `container ${id} has no config`);
    return config;
  }

  /** Host pids of every process in the container's cgroup. */
  async ps(id: string): Promise<number[]> {
    return (await this.alive(id, 'ps')).cg.pids();
  }

  /**
   * Memory pressure notifications for a running container (not logged: they can be many).
   * Completes when the subscriber unsubscribes.
   */
  memoryPressure$(id: string, level: PressureLevel = 'low'): Observable<PressureLevel> {
    return new Observable<PressureLevel>((sub) => {
      let stop = (): void => undefined;
      let closed = false;
      this.alive(id, 'events').then(({ cg, cgroup }) => {
        if (!closed) stop = watchMemoryPressure(this.deps, cg, cgroup, level, (l) => sub.next(l));
      }, (e: unknown) => sub.error(e));
      return () => {
        closed = true;
        stop();
      };
    });
  }

  /** Resource usage in runc's `events --stats` shape. */
  async stats(id: string): Promise<Stats> {
    return (await this.alive(id, 'stats')).cg.stats();
  }

  /**
   * Dump the container with criu into `opts.imagePath`. It ends `checkpointed` (its processes
   * gone, OCI status stopped), or running with `leaveRunning` or `preDump`.
   */
  async checkpoint(id: string, opts: CheckpointOpts): Promise<ContainerState> {
    validateId(id);
    return this.command(id, 'checkpoint', { type: 'CheckpointRequested', options: checkpointOptions(id, opts) });
  }

  /**
   * Restore a container from criu images: a new container `id` from `opts.bundle` (any free
   * id, so also a copy of another container), or a `checkpointed` container in place.
   */
  async restore(id: string, opts: RestoreOpts): Promise<Container> {
    validateId(id);
    const options = restoreOptions(id, opts);
    const { fds, streams } = openStdio(this.sys, opts.stdio);
    this.stdio.set(id, fds);
    try {
      await this.command(id, 'restore', {
        type: 'RestoreRequested', bundle: opts.bundle ?? null, pidFile: opts.pidFile ?? null, owner: '', options,
      });
    } catch (e) {
      for (const s of Object.values(streams)) s?.destroy();
      throw e;
    } finally {
      for (const fd of fds.owned.splice(0)) this.sys.close(fd);
      this.stdio.delete(id);
    }
    return new Container(this, id, streams);
  }

  delete(id: string, force = false): Promise<void> {
    return this.command(id, 'delete', { type: 'DeleteRequested', force }).then(() => this.dropConsole(id));
  }

  /** The container's events from the log (versions `from`..`to`, inclusive). */
  async history(id: string, range: { from?: number; to?: number } = {}): Promise<StoredEvent[]> {
    validateId(id);
    const events = await this.log.read(id, range).catch((e: unknown) => this.howFar(id, e));
    if (events.length === 0 && (await this.log.read(id, { to: 1 })).length === 0) {
      const v = await this.log.version(id);
      throw new RuntimeError('NOT_EXISTS', v === 0 ? `container ${id} has no history` : `history of container ${id} was removed by gc (up to version ${v})`);
    }
    return events;
  }

  /**
   * A stream that cannot be read whole: find how far it can be (never skipping an event), and
   * say so in the STORE_CORRUPT error, so a replay up to there can still be asked for.
   */
  private async howFar(id: string, e: unknown): Promise<never> {
    if (!isRuntimeError(e, 'STORE_CORRUPT')) throw e;
    const end = await this.log.version(id);
    let good = 0;
    while (good < end && (await this.log.read(id, { from: good + 1, to: good + 1 }).then(() => true, () => false))) good++;
    throw new RuntimeError('STORE_CORRUPT', `${e.message}; the log of container ${id} is readable up to version ${good} of ${end}`, {
      ...(e.field !== undefined ? { field: e.field } : {}),
      cause: e,
    });
  }

  /** The state rebuilt from the log alone, as it was after version `at` (default: now). */
  async replay(id: string, opts: { at?: number; atTime?: Date } = {}): Promise<ContainerState | null> {
    // Up to `at` only: a log damaged further on still replays to any point before the damage.
    const events = await this.history(id, opts.at !== undefined && opts.atTime === undefined ? { to: opts.at } : {});
    let at = opts.at;
    if (opts.atTime !== undefined) {
      const t = opts.atTime.getTime();
      at = events.filter((e) => Date.parse(e.at) <= t).at(-1)?.version ?? 0;
    }
    const r = replay(id, events, at);
    return exists(r.state) || r.state === 'deleted' ? publicState(r.state, r.context, r.version) : null;
  }

  /** The exit of a container init this process is the parent of (reaping it), else null. */
  childExit(id: string): Promise<ExitInfo> | null {
    const p = this.deps.procs.get(id);
    return p?.child ? reap(this.deps, p) : null;
  }

  /**
   * The container's state now (reconciled with the kernel first, as `state`), then every
   * change; completes once it is deleted or the runtime closes.
   */
  state$(id: string): Observable<ContainerState> {
    return defer(() => from(this.state(id).catch(() => undefined))).pipe(switchMap(() => this.sharedState$(id)));
  }

  /**
   * One fold of the container's log shared by every state$ subscriber of this runtime: one log
   * subscription and one read of the stream however many subscribe, and a late subscriber
   * starts from the latest state. It ends (and the next subscriber starts a new one) when the
   * last subscriber leaves, the container is deleted or the log closes.
   */
  private sharedState$(id: string): Observable<ContainerState> {
    let shared = this.sharedStates.get(id);
    if (shared === undefined) {
      const s: Observable<ContainerState> = state$(this.log, id).pipe(
        finalize(() => {
          if (this.sharedStates.get(id) === s) this.sharedStates.delete(id);
        }),
        share({ connector: () => new ReplaySubject<ContainerState>(1), resetOnError: true, resetOnComplete: true, resetOnRefCountZero: true }),
      );
      this.sharedStates.set(id, (shared = s));
    }
    return shared;
  }

  /** The container's events committed from now on (live only); completes when the runtime closes. */
  events$For(id: string): Observable<StoredEvent> {
    return this.log.events$(id);
  }

  /** `await using rt = await openRuntime()` closes the runtime when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The container's history, then its events as they are committed; completes once it is deleted or the runtime closes. */
  containerEvents$(id: string): Observable<StoredEvent> {
    return containerEvents$(this.log, id);
  }

  /**
   * Rebuild each container (one, or all) from the log and compare it with what the kernel shows
   * (src/verify.ts). With `repair`, append what the kernel shows as Observed facts: a dangling
   * intent is reconciled as on load; a settled container whose kernel shows another status gets
   * an Observed with that status.
   */
  async verify(id?: string, opts: { repair?: boolean } = {}): Promise<VerifyReport[]> {
    if (id !== undefined) validateId(id);
    const ids = id === undefined ? await this.containerIds() : [id];
    const out: VerifyReport[] = [];
    for (const i of ids) {
      const r = await this.exclusive(i, () => this.verifyOne(i, opts.repair ?? false));
      if (r !== null) out.push(r);
      else if (id !== undefined) throw new RuntimeError('NOT_EXISTS', `container ${id} does not exist`);
    }
    return out;
  }

  private async verifyOne(id: string, repair: boolean): Promise<VerifyReport | null> {
    const events = await this.log.read(id);
    const r = replay(id, events);
    if (r.state === 'absent' || events.length === 0) return null;
    const report: VerifyReport = { id, state: r.state, version: r.version, differences: [], busy: false, repaired: null, remaining: [] };
    if (!isSettled(r.state) && this.inOtherHands(events)) return { ...report, busy: true };
    const check = (rr: Replayed) => compare(rr.state, rr.context, inspectContainer(this.deps, { ...rr.context, restoredFrom: null }));
    report.differences = check(r);
    if (!repair || report.differences.length === 0) return report;
    if (!isSettled(r.state)) {
      // A dangling intent: reconcile exactly as loading does (the machine's probe, its Observed).
      await this.load(id).catch((e: unknown) => { if (!(e instanceof Busy)) throw e; });
    } else {
      const shown = statusOf(inspectContainer(this.deps, { ...r.context, restoredFrom: null }), r.state);
      const fact = repairFact(shown, report.differences);
      if (shown !== r.state && r.snapshot.can(fact)) {
        await this.log.append(id, [toLogEvent(fact)], { expectedVersion: r.version });
        const stale = this.live.get(id);
        if (stale) this.forget(stale);
      }
    }
    const appended = (await this.log.read(id, { from: r.version + 1 })).filter((e) => e.type === 'Observed').at(-1);
    report.repaired = appended ? (fromLogEvent(appended) as Observed) : null;
    report.remaining = check(replay(id, await this.log.read(id)));
    return report;
  }

  /** Every container stream in the log (streams of networks and pods are left out: src/ids.ts). */
  async containerIds(): Promise<string[]> {
    return (await this.log.streams()).filter(isContainerStream);
  }

  /** Archive (optionally) and prune the streams of deleted containers (src/gc.ts). */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const result: GcResult = { pruned: [], kept: [] };
    for (const id of await this.containerIds()) {
      const entry = await this.exclusive(id, () => collectStream(this.log, id, opts));
      if (entry === null) result.kept.push(id);
      else result.pruned.push(entry);
    }
    return result;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new RuntimeError('ILLEGAL_STATE', 'runtime closed before the process exited'));
    await Promise.allSettled([...this.locks.values()]);
    for (const id of [...this.consoles.keys()]) this.dropConsole(id);
    for (const l of this.live.values()) {
      await l.appends;
      l.actor.stop();
    }
    this.live.clear();
    for (const p of [...this.deps.procs.values(), ...this.deps.execs.values()]) this.sys.close(p.pidfd);
    this.deps.procs.clear();
    this.deps.execs.clear();
    if (this.helper !== null) this.sys.close(this.helper);
    await this.log.close();
  }

  /**
   * The write path: the machine decides (`can`), the intent is appended (synced) with the
   * version this process last saw, then the machine runs the effect and emits facts, which
   * are appended in order. A refused or failed command throws its coded error.
   */
  private async command(
    id: string, cmd: Command, intent: Intent, opts: { stdio?: StdioFds; onFact?: (f: Fact) => void } = {},
  ): Promise<ContainerState> {
    validateId(id);
    return this.exclusive(id, async () => {
      const l = await this.decide(id, cmd, intent);
      this.crash(`${cmd}:intent`);
      if (opts.stdio) this.stdio.set(id, opts.stdio);
      const tap = opts.onFact ? l.actor.on('*', (f) => opts.onFact!(f as Fact)) : null;
      let after;
      try {
        l.actor.send(intent);
        after = await this.settle(l);
      } finally {
        tap?.unsubscribe();
        if (opts.stdio) this.stdio.delete(id);
      }
      const state = leafState(after.value);
      // A deleted container needs no live machine: the log keeps it.
      if (state === 'deleted') this.forget(l);
      if (after.context.error) throw fromErrorInfo(after.context.error);
      return publicState(state, after.context, l.version);
    });
  }

  /**
   * Load the container, let the machine decide, and append the intent with the version this
   * process saw. Another process's operation in flight is waited for; an append that lost a
   * race (CONFLICT) is decided again on the fresh log, so callers see CONFLICT only if the
   * stream kept changing, and ILLEGAL_STATE when the machine no longer accepts the command.
   */
  private async decide(id: string, cmd: Command, intent: Intent): Promise<Live> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    const force = intent.type === 'DeleteRequested' && intent.force;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new RuntimeError('ILLEGAL_STATE', `${cmd} ${id}: runtime is closed`);
      let l: Live;
      try {
        l = await this.load(id);
      } catch (e) {
        if (!(e instanceof Busy)) throw e;
        if (Date.now() >= deadline) throw refusal(id, cmd, e.replayed.state);
        await this.changed(id, e.replayed.version, deadline - Date.now());
        continue;
      }
      const snap = l.actor.getSnapshot();
      if (!snap.can(intent)) throw refusal(id, cmd, leafState(snap.value), force);
      // What the kernel shows can refuse it too, before anything is logged.
      if (intent.type === 'CheckpointRequested') refuseStopped(this.deps, snap.context, `checkpoint ${id}`);
      const e = { ...toLogEvent(intent), meta: { by: this.executor } };
      let r;
      try {
        r = await this.log.append(id, [e], { expectedVersion: l.version, sync: IRREVERSIBLE.has(intent.type) });
      } catch (err) {
        if (!isRuntimeError(err, 'CONFLICT') || attempt >= CONFLICT_RETRIES) throw err;
        continue;
      }
      l.version = r.nextVersion;
      if (l.actor.getSnapshot().can(intent)) return l;
      // A fact (the init's exit, from its watcher) reached the live copy while the intent was
      // being appended: the log has the intent first and the fact after it, the copy the other
      // order, and no longer takes the intent. Its effect never ran, so the intent is settled
      // as one whose executor died: the copy is rebuilt from the log and reconciled.
      await l.appends;
      this.forget(l);
      const settled = await this.load(id);
      throw refusal(id, cmd, leafState(settled.actor.getSnapshot().value), force);
    }
  }

  /** Resolves once the stream is past `version` (or after `ms`): another process's outcome arrived. */
  private changed(id: string, version: number, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let sub: Subscription | undefined;
      let over = false;
      const done = () => {
        over = true;
        clearTimeout(timer);
        sub?.unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      sub = this.log.events$(id).subscribe({ next: done, error: done, complete: done });
      // A log that is closed answers during subscribe, before `sub` was set.
      if (over) sub.unsubscribe();
      // Subscribed first, then checked: nothing committed in between is missed.
      this.log.version(id).then((v) => { if (v !== version) done(); }, done);
    });
  }

  /**
   * The stream ends inside an operation that another live process is carrying out: its last
   * intent names an executor that is not this runtime and still runs (same pid, same start
   * time). A process killed mid-operation fails this test, and its container is reconciled.
   */
  private inOtherHands(events: readonly StoredEvent[]): boolean {
    const intent = events.findLast((e) => e.type.endsWith('Requested'));
    const by = intent?.meta?.by as Partial<Executor> | undefined;
    if (typeof by?.pid !== 'number' || by.rt === this.executor.rt) return false;
    const stat = readProcStat(by.pid);
    return stat !== null && stat.startTime === by.start && stat.state !== 'Z' && stat.state !== 'X';
  }

  /** The cgroup of a container that is not stopped (ILLEGAL_STATE otherwise). */
  private async alive(id: string, what: string): Promise<{ cg: CgroupManager; cgroup: string }> {
    const s = await this.state(id);
    if (s.status === 'stopped') throw new RuntimeError('ILLEGAL_STATE', `${what} ${id}: container not running`);
    const cgroup = this.live.get(id)?.actor.getSnapshot().context.cgroup ?? null;
    return { cg: cgroupOf(this.deps, { id, cgroup }), cgroup: cgroup ?? '' };
  }

  /**
   * The live machine of a container, rebuilt from the log when this process's copy is stale
   * (from `pre`, a fold list() already made, when it is current). Throws Busy instead of
   * reconciling a container another live process is in the middle of changing.
   */
  private async load(id: string, pre?: Replayed): Promise<Live> {
    for (let attempt = 0; ; attempt++) {
      const cached = this.live.get(id);
      // Facts this process is still appending make the log look ahead of its own copy.
      await cached?.appends;
      const version = await this.log.version(id);
      if (cached && cached.version === version) return cached;
      if (cached) {
        cached.actor.stop();
        this.live.delete(id);
      }
      let r = pre !== undefined && pre.version === version ? pre : undefined;
      if (r === undefined || !isSettled(r.state)) {
        const events = await this.log.read(id);
        // A stream gc pruned reads empty but keeps its version: the id is free, after it.
        r = events.length === 0 ? { ...replay(id, []), version } : replay(id, events);
        if (!isSettled(r.state) && this.inOtherHands(events)) throw new Busy(r);
      }
      const l = this.spawn(id, r.state, r.context, r.version);
      await this.settle(l);
      if (l.version >= 0) {
        await this.reapExited(l, await this.log.read(id));
        return l;
      }
      // Another process wrote while this one reconciled: its copy is stale before it is used.
      this.forget(l);
      if (attempt >= CONFLICT_RETRIES) throw new RuntimeError('CONFLICT', `container ${id}: the log kept changing while it was loaded`);
    }
  }

  /**
   * Inits of this stream that are this process's own children and exited while no runtime here
   * watched them (the runtime was closed, another process killed or deleted them) are zombies
   * only we can reap: reap them, and complete a logged exit whose status was unknown.
   */
  private async reapExited(l: Live, events: readonly StoredEvent[]): Promise<void> {
    for (const e of events) {
      const { pid, startTime } = e.data;
      if (e.type !== 'Created' || typeof pid !== 'number' || typeof startTime !== 'string') continue;
      const tracked = this.deps.procs.get(l.id);
      const mine = tracked?.pid === pid && tracked.startTime === startTime ? tracked : null;
      const state = leafState(l.actor.getSnapshot().value);
      const gone = state === 'checkpointed' || state === 'deleted';
      // Tracked and alive here: its watcher or the probe reaps it. A container another process
      // checkpointed or deleted has no watcher left here, only its zombie.
      if (mine && !gone && state !== 'stopped') continue;
      const exit = reapIfOurs(this.deps, mine, { pid, startTime });
      if (mine && gone) untrack(this.deps, l.id);
      if (!exit) continue;
      const snap = l.actor.getSnapshot();
      const completes: ContainerEvent = { type: 'Exited', ...exit };
      if (snap.context.pid === pid && snap.context.startTime === startTime && snap.can(completes)) {
        l.actor.send(completes);
        await this.settle(l);
      }
    }
  }

  private spawn(id: string, state: MachineState, context: ContainerContext, version: number): Live {
    const input = state === 'absent' ? { id } : { id, restore: { state, context } };
    const actor = createActor(this.machine, { input });
    const l: Live = { id, actor, version, appends: Promise.resolve() };
    actor.on('*', (fact) => {
      // Which init the fact is about: by the time it is appended the stream may hold another.
      const about = initOf(actor.getSnapshot().context);
      l.appends = l.appends.then(() => this.appendFact(l, fact as Fact, about));
    });
    actor.subscribe({ error: (e) => this.logger.error({ id, err: e }, 'container machine failed') });
    actor.start();
    this.live.set(id, l);
    return l;
  }

  /**
   * Append a fact the machine accepted. If another process appended to the stream meanwhile,
   * the fact still holds: append it after theirs when the machine, replayed from the log,
   * accepts it there; the stale live copy is rebuilt on its next use.
   */
  private async appendFact(l: Live, fact: Fact, about: string): Promise<void> {
    const point = outcomePoint(fact.type);
    if (point !== undefined) this.crash(point);
    const e = toLogEvent(fact);
    // null: our copy is stale (another process wrote), so the fact is decided again on the log.
    let expected: number | null = l.version >= 0 ? l.version : null;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (expected === null) {
        const current = await this.log.read(l.id).then((events) => replay(l.id, events), () => null);
        // A fact about another init (a watcher of an incarnation since deleted and created
        // again by another process) does not hold for the one the log now has.
        const sameInit = fact.type === 'Created' || (current !== null && initOf(current.context) === about);
        if (!sameInit || !current?.snapshot.can(fact as ContainerEvent)) {
          this.logger.warn({ id: l.id, type: fact.type }, 'fact superseded by another process');
          l.version = -1;
          return;
        }
        expected = current.version;
      }
      try {
        const r = await this.log.append(l.id, [e], { expectedVersion: expected });
        // Our copy is current only if nobody else wrote in between.
        l.version = expected === l.version ? r.nextVersion : -1;
        return;
      } catch (err) {
        if (!isRuntimeError(err, 'CONFLICT')) {
          this.logger.error({ id: l.id, err, type: fact.type }, 'appending a fact failed');
          return;
        }
        expected = null;
      }
    }
    this.logger.error({ id: l.id, type: fact.type }, 'fact not appended: the stream kept changing');
    l.version = -1;
  }

  private forget(l: Live): void {
    l.actor.stop();
    if (this.live.get(l.id) === l) this.live.delete(l.id);
  }

  /** Wait until the machine rests in a settled state and every fact it emitted is in the log. */
  private async settle(l: Live) {
    const snap = await waitFor(l.actor, (s) => isSettled(leafState(s.value)) || s.status !== 'active', { timeout: Infinity });
    let pending: Promise<void>;
    do {
      pending = l.appends;
      await pending;
    } while (pending !== l.appends);
    if (snap.status === 'error') throw new RuntimeError('INTERNAL', `container ${l.id}: machine failed`, { cause: snap.error });
    return l.actor.getSnapshot();
  }

  /** Run `fn` with no other operation on the same container in this process. */
  private exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }
}
