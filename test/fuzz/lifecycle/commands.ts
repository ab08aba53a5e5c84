/**
 * The commands of the lifecycle fuzz (fast-check `fc.commands`). Each one is a class: how to
 * drive the operation (library call and CLI arguments), when the runtime must refuse it and
 * with which code, and what the model becomes when it succeeds. The base class runs it, checks
 * that a refused operation changed nothing, and runs every invariant (check.ts) afterwards.
 *
 * A new operation (exec, checkpoint, restore) is a new ContainerCommand subclass plus an entry
 * in COMMANDS; `cliCrash` then kills the CLI in the middle of it too, with no change there.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { ErrorCode } from '../../../src/errors.js';
import { signalName } from '../../../src/signals.js';
import { checkAll, fingerprint, mismatches, observe } from './check.js';
import { lastCreated } from './kernel.js';
import { container, exists, IDS, kernelLimits, noExecs, type ContainerModel, type Limits, type Model } from './model.js';
import type { Intent } from '../../../src/machines/events.js';
import { releaseFifo, type InitHandle } from './byhand.js';
import {
  killsExec, newInit, signalInit, startInit, thawInit, SHELL_READY_MASK, SIGCONT, SIGKILL, STOP_SIGNALS, type Program,
} from './program.js';
import { Real, resourcesOf, type Outcome, type Via } from './real.js';

/** Longest any single operation may take before the run fails as hung. */
export const COMMAND_MS = 30_000;

export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} hung: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const VERBOSE = process.env.BERTH_FUZZ_VERBOSE === '1';
const note = (text: string) => {
  if (VERBOSE) console.log(`    ${text}`);
};

const clone = (c: ContainerModel): ContainerModel => structuredClone(c);

export function countOp(m: Model, kind: string): void {
  m.stats.ops[kind] = (m.stats.ops[kind] ?? 0) + 1;
}

export abstract class LifecycleCommand implements fc.AsyncCommand<Model, Real> {
  check(_m: Readonly<Model>): boolean {
    return true;
  }

  async run(m: Model, r: Real): Promise<void> {
    m.stats.commands++;
    countOp(m, this.kind());
    m.transcript.push(String(this));
    if (VERBOSE) console.log(`  ${this}`);
    await within(COMMAND_MS, String(this), this.reapsMeanwhile() ? r.reaping(() => this.apply(m, r)) : this.apply(m, r));
    await checkAll(m, r, String(this));
  }

  protected abstract apply(m: Model, r: Real): Promise<void>;
  abstract toString(): string;

  /** Whether the test reaps as a shim while the command runs (see Real.reaping). */
  reapsMeanwhile(): boolean {
    return true;
  }

  /** The operation's name in the run's counters (a wrapper counts the operation it interrupts). */
  kind(): string {
    return this.constructor.name.replace(/Command$/, '').replace(/^./, (ch) => ch.toLowerCase());
  }
}

/**
 * Which container a command works on, chosen when it is about to run: with `legal`, one for
 * which the model says the operation is allowed (if there is one), so most commands do real
 * work; otherwise any id, so refusals are exercised too.
 */
export interface Target {
  legal: boolean;
  n: number;
}

/** An operation on one container, through the library or the CLI. */
export abstract class ContainerCommand extends LifecycleCommand {
  /** The container id, resolved from `target` by check() just before the command runs. */
  id: string = IDS[0];

  constructor(readonly target: Target, readonly via: Via) {
    super();
  }

  override check(m: Readonly<Model>): boolean {
    const usable = IDS.filter((i) => this.refusal(m.containers.get(i)!) === null && this.runnable(m.containers.get(i)!));
    this.id = this.target.legal && usable.length > 0 ? usable[this.target.n % usable.length]! : IDS[this.target.n % IDS.length]!;
    return this.runnable(m.containers.get(this.id)!);
  }

  /** False for the few states in which the operation would block for ever (see StartCommand). */
  runnable(_c: ContainerModel): boolean {
    return true;
  }

  /** The code the runtime must refuse the operation with in this state, or null if it is legal. */
  abstract refusal(c: ContainerModel): ErrorCode | null;
  abstract lib(r: Real): Promise<void>;
  abstract cliArgs(r: Real): string[];
  /** The model after the operation succeeded (a fresh copy). */
  abstract next(c: ContainerModel): ContainerModel;

