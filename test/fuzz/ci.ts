/**
 * The bounded fuzz campaigns `npm test` runs: a fixed set of seeds (the same cases on every run)
 * plus one random seed, printed, so every CI run also explores something new. Each campaign
 * also stops starting runs at its time budget, so a slow machine does not stretch CI.
 * A failure prints the shrunk case and the `npm run fuzz` command that replays it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';
import { actAsShim } from '../helpers/leaks.js';
import { DEFAULT_MAX_COMMANDS, failureReport, randomSeed, summary, type Campaign, type SuiteName } from './report.js';
import { SUITES } from './suites.js';

export interface CiPlan {
  fixedSeeds: number[];
  runsPerSeed: number;
  /** Time budget of the whole suite (all seeds), in seconds. */
  budgetSeconds: number;
}

/**
 * The lifecycle model reads the limits and the freezer from cgroup v1 files (this project's
 * machines are v1 hybrids); on a pure v2 host it has nothing to compare them with.
 */
export const skipWithoutV1 = readCgroupLayout().v1.memory === undefined ? 'requires cgroup v1 controllers (the lifecycle model reads v1 limit and freezer files)' : false;

export function ciFuzz(suite: SuiteName, plan: CiPlan): void {
  const random = process.env.BERTH_FUZZ_SEED !== undefined ? Number(process.env.BERTH_FUZZ_SEED) : randomSeed();
  const seeds = [...plan.fixedSeeds, random];
  const end = Date.now() + plan.budgetSeconds * 1000;
  for (const [i, seed] of seeds.entries()) {
    const kind = i < plan.fixedSeeds.length ? 'fixed' : 'random';
    test(`fuzz ${suite}: ${kind} seed ${seed}`, { timeout: 20 * 60_000, skip: suite === 'lifecycle' ? skipWithoutV1 : false }, async (t) => {
      actAsShim();
      // Each seed gets an equal share of what is left of the budget.
      const deadline = Date.now() + Math.max(0, end - Date.now()) / (seeds.length - i);
      const campaign: Campaign = { seed, numRuns: plan.runsPerSeed, deadline, maxCommands: DEFAULT_MAX_COMMANDS };
      const res = await SUITES[suite](campaign);
      t.diagnostic(summary(suite, seed, res));
      console.log(summary(suite, seed, res));
      const report = failureReport(suite, res, campaign);
      if (report) assert.fail(report);
    });
  }
}
