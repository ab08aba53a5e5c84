import { ciFuzz } from './ci.js';

/** Mutated configs, resource updates, ids, signals and command lines (test/fuzz/input/). */
ciFuzz('input', { fixedSeeds: [201, 202], runsPerSeed: 150, budgetSeconds: 60 });
