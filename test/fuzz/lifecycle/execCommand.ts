/**
 * `exec` in the lifecycle fuzz: a short process that exits with a known status (the status the
 * runtime reports must be it), or a detached `sleep <tag>` the model tracks as an exec'd process
 * of the container until the container's processes go (a kill of the init, kill --all with a
 * fatal signal, delete --force, a checkpoint that stops it). Legal in `running` only
 * (docs/lifecycle.md: created, paused, stopped and checkpointed are ILLEGAL_STATE).
 */
import type { ErrorCode } from '../../../src/errors.js';
import type { Intent } from '../../../src/machines/events.js';
import { validateProcess } from '../../../src/machines/spec.js';
import { ContainerCommand, refuseUnless, type Target } from './commands.js';
import { EXEC_TAG_BASE, type ContainerModel, type Model } from './model.js';
import type { Outcome, Real, Via } from './real.js';

/** At most this many detached execs per container: the smallest pids limit (10) must not refuse one. */
const MAX_EXECS = 3;

const processOf = (args: string[]) => ({ args, cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] });

export class ExecCommand extends ContainerCommand {
  /** The tag of this run's detached process, from the model when the command is about to run. */
  private tag = 0;

  /** `exits`: the status of a short process; null: a detached long-running one. */
  constructor(target: Target, via: Via, readonly exits: number | null) {
    super(target, via);
  }

  override toString(): string {
    return this.label(this.exits === null ? ', detached' : `, exit ${this.exits}`);
  }

  override check(m: Readonly<Model>): boolean {
    const ok = super.check(m);
    this.tag = EXEC_TAG_BASE + m.containers.get(this.id)!.execSeq + 1;
    return ok;
  }

  override runnable(c: ContainerModel): boolean {
    return this.exits !== null || c.execs.length < MAX_EXECS;
  }

  refusal(c: ContainerModel): ErrorCode | null {
    return refuseUnless(c, 'running');
  }

  private args(): string[] {
    return this.exits === null ? ['sleep', String(this.tag)] : ['sh', '-c', `exit ${this.exits}`];
  }

  /** Not while a short exec of the library runs: its exit status is the runtime's to reap. */
  override reapsMeanwhile(): boolean {
    return this.via === 'cli' || this.exits === null;
  }

  async lib(r: Real): Promise<void> {
    const e = await r.runtime().exec(this.id, processOf(this.args()), { stdio: 'ignore' });
    if (this.exits === null) {
      r.libInits.add(e.pid);
      return;
    }
    const exit = await e.wait();
    if (exit.code !== this.exits || exit.signal !== null) throw new Error(`${this}: the runtime reports ${JSON.stringify(exit)}`);
  }

  cliArgs(): string[] {
    return ['exec', ...(this.exits === null ? ['--detach'] : []), this.id, ...this.args()];
  }

  /** `berth exec` exits with the process's status, as runc's: that status is its success. */
  override cliOutcome(out: Outcome): Outcome {
    return this.exits !== null && this.exits !== 0 && !out.ok && out.code === `EXIT_${this.exits}` ? { ok: true } : out;
  }

  intent(): Intent {
    return { type: 'ExecRequested', execId: `fz-${this.tag}`, process: validateProcess(processOf(this.args())), pidFile: null };
  }

  next(c: ContainerModel): ContainerModel {
    if (this.exits !== null) return structuredClone(c);
    return { ...structuredClone(c), execs: [...c.execs, this.tag], execSeq: this.tag - EXEC_TAG_BASE };
  }

  /** A CLI killed after it started the process but before it logged ExecStarted leaves a process the log does not know. */
  override interrupted(c: ContainerModel): ContainerModel[] {
    return this.exits === null ? [{ ...structuredClone(c), strayExec: true, execSeq: this.tag - EXEC_TAG_BASE }] : [];
  }
}
