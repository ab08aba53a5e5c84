import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { Observable } from 'rxjs';
import { createActor, waitFor, type Actor } from 'xstate';
import { Container } from './container.js';
import { RuntimeError, isRuntimeError } from './errors.js';
import { makeEffects } from './effects/index.js';
import type { EffectDeps, TrackedProcess, StdioFds } from './effects/deps.js';
import { fdWatchHub } from './effects/fdWatch.js';
import { readCgroupLayout, type CgroupLayout } from './effects/cgroupLayout.js';
import { initHelperPath, linuxSyscalls } from './effects/linux.js';
import { DEFAULT_ROOT, rootPaths, type RootPaths } from './effects/paths.js';
import { openStdio, type StdioSpec } from './effects/stdio.js';
import type { Syscalls } from './effects/syscalls.js';
import { validateId } from './ids.js';
import { parseSignal } from './signals.js';
import { containerMachine, type ContainerContext } from './machines/container.machine.js';
import { SCHEMAS, toLogEvent, type ContainerEvent, type ExitInfo, type Fact, type Intent } from './machines/events.js';
import { reap, reapOwnZombie } from './effects/reap.js';
import { watchMemoryPressure, type PressureLevel } from './effects/memoryEvents.js';
import { cgroupOf } from './effects/cgroup.js';
import type { CgroupManager, Stats } from './effects/cgroups/index.js';
import type { OciResources } from './machines/spec.js';
import { exists, fromErrorInfo, isSettled, leafState, refusal, type Command, type MachineState } from './machines/lifecycle.js';
import { publicState, replay, type ContainerState } from './machines/replay.js';
import type { EventLog, StoredEvent } from './store/eventLog.js';
import { openEventLog } from './store/openLog.js';
import { state$ } from './store/projections.js';

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
}

export interface CreateOptions {
  /** Absolute path of the OCI bundle (a directory holding config.json and the rootfs). */
  bundle: string;
  pidFile?: string;
  /** The container's stdio (default `inherit`). With `pipe`, `container.stdio` holds the streams. */
  stdio?: StdioSpec;
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
const IRREVERSIBLE: ReadonlySet<Intent['type']> = new Set(['CreateRequested', 'StartRequested', 'KillRequested', 'DeleteRequested']);

/** Open a runtime on a root. The returned runtime owns no global state; close it when done. */
export async function openRuntime(opts: RuntimeOptions = {}): Promise<Runtime> {
  const root = opts.root ?? DEFAULT_ROOT;
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const serve = opts.serve ?? true;
  // A process that will hold the root for long (it serves) can afford to wait longer for a
  // burst of one-shot commands to let go of the lock.
  const lockTimeoutMs = opts.lockTimeoutMs ?? (serve ? 30_000 : 5_000);
  const { log, mode } = await openEventLog(root, { serve, lockTimeoutMs, schemas: SCHEMAS });
  return new Runtime(root, log, mode, opts.syscalls ?? linuxSyscalls(), opts.logger ?? pino({ level: 'silent' }), opts.systemdCgroup ?? false);
}

export class Runtime {
  readonly paths: RootPaths;
  private readonly live = new Map<string, Live>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly stdio = new Map<string, StdioFds>();
  private readonly deps: EffectDeps;
  private readonly machine;
  private helper: number | null = null;
  private layout: CgroupLayout | null = null;
  private closed = false;

  constructor(
    readonly root: string,
    readonly log: EventLog,
    /** `owner`: this process holds the log; `remote`: it talks to the process that does. */
    readonly mode: 'owner' | 'remote',
    readonly sys: Syscalls,
    readonly logger: Logger,
    systemdCgroup = false,
  ) {
    this.paths = rootPaths(root);
    const procs = new Map<string, TrackedProcess>();
    this.deps = {
      sys,
      paths: this.paths,
      procs,
      watch: fdWatchHub(sys),
      log: logger,
      helperFd: () => (this.helper ??= sys.sealedCopy(initHelperPath())),
      cgroups: () => (this.layout ??= readCgroupLayout()),
      systemdCgroup,
      stdioFor: (id) => this.stdio.get(id) ?? { fds: [0, 1, 2], owned: [] },
    };
    this.machine = containerMachine.provide({ actors: makeEffects(this.deps) });
  }

  /** Every event of every container, live, in commit order. */
  get events$(): Observable<StoredEvent> {
    return this.log.events$();
  }