  /** Other states a CLI killed in the middle of this operation may leave, once reconciled. */
  interrupted(_c: ContainerModel): ContainerModel[] {
    return [];
  }

  /** Wait for what the model assumes right after success (see StartCommand). */
  async settle(_r: Real, _c: ContainerModel): Promise<void> {}

  /** The intent the runtime logs before the operation's effect (crash.ts logs it by hand). */
  abstract intent(r: Real): Intent;

  /**
   * The operation's effect done straight on the kernel, without berth, as a runtime killed
   * right after it would leave it (crash.ts); null when the effect cannot be done by hand.
   */
  byHand(_r: Real, _c: ContainerModel, _init: InitHandle): Promise<void> | null {
    return null;
  }

  protected label(args: string): string {
    return `${this.kind()}(${this.id}${args}${this.via === 'cli' ? ', cli' : ''})`;
  }

  toString(): string {
    return this.label('');
  }

  /** Commands that, as runc's, succeed on a container that does not exist. */
  succeedsWhenMissing(): boolean {
    return false;
  }

  /** What a `berth` process's outcome means for this operation (see ExecCommand). */
  cliOutcome(out: Outcome): Outcome {
    return out;
  }

  async perform(r: Real): Promise<Outcome> {
    if (this.via === 'cli') return this.cliOutcome((await r.cli(this.cliArgs(r))).outcome);
    try {
      await this.lib(r);
      return { ok: true };
    } catch (e) {
      const err = e as { code?: unknown; message?: unknown };
      if (typeof err?.code === 'string' && e instanceof Error) return { ok: false, code: err.code, message: e.message };
      throw e;
    }
  }

  protected async apply(m: Model, r: Real): Promise<void> {
    const c = container(m, this.id);
    const refusal = this.refusal(c);
    if (refusal === 'NOT_EXISTS' && this.succeedsWhenMissing()) {
      // runc's CLI semantics: the command succeeds and changes nothing.
      const before = await fingerprint(r);
      const out = await this.perform(r);
      assert.ok(out.ok, `${this} on a missing container should succeed: [${out.ok ? '' : out.code}]`);
      assert.equal(await fingerprint(r), before, `${this} on a missing container changed the log or the kernel`);
      note('missing: no-op');
      return;
    }
    if (refusal !== null) {
      m.stats.refused++;
      const before = await fingerprint(r);
      const out = await this.perform(r);
      assert.ok(!out.ok, `${this} should be refused with ${refusal} in state ${c.status}, but succeeded`);
      assert.equal(out.code, refusal, `${this} in state ${c.status}: ${out.message}`);
      assert.equal(await fingerprint(r), before, `${this} was refused but changed the log or the kernel`);
      note(`refused: ${out.code}`);
      return;
    }
    const out = await this.perform(r);
    if (!out.ok) assert.fail(`${this} in state ${c.status} failed: [${out.code}] ${out.message}`);
    const next = this.next(c);
    // A CLI command that sees the exit logs it without status (it is not the init's parent).
    if (this.via === 'cli' && next.exit !== null && c.exit === null) next.exitMayBeUnknown = true;
    m.containers.set(this.id, next);
    await this.settle(r, next);
  }
}

export function refuseUnless(c: ContainerModel, ...allowed: ContainerModel['status'][]): ErrorCode | null {
  if (!exists(c)) return 'NOT_EXISTS';
  return allowed.includes(c.status) ? null : 'ILLEGAL_STATE';
}

/**
 * Apply a change to the init; an init that exited makes the container stopped, and takes every
 * exec'd process with it (its pid namespace is torn down).
 */
export function withInit(c: ContainerModel, change: (init: NonNullable<ContainerModel['init']>) => NonNullable<ContainerModel['init']>): ContainerModel {
  const n = clone(c);
  const init = change(n.init!);
  n.init = init;
  if (init.exit && n.status !== 'stopped') {
    n.status = 'stopped';
    n.exit = init.exit;
  }
  return init.exit ? noExecs(n) : n;
}

