/**
 * `npm run fuzz -- [options]`: long or replayed fuzz runs outside the test runner.
 *
 *   --suite lifecycle|input|log|all   which suites (default all, in turn)
 *   --runs N                          runs per campaign (default: per suite, or unbounded with --minutes)
 *   --minutes M                       keep starting campaigns, each with a new seed, for M minutes
 *   --seed S                          seed of the (first) campaign
 *   --path P [--replay-path R]        replay the failure printed by a previous run (needs --seed)
 *   --max-commands K                  longest lifecycle sequence (default 20)
 *   --keep-going                      do not stop at the first failure
 *
 * Every campaign prints its seed; a failure prints the shrunk case and the command that
 * replays it. Exit status 1 if anything failed.
 */
import { parseArgs } from 'node:util';
import { actAsShim } from '../helpers/leaks.js';
import { SUITES, DEFAULT_MAX_COMMANDS, DEFAULT_RUNS } from './suites.js';
import { failureReport, randomSeed, summary, type SuiteName } from './report.js';

const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'all' },
    runs: { type: 'string' },
    minutes: { type: 'string' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'replay-path': { type: 'string' },
    'max-commands': { type: 'string' },
    'keep-going': { type: 'boolean', default: false },
  },
});

const suites: SuiteName[] = values.suite === 'all' ? ['lifecycle', 'input', 'log'] : [values.suite as SuiteName];
for (const s of suites) if (!(s in SUITES)) throw new Error(`unknown suite ${s}: use lifecycle, input, log or all`);
if (values.path !== undefined && (values.seed === undefined || suites.length !== 1)) throw new Error('--path needs --seed and one --suite');

actAsShim();
const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
const end = minutes === undefined ? undefined : Date.now() + minutes * 60_000;
/** With a time budget, campaigns are chunks of a few minutes, each with its own printed seed. */
const CHUNK_MS: Record<SuiteName, number> = { lifecycle: 5 * 60_000, input: 2 * 60_000, log: 30_000 };
const totals: Record<string, Record<string, number>> = {};
let failures = 0;
let seed = values.seed === undefined ? randomSeed() : Number(values.seed);

outer: for (let round = 0; ; round++) {
  for (const suite of suites) {
    if (end !== undefined && Date.now() > end) break outer;
    const numRuns = values.runs !== undefined ? Number(values.runs) : end !== undefined ? 1_000_000 : DEFAULT_RUNS[suite];
    const deadline = end === undefined ? undefined : Math.min(end, Date.now() + CHUNK_MS[suite]);
    console.log(`fuzz ${suite}: seed ${seed}${deadline ? ` until ${new Date(deadline).toISOString()}` : ` runs ${numRuns}`}`);
    const t0 = Date.now();
    const campaign = {
      seed,
      numRuns,
      maxCommands: values['max-commands'] !== undefined ? Number(values['max-commands']) : DEFAULT_MAX_COMMANDS,
      ...(deadline !== undefined ? { deadline } : {}),
      ...(values.path !== undefined ? { path: values.path } : {}),
      ...(values['replay-path'] !== undefined ? { replayPath: values['replay-path'] } : {}),
    };
    const res = await SUITES[suite](campaign);
    res.stats.seconds = Math.round((Date.now() - t0) / 1000);
    console.log(summary(suite, seed, res));
    const t = (totals[suite] ??= {});
    for (const [k, v] of Object.entries(res.stats)) t[k] = (t[k] ?? 0) + v;
    const report = failureReport(suite, res, campaign);
    if (report) {
      failures++;
      console.log(report);
      if (!values['keep-going']) break outer;
    }
    seed = randomSeed();
  }
  if (end === undefined) break;
}

for (const [suite, t] of Object.entries(totals)) {
  console.log(`total ${suite}: ${Object.entries(t).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}
console.log(failures === 0 ? 'fuzz: no failure' : `fuzz: ${failures} failure(s)`);
process.exit(failures === 0 ? 0 : 1);
