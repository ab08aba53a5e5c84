import { ciFuzz } from './ci.js';

/** The model-based lifecycle fuzz against the real kernel (test/fuzz/lifecycle/). */
ciFuzz('lifecycle', { fixedSeeds: [101, 102, 103], runsPerSeed: 8, budgetSeconds: 150 });
