import { ciFuzz } from './ci.js';

/** Damaged event histories and damaged LevelDB values (test/fuzz/log/). */
ciFuzz('log', { fixedSeeds: [301, 302], runsPerSeed: 700, budgetSeconds: 30 });
