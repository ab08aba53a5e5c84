import { test } from 'node:test';
import { actAsShim } from '../helpers/leaks.js';
import { ciFuzz, skipWithoutV1 } from './ci.js';
import { REGRESSIONS } from './lifecycle/regressions.js';
import { CRIU_UNUSABLE } from './lifecycle/registry.js';
import { lifecycleCase } from './lifecycle/suite.js';

/** The failures it found, as fixed command lists (test/fuzz/lifecycle/regressions.ts). */
for (const r of REGRESSIONS) {
  test(`lifecycle regression: ${r.name}`, { skip: skipWithoutV1 || (r.criu && CRIU_UNUSABLE) }, async () => {
    actAsShim();
    await lifecycleCase(r.commands());
  });
}

/** The model-based lifecycle fuzz against the real kernel (test/fuzz/lifecycle/). */
ciFuzz('lifecycle', { fixedSeeds: [101, 102, 103], runsPerSeed: 8, budgetSeconds: 150 });