export class CreateCommand extends ContainerCommand {
  constructor(target: Target, via: Via, readonly program: Program, readonly limits: Limits) {
    super(target, via);
  }

  override toString(): string {
    return this.label(`, ${this.program}, ${JSON.stringify(this.limits)}`);
  }

  refusal(c: ContainerModel): ErrorCode | null {
    return exists(c) ? 'ID_IN_USE' : null;
  }

  async lib(r: Real): Promise<void> {
    await r.runtime().create(this.id, { bundle: r.bundle(this.program, this.limits), stdio: 'ignore' });
  }

  cliArgs(r: Real): string[] {
    return ['create', '--bundle', r.bundle(this.program, this.limits), this.id];
  }

  intent(): Intent {
    return { type: 'CreateRequested', bundle: '', pidFile: null, owner: '' };
  }

  /** A CLI-created init's exit may be reaped by the subreaper (the shim) before berth sees its status. */
  next(c: ContainerModel): ContainerModel {
    return {
      ...clone(c), status: 'created', pausedFrom: 'running', init: newInit(this.program), limits: { ...this.limits },
      exit: null, exitMayBeUnknown: this.via === 'cli', parent: this.via, halfDeleted: false,
      execs: [], doomed: [], execsStopped: false, execSeq: 0, strayExec: false, image: null,
    };
  }

  /** Remember the inits this process is the parent of: the shim must not reap those. */
  override async settle(r: Real, c: ContainerModel): Promise<void> {
    const created = lastCreated(await r.runtime().log.read(c.id));
    if (created && c.parent === 'lib') r.libInits.add(created.pid);
  }
}

export class StartCommand extends ContainerCommand {
  /** A SIGSTOPped berth-init never reaches the exec fifo: start would wait for it forever, as runc's does. */
  override runnable(c: ContainerModel): boolean {
    return !(c.status === 'created' && c.init?.stopped);
  }

  refusal(c: ContainerModel): ErrorCode | null {
    return refuseUnless(c, 'created');
  }

  lib(r: Real): Promise<void> {
    return r.runtime().start(this.id);
  }

  cliArgs(): string[] {
    return ['start', this.id];
  }

  intent(): Intent {
    return { type: 'StartRequested' };
  }

  /** The exec-fifo handshake (open, the init writes its byte and execs), without reading the byte or removing the fifo. */
  override byHand(r: Real, _c: ContainerModel, init: InitHandle): Promise<void> {
    return releaseFifo(join(r.root, 'containers', this.id, 'exec.fifo'), init);
  }

  next(c: ContainerModel): ContainerModel {
    return { ...withInit(c, startInit), ...(c.init?.program === 'service' ? { status: 'running' as const } : {}) };
  }

  /** Signals reach pid 1 only once the shell has installed its traps: wait for them (/proc SigCgt). */
  override async settle(r: Real, c: ContainerModel): Promise<void> {
    await shellReady(r, c);
  }
}

