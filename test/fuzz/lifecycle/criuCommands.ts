/**
 * checkpoint and restore in the lifecycle fuzz (criu; registry.ts leaves them out when criu is
 * unusable here). The model is docs/checkpoint.md's, which follows runc where it can:
 *
 * - checkpoint: legal from `running` only. runc also dumps a paused container; berth refuses
 *   it (ILLEGAL_STATE), a documented difference. Without leaveRunning the container ends
 *   `checkpointed` (OCI status stopped: processes, cgroup and directory gone); with it nothing
 *   changes. Exec'd processes are not descendants of the init, so criu (`-t <init>`) does not
 *   dump them: they die with the pid namespace when the dump ends, and do not come back.
 * - restore, in place from the last images: legal from `checkpointed`; any other existing
 *   container is ID_IN_USE. The container runs again with a new init pid, the same program
 *   state and the limits in force when it was dumped.
 */
import type { ErrorCode } from '../../../src/errors.js';
import type { Intent } from '../../../src/machines/events.js';
import { checkpointOptions, restoreOptions } from '../../../src/checkpointOptions.js';
import { ContainerCommand, refuseUnless, shellReady, withInit, type Target } from './commands.js';
import { lastCreated } from './kernel.js';
import { exists, noExecs, type ContainerModel, type Model } from './model.js';
import { SIGKILL, signalInit } from './program.js';
import type { Real, Via } from './real.js';

export class CheckpointCommand extends ContainerCommand {
  /** Where this run's dump goes: a new directory under the run's root. */
  private imagePath = '';

  constructor(target: Target, via: Via, readonly leaveRunning: boolean) {
    super(target, via);
  }

  override toString(): string {
    return this.label(this.leaveRunning ? ', leave running' : '');
  }

  /**
   * Refused with a stopped process in the container: criu (4.1.1) seizes a task that is both
   * SIGSTOPped and frozen and waits in ptrace_attach for ever (found by this fuzz: berth's
   * checkpoint never returned; now refused before anything is logged).
   */
  refusal(c: ContainerModel): ErrorCode | null {
    return refuseUnless(c, 'running') ?? (c.init?.stopped || c.execsStopped ? 'ILLEGAL_STATE' : null);
  }

  private images(r: Real): string {
    this.imagePath = r.imageDir(this.id);
    return this.imagePath;
  }

  async lib(r: Real): Promise<void> {
    await r.runtime().checkpoint(this.id, { imagePath: this.images(r), leaveRunning: this.leaveRunning });
  }

  cliArgs(r: Real): string[] {
    return ['checkpoint', '--image-path', this.images(r), ...(this.leaveRunning ? ['--leave-running'] : []), this.id];
  }

  intent(r: Real): Intent {
    return { type: 'CheckpointRequested', options: checkpointOptions(this.id, { imagePath: this.images(r), leaveRunning: this.leaveRunning }) };
  }

  next(c: ContainerModel): ContainerModel {
    if (this.leaveRunning) return structuredClone(c);
    return { ...noExecs(structuredClone(c)), status: 'checkpointed', image: this.imagePath };
  }

  /**
   * A CLI killed mid-dump: reconciliation finds the init alive (running, thawed: the clone) or
   * dead; dead with berth's record in the images it is checkpointed (next), without it stopped.
   */
  override interrupted(c: ContainerModel): ContainerModel[] {
    if (this.leaveRunning) return [];
    return [{ ...withInit(c, (init) => signalInit(init, SIGKILL, false)), exitMayBeUnknown: true }];
  }
}

export class RestoreCommand extends ContainerCommand {
  private imagePath = '';

  /** In place only: a container that is not there has no images of its own. */
  override runnable(c: ContainerModel): boolean {
    return exists(c);
  }

  override check(m: Readonly<Model>): boolean {
    const ok = super.check(m);
    this.imagePath = m.containers.get(this.id)!.image ?? '/nonexistent/berth-fuzz-images';
    return ok;
  }

  refusal(c: ContainerModel): ErrorCode | null {
    return c.status === 'checkpointed' ? null : 'ID_IN_USE';
  }

  async lib(r: Real): Promise<void> {
    await r.runtime().restore(this.id, { imagePath: this.imagePath, stdio: 'ignore' });
  }

  cliArgs(): string[] {
    return ['restore', '--detach', '--image-path', this.imagePath, this.id];
  }

  intent(): Intent {
    return { type: 'RestoreRequested', bundle: null, pidFile: null, owner: '', options: restoreOptions(this.id, { imagePath: this.imagePath }) };
  }

  next(c: ContainerModel): ContainerModel {
    return { ...structuredClone(c), status: 'running', parent: this.via, exit: null, exitMayBeUnknown: this.via === 'cli' };
  }

  /** The restored init is this process's child when the library restored it: the shim must not reap it. */
  override async settle(r: Real, c: ContainerModel): Promise<void> {
    const init = lastCreated(await r.runtime().log.read(c.id));
    if (init && c.parent === 'lib' && c.status === 'running') r.libInits.add(init.pid);
    await shellReady(r, c);
  }
}

