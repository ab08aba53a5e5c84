/**
 * One lifecycle fuzz campaign: `numRuns` command sequences (or until the deadline), each on a
 * fresh root, each ending with every container force-deleted and the host proved clean.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertRunLeftNothing } from '../leaks.js';
import { checkAll } from './check.js';
import { COMMAND_MS, within } from './commands.js';
import { commandsArbitrary, CRIU_UNUSABLE } from './registry.js';
import { rootCgroups } from './kernel.js';
import { newModel, noExecs, type Model, type RunStats } from './model.js';
import { Real } from './real.js';
import { DEFAULT_MAX_COMMANDS, checkOptions, details, stopAtDeadline, type Campaign, type CampaignResult } from '../report.js';

export async function lifecycleCampaign(c: Campaign): Promise<CampaignResult> {
  const totals: Omit<RunStats, 'ops'> & { runs: number } = { runs: 0, commands: 0, refused: 0, cliCrashes: 0, crashes: 0, reopens: 0 };
  const ops: Record<string, number> = {};
  const property = fc.asyncProperty(commandsArbitrary(c.maxCommands ?? DEFAULT_MAX_COMMANDS, c.replayPath), async (cmds) => {
    stopAtDeadline(c);
    totals.runs++;
    await lifecycleCase(cmds, (model) => {
      for (const k of ['commands', 'refused', 'cliCrashes', 'crashes', 'reopens'] as const) totals[k] += model.stats[k];
      for (const [k, n] of Object.entries(model.stats.ops)) ops[k] = (ops[k] ?? 0) + n;
    });
  });
  const d = await fc.check(property, checkOptions(c));
  // Per operation, in a fixed order (wrappers count the operation they interrupted too).
  const kinds = Object.fromEntries(Object.keys(ops).sort().map((k) => [`op.${k}`, ops[k]!]));
  return {
    details: details(d),
    stats: { ...totals, ...kinds },
    notes: CRIU_UNUSABLE === false ? [] : [`no checkpoint/restore commands: ${CRIU_UNUSABLE}`],
  };
}

/**
 * One run on a fresh root: the commands with the checks after each, then the end of the run
 * (finish). `done` gets the model whatever happened. A campaign's runs and the fixed command
 * lists of regressions.ts both run here.
 */
export async function lifecycleCase(cmds: Iterable<fc.AsyncCommand<Model, Real>>, done: (m: Model) => void = () => undefined): Promise<void> {
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
    done(model);
    await finish(model, real, failed);
  }
}

/**
 * End of a run: force-delete what is left (the checks must still hold), close the runtime and
 * prove the host clean: no process, mount, fd, container directory or cgroup of the run.
 */
async function finish(model: ReturnType<typeof newModel>, real: Real, failed: boolean): Promise<void> {
  try {
    const rt = real.rt;
    if (!failed && rt) {
      await real.reaping(async () => {
        for (const c of model.containers.values()) {
          if (c.status === 'absent') continue;
          await within(COMMAND_MS, `delete --force of ${c.id} at the end of the run`, rt.delete(c.id, true));
          c.status = 'absent';
          c.init = null;
          Object.assign(c, noExecs(c));
        }
      });
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
