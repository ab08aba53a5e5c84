/**
 * A runtime that dies in the middle of an operation, at a chosen point: right after logging the
 * intent (`intent`), or after doing the effect but before logging its outcome (`effect`). The
 * intent is appended and the effect done by hand (byhand.ts) while this process's runtime is
 * closed; reopening it must reconcile: the container ends in a state the operation allows
 * (after `intent`, as if nothing happened; after `effect`, done, or undone where that is
 * possible) with log, runtime and kernel agreeing. Unlike cliCrash, the point is exact, so
 * a failure replays the same way every time.
 */
import { toLogEvent } from '../../../src/machines/events.js';
import { mismatches, observe } from './check.js';
import { countOp, LifecycleCommand, type ContainerCommand } from './commands.js';
import { initHandle } from './byhand.js';
import { lastCreated } from './kernel.js';
import { container, type Model } from './model.js';
import type { Real } from './real.js';

export class CrashCommand extends LifecycleCommand {
  constructor(readonly inner: ContainerCommand, readonly stage: 'intent' | 'effect') {
    super();
  }

  /** Only legal operations log an intent; the effect stage needs a way to do it by hand. */
  override check(m: Readonly<Model>): boolean {
    if (!this.inner.check(m)) return false;
    const c = m.containers.get(this.inner.id)!;
    if (this.inner.refusal(c) !== null) return false;
    return this.stage === 'intent' || (c.status !== 'absent' && this.inner.constructor.name !== 'CreateCommand');
  }

  toString(): string {
    return `crash(${this.inner}, after ${this.stage})`;
  }

  protected async apply(m: Model, r: Real): Promise<void> {
    m.stats.crashes++;
    countOp(m, this.inner.kind());
    const c = container(m, this.inner.id);
    const log = r.runtime().log;
    const created = lastCreated(await log.read(c.id));
    await log.append(c.id, [toLogEvent(this.inner.intent(r))], { expectedVersion: await log.version(c.id), sync: true });
    await r.close();
    try {
      if (this.stage === 'effect' && created) await this.inner.byHand(r, c, initHandle(r.layout, created));
    } finally {
      await r.reopen();
    }
    const candidates = this.stage === 'intent'
      ? [structuredClone(c), ...this.inner.interrupted(c)]
      : [this.inner.next(c), ...this.inner.interrupted(c), structuredClone(c)];
    const deadline = Date.now() + 5000;
    for (;;) {
      const o = await observe(r, c.id);
      const found = candidates.map((k) => ({ k, bad: mismatches(k, o) }));
      const match = found.find((f) => f.bad.length === 0);
      if (match) {
        m.containers.set(c.id, match.k);
        await this.inner.settle(r, match.k);
        return;
      }
      if (Date.now() > deadline) {
        const why = found.map((f) => `  as ${f.k.status}: ${f.bad.join('; ')}`).join('\n');
        throw new Error(`${this}: the container is in none of the states the operation allows:\n${why}\n  log ${o.events.map((e) => `${e.version}:${e.type}${e.type === 'Observed' ? `(${String(e.data.status)})` : ''}`).join(' ')}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}