  async create(id: string, opts: CreateOptions): Promise<Container> {
    validateId(id);
    if (typeof opts?.bundle !== 'string' || !opts.bundle.startsWith('/')) {
      throw new RuntimeError('INVALID_ARGUMENT', `create ${id}: bundle must be an absolute path, got ${JSON.stringify(opts?.bundle)}`, { field: 'bundle' });
    }
    const { fds, streams } = openStdio(this.sys, opts.stdio);
    this.stdio.set(id, fds);
    try {
      await this.command(id, 'create', {
        type: 'CreateRequested', bundle: opts.bundle, pidFile: opts.pidFile ?? null, owner: '',
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

  /** A handle on an existing container (NOT_EXISTS otherwise). */
  async get(id: string): Promise<Container> {
    await this.state(id);
    return new Container(this, id, { stdin: null, stdout: null, stderr: null });
  }

  /** The container's state now: replay of its log, reconciled with the kernel. */
  async state(id: string): Promise<ContainerState> {
    validateId(id);
    return this.exclusive(id, async () => {
      const l = await this.load(id);
      const snap = l.actor.getSnapshot();
      const st = leafState(snap.value);
      if (!exists(st)) {
        this.forget(l);
        throw refusal(id, 'start', st);
      }
      return publicState(st, snap.context, l.version);
    });
  }

  async list(): Promise<ContainerState[]> {
    const out: ContainerState[] = [];
    for (const id of await this.log.streams()) {
      try {
        out.push(await this.state(id));
      } catch (e) {
        if (!isRuntimeError(e, 'NOT_EXISTS')) throw e;
      }
    }
    return out;
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

  delete(id: string, force = false): Promise<void> {
    return this.command(id, 'delete', { type: 'DeleteRequested', force }).then(() => undefined);
  }

  /** The container's events from the log (versions `from`..`to`, inclusive). */
  async history(id: string, range: { from?: number; to?: number } = {}): Promise<StoredEvent[]> {
    validateId(id);
    const events = await this.log.read(id, range);
    if (events.length === 0 && (await this.log.version(id)) === 0) {
      throw new RuntimeError('NOT_EXISTS', `container ${id} has no history`);
    }
    return events;
  }

  /** The state rebuilt from the log alone, as it was after version `at` (default: now). */
  async replay(id: string, opts: { at?: number; atTime?: Date } = {}): Promise<ContainerState | null> {
    const events = await this.history(id);
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

  state$(id: string): Observable<ContainerState> {
    return state$(this.log, id);
  }

  events$For(id: string): Observable<StoredEvent> {
    return this.log.events$(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.locks.values()]);
    for (const l of this.live.values()) {
      await l.appends;
      l.actor.stop();
    }
    this.live.clear();
    for (const p of this.deps.procs.values()) this.sys.close(p.pidfd);
    this.deps.procs.clear();
    if (this.helper !== null) this.sys.close(this.helper);
    await this.log.close();
  }

  /**
   * The write path: the machine decides (`can`), the intent is appended (synced) with the
   * version this process last saw, then the machine runs the effect and emits facts, which
   * are appended in order. A refused or failed command throws its coded error.
   */
  private async command(id: string, cmd: Command, intent: Intent): Promise<ContainerState> {
    validateId(id);
    return this.exclusive(id, async () => {
      if (this.closed) throw new RuntimeError('ILLEGAL_STATE', `${cmd} ${id}: runtime is closed`);
      const l = await this.load(id);
      const snap = l.actor.getSnapshot();
      const st = leafState(snap.value);
      if (!snap.can(intent)) throw refusal(id, cmd, st, intent.type === 'DeleteRequested' && intent.force);
      const r = await this.log.append(id, [toLogEvent(intent)], { expectedVersion: l.version, sync: IRREVERSIBLE.has(intent.type) });
      l.version = r.nextVersion;
      l.actor.send(intent);
      const after = await this.settle(l);
      const state = leafState(after.value);
      // A deleted container needs no live machine: the log keeps it.
      if (state === 'deleted') this.forget(l);
      if (after.context.error) throw fromErrorInfo(after.context.error);
      return publicState(state, after.context, l.version);
    });
  }

  /** The cgroup of a container that is not stopped (ILLEGAL_STATE otherwise). */
  private async alive(id: string, what: string): Promise<{ cg: CgroupManager; cgroup: string }> {
    const s = await this.state(id);
    if (s.status === 'stopped') throw new RuntimeError('ILLEGAL_STATE', `${what} ${id}: container not running`);
    const cgroup = this.live.get(id)?.actor.getSnapshot().context.cgroup ?? null;
    return { cg: cgroupOf(this.deps, { id, cgroup }), cgroup: cgroup ?? '' };
  }

  /** The live machine of a container, rebuilt from the log when this process's copy is stale. */
  private async load(id: string): Promise<Live> {
    const cached = this.live.get(id);
    // Facts this process is still appending make the log look ahead of its own copy.
    await cached?.appends;
    const version = await this.log.version(id);
    if (cached && cached.version === version) return cached;
    if (cached) {
      cached.actor.stop();
      this.live.delete(id);
    }
    const events = await this.log.read(id);
    const r = replay(id, events);
    const l = this.spawn(id, r.state, r.context, r.version);
    await this.settle(l);
    await this.reapExited(l, events);
    return l;
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
      if (this.deps.procs.get(l.id)?.pid === pid) continue; // tracked: its watcher or probe reaps it
      const exit = reapOwnZombie(this.deps, { pid, startTime });
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
      l.appends = l.appends.then(() => this.appendFact(l, fact as Fact));
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
  private async appendFact(l: Live, fact: Fact): Promise<void> {
    const e = toLogEvent(fact);
    let expected = l.version;
    for (let attempt = 0; attempt < 10; attempt++) {
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
        const current = await this.log.read(l.id).then((events) => replay(l.id, events), () => null);
        if (!current?.snapshot.can(fact as ContainerEvent)) {
          this.logger.warn({ id: l.id, type: fact.type }, 'fact superseded by another process');
          l.version = -1;
          return;
        }
        expected = current.version;
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