export async function shellReady(r: Real, c: ContainerModel): Promise<void> {
  if (c.status !== 'running' || c.init?.phase !== 'shell') return;
  const created = lastCreated(await r.runtime().log.read(c.id));
  if (!created) return;
  for (let i = 0; i < 500; i++) {
    let caught = 0n;
    try {
      const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${created.pid}/status`, 'latin1'));
      caught = BigInt(`0x${m?.[1] ?? '0'}`);
    } catch {
      return; // exited: the checks will say whether it should have
    }
    if ((caught & SHELL_READY_MASK) === SHELL_READY_MASK) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`${c.id}: the shell never installed its signal handlers`);
}

export class KillCommand extends ContainerCommand {
  constructor(target: Target, via: Via, readonly signal: number, readonly all: boolean) {
    super(target, via);
  }

  override toString(): string {
    return this.label(`, ${signalName(this.signal)}${this.all ? ', all' : ''}`);
  }

  refusal(c: ContainerModel): ErrorCode | null {
    return refuseUnless(c, 'created', 'running', 'paused');
  }

  lib(r: Real): Promise<void> {
    return r.runtime().kill(this.id, this.signal, this.all);
  }

  cliArgs(): string[] {
    return ['kill', ...(this.all ? ['--all'] : []), this.id, String(this.signal)];
  }

  intent(): Intent {
    return { type: 'KillRequested', signal: this.signal, all: this.all };
  }

  override async byHand(_r: Real, c: ContainerModel, init: InitHandle): Promise<void> {
    for (const pid of this.all ? init.procs() : [init.pid]) {
      try {
        process.kill(pid, this.signal);
      } catch {
        // gone
      }
    }
    if (c.status === 'paused' && this.signal === SIGKILL) init.freezer('THAWED');
  }

  /**
   * A paused container stays frozen, except that SIGKILL thaws it so the init can die (runc).
   * `--all` reaches the exec'd processes too: a fatal signal kills them, once thawed.
   */
  next(c: ContainerModel): ContainerModel {
    const n = withInit(c, (init) => signalInit(init, this.signal, c.status === 'paused'));
    if (this.all && n.execs.length > 0 && (STOP_SIGNALS.has(this.signal) || this.signal === SIGCONT)) n.execsStopped = this.signal !== SIGCONT;
    if (!this.all || !killsExec(this.signal) || n.execs.length === 0) return n;
    return c.status === 'paused' && this.signal !== SIGKILL ? { ...n, doomed: [...n.execs] } : { ...n, execs: [], doomed: [] };
  }
}

export class PauseCommand extends ContainerCommand {
  refusal(c: ContainerModel): ErrorCode | null {
    return refuseUnless(c, 'created', 'running');
  }

  lib(r: Real): Promise<void> {
    return r.runtime().pause(this.id);
  }

  cliArgs(): string[] {
    return ['pause', this.id];
  }

  intent(): Intent {
    return { type: 'PauseRequested' };
  }

  override async byHand(_r: Real, _c: ContainerModel, init: InitHandle): Promise<void> {
    init.freezer('FROZEN');
    for (let i = 0; i < 200 && init.freezerState() !== 'FROZEN'; i++) await new Promise((res) => setTimeout(res, 5));
  }

  next(c: ContainerModel): ContainerModel {
    return { ...clone(c), status: 'paused', pausedFrom: c.status === 'created' ? 'created' : 'running' };
  }
}

export class ResumeCommand extends ContainerCommand {
  refusal(c: ContainerModel): ErrorCode | null {
    return refuseUnless(c, 'paused');
  }

  lib(r: Real): Promise<void> {
    return r.runtime().resume(this.id);
  }

  cliArgs(): string[] {
    return ['resume', this.id];
  }

  intent(): Intent {
    return { type: 'ResumeRequested' };
  }

  override async byHand(_r: Real, _c: ContainerModel, init: InitHandle): Promise<void> {
    init.freezer('THAWED');
  }

  next(c: ContainerModel): ContainerModel {
    const thawed = { ...clone(c), status: c.pausedFrom, execs: c.execs.filter((t) => !c.doomed.includes(t)), doomed: [] };
    return withInit(thawed, thawInit);
  }
}

export class UpdateCommand extends ContainerCommand {
  constructor(target: Target, via: Via, readonly limits: Limits) {
    super(target, via);
  }

  override toString(): string {
    return this.label(`, ${JSON.stringify(this.limits)}`);
  }

  refusal(c: ContainerModel): ErrorCode | null {
    return refuseUnless(c, 'created', 'running', 'paused');
  }

  async lib(r: Real): Promise<void> {
    await r.runtime().update(this.id, resourcesOf(this.limits));
  }

  cliArgs(): string[] {
    const l = this.limits;
    return [
      'update',
      ...(l.memory !== undefined ? ['--memory', String(l.memory)] : []),
      ...(l.pids !== undefined ? ['--pids-limit', String(l.pids)] : []),
      ...(l.shares !== undefined ? ['--cpu-shares', String(l.shares)] : []),
      this.id,
    ];
  }

  next(c: ContainerModel): ContainerModel {
    const n = clone(c);
    n.limits = { ...n.limits, ...this.limits };
    return n;
  }

  intent(): Intent {
    return { type: 'UpdateRequested', resources: resourcesOf(this.limits) };
  }

  /**
   * Reconciliation completes an interrupted update group by group (memory, cpu, pids): a group
   * is in force when the cgroup shows its values, so one the cgroup already showed counts as
   * done though nothing was written (memory -1 on a container without a limit). Any subset of
   * the groups may have been written.
   */
  override interrupted(c: ContainerModel): ContainerModel[] {
    const keys = (Object.keys(this.limits) as (keyof Limits)[]).filter((k) => this.limits[k] !== undefined);
    const before = kernelLimits(c.limits);
    const shown = (k: keyof Limits) => kernelLimits({ [k]: this.limits[k] })[k] === before[k];
    const out: ContainerModel[] = [];
    for (let written = 0; written < 1 << keys.length; written++) {
      const applied = keys.filter((k, i) => (written & (1 << i)) !== 0 || shown(k));
      out.push({ ...clone(c), limits: { ...c.limits, ...Object.fromEntries(applied.map((k) => [k, this.limits[k]])) } });
    }
    return out;
  }

  /** The limit files written, the outcome not logged. */
  override async byHand(_r: Real, _c: ContainerModel, init: InitHandle): Promise<void> {
    const k = kernelLimits(this.limits);
    if (this.limits.memory !== undefined) init.write('memory', 'memory.limit_in_bytes', k.memory === 'unlimited' ? '-1' : String(k.memory));
    if (this.limits.shares !== undefined) init.write('cpu', 'cpu.shares', String(k.shares));
    if (this.limits.pids !== undefined) init.write('pids', 'pids.max', String(k.pids));
  }
}

export class DeleteCommand extends ContainerCommand {
  constructor(target: Target, via: Via, readonly force: boolean) {
    super(target, via);
  }

  override toString(): string {
    return this.label(this.force ? ', force' : '');
  }

  /** `berth delete --force` of a container that is gone succeeds, as runc's (src/cli/commands.ts). */
  override succeedsWhenMissing(): boolean {
    return this.force && this.via === 'cli';
  }

  /** runtime-spec: delete of a container that is not stopped fails; berth's --force kills it first. */
  refusal(c: ContainerModel): ErrorCode | null {
    return this.force ? refuseUnless(c, 'created', 'running', 'paused', 'stopped', 'checkpointed') : refuseUnless(c, 'stopped', 'checkpointed');
  }

  lib(r: Real): Promise<void> {
    return r.runtime().delete(this.id, this.force);
  }

  cliArgs(): string[] {
    return ['delete', ...(this.force ? ['--force'] : []), this.id];
  }

  intent(): Intent {
    return { type: 'DeleteRequested', force: this.force };
  }

  /** Everything delete does to the host (kill, cgroup, directory), the outcome not logged. */
  override async byHand(r: Real, c: ContainerModel, init: InitHandle): Promise<void> {
    if (this.force && c.status !== 'stopped' && c.status !== 'checkpointed') {
      for (const pid of init.procs()) {
        try {
          process.kill(pid, SIGKILL);
        } catch {
          // gone
        }
      }
      init.freezer('THAWED');
      for (let i = 0; i < 200 && init.procs().length > 0; i++) await new Promise((res) => setTimeout(res, 5));
    }
    await init.removeCgroup();
    rmSync(join(r.root, 'containers', this.id), { recursive: true, force: true });
  }

  next(c: ContainerModel): ContainerModel {
    return { ...noExecs(clone(c)), status: 'absent', init: null, exit: null, exitMayBeUnknown: false, halfDeleted: false, limits: {}, image: null };
  }

  /** Killed half way: the init may be dead and the cgroup or directory gone, the container still stopped. */
  override interrupted(c: ContainerModel): ContainerModel[] {
    if (c.status === 'stopped') return [{ ...clone(c), halfDeleted: true }];
    // A checkpointed container has nothing left to remove but its log.
    if (!this.force || c.status === 'checkpointed') return [];
    const killed = withInit(c, (init) => signalInit(init, SIGKILL, false));
    return [{ ...killed, halfDeleted: true, exitMayBeUnknown: true }];
  }
}

/** Close the runtime and open it again on the same root: everything is rebuilt from the log and the kernel. */
export class ReopenCommand extends LifecycleCommand {
  protected async apply(m: Model, r: Real): Promise<void> {
    m.stats.reopens++;
    await r.reopen();
  }

  toString(): string {
    return 'reopen()';
  }
}

/**
 * Run a container command as a `berth` process and SIGKILL it after `fraction` of the time that
 * command takes, then let the runtime reconcile. `direct`: the library runtime is closed, so
 * the CLI opens the log itself (a kill may land inside a LevelDB write); `served`: the library
 * owns the log and the CLI talks to it over the root's socket. Whatever the CLI had done, the
 * container must end in one of the states the operation allows (not done, done, or one of its
 * interrupted states), with log, runtime and kernel agreeing.
 */
export class CliCrashCommand extends LifecycleCommand {
  constructor(readonly inner: ContainerCommand, readonly fraction: number, readonly mode: 'served' | 'direct') {
    super();
  }

  override check(m: Readonly<Model>): boolean {
    return this.inner.check(m);
  }

  toString(): string {
    return `cliCrash(${this.inner}, at ${this.fraction.toFixed(2)}, ${this.mode})`;
  }

  protected async apply(m: Model, r: Real): Promise<void> {
    m.stats.cliCrashes++;
    countOp(m, this.inner.kind());
    const c = container(m, this.inner.id);
    const refusal = this.inner.refusal(c);
    const args = this.inner.cliArgs(r);
    // Aim inside the command: from half of the time it takes (the process start is most of
    // that) to a little past its end, so some kills land after it finished.
    const takes = Real.cliTimes.get(args[0]!) ?? Real.cliStartMs * 2.2;
    const delay = Math.round(takes * (0.5 + 0.6 * this.fraction));
    if (this.mode === 'direct') await r.close();
    let res: Awaited<ReturnType<Real['cli']>>;
    try {
      res = await r.cli(args, delay);
    } finally {
      if (this.mode === 'direct') await r.reopen();
    }
    if (!res.killed) {
      const out = this.inner.cliOutcome(res.outcome);
      note(`finished before the kill at ${delay} ms: ${out.ok ? 'ok' : out.code}`);
      if (refusal === 'NOT_EXISTS' && this.inner.succeedsWhenMissing()) {
        assert.ok(out.ok, `${this.inner} on a missing container should succeed: ${out.ok ? '' : out.message}`);
        return;
      }
      if (refusal !== null) {
        assert.ok(!out.ok && out.code === refusal, `${this.inner} should be refused with ${refusal}: ${out.ok ? 'succeeded' : out.message}`);
        return;
      }
      if (!out.ok) assert.fail(`${this.inner} in state ${c.status} failed: [${out.code}] ${out.message}`);
      const next = this.inner.next(c);
      if (next.exit !== null && c.exit === null) next.exitMayBeUnknown = true;
      m.containers.set(c.id, next);
      await this.inner.settle(r, next);
      return;
    }
    const candidates = refusal !== null ? [c] : [this.inner.next(c), ...this.inner.interrupted(c), clone(c)];
    for (const k of candidates) if (k.exit !== null && c.exit === null) k.exitMayBeUnknown = true;
    // Nothing new can start once the CLI is dead; what it set in motion (a signal, an exit
    // being reaped) lands within moments.
    await new Promise((res2) => setTimeout(res2, 250));
    const deadline = Date.now() + 5000;
    for (;;) {
      const o = await observe(r, c.id);
      const found = candidates.map((k) => ({ k, bad: mismatches(k, o) }));
      const match = found.find((f) => f.bad.length === 0);
      if (match) {
        note(`killed after ${delay} ms; reconciled as ${match.k.status}${match.k === candidates.at(-1) ? ' (not done)' : ''}`);
        m.containers.set(c.id, match.k);
        await this.inner.settle(r, match.k);
        return;
      }
      if (Date.now() > deadline) {
        const why = found.map((f) => `  as ${f.k.status}: ${f.bad.join('; ')}`).join('\n');
        throw new Error(`${this}: the container is in none of the states the operation allows:\n${why}\n  log ${o.events.map((e) => `${e.version}:${e.type}`).join(' ')}`);
      }
      await new Promise((res2) => setTimeout(res2, 50));
    }
  }
}
