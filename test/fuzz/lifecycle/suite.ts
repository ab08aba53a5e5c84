/**
 * One lifecycle fuzz campaign: `numRuns` command sequences (or until the deadline), each on a
 * fresh root, each ending with every container force-deleted and the host proved clean.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertRunLeftNothing } from '../leaks.js';
import { checkAll } from './check.js';
import { commandsArbitrary } from './registry.js';
import { rootCgroups } from './kernel.js';
import { newModel, type RunStats } from './model.js';
import { Real } from './real.js';
import { DEFAULT_MAX_COMMANDS, checkOptions, details, stopAtDeadline, type Campaign, type CampaignResult } from '../report.js';

export async function lifecycleCampaign(c: Campaign): Promise<CampaignResult> {
  const totals: RunStats & { runs: number } = { runs: 0, commands: 0, refused: 0, cliCrashes: 0, crashes: 0, reopens: 0 };
  const property = fc.asyncProperty(commandsArbitrary(c.maxCommands ?? DEFAULT_MAX_COMMANDS, c.replayPath), async (cmds) => {
    stopAtDeadline(c);
    totals.runs++;
    const model = newModel();
    const real = await Real.open();
    let failed = true;
    try {
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      failed = false;
    } catch (e) {
      // Commands pick their container when they run: the transcript says which they took.
      if (e instanceof Error) e.message += `\ncommands as they ran:\n${model.transcript.map((t) => `  ${t}`).join('\n')}`;
      throw e;
    } finally {
      for (const k of ['commands', 'refused', 'cliCrashes', 'crashes', 'reopens'] as const) totals[k] += model.stats[k];
      await finish(model, real, failed);
    }
  });
  const d = await fc.check(property, checkOptions(c));
  return { details: details(d), stats: { ...totals } };
}

/**
 * End of a run: force-delete what is left (the checks must still hold), close the runtime and
 * prove the host clean: no process, mount, fd, container directory or cgroup of the run.
 */
async function finish(model: ReturnType<typeof newModel>, real: Real, failed: boolean): Promise<void> {
  try {
    if (!failed && real.rt) {
      for (const c of model.containers.values()) {
        if (c.status === 'absent') continue;
        await real.rt.delete(c.id, true);
        c.status = 'absent';
        c.init = null;
      }
      await checkAll(model, real, 'deleting every container');
    }
  } finally {
    await real.dispose();
    if (!failed) {
      await assertRunLeftNothing(real.before, real.root, real.bundleDirs());
      assert.deepEqual(rootCgroups(real.layout, real.root), [], 'cgroups left behind');
    }
    real.removeFiles();
  }
}
