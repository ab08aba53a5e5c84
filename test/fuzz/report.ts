/**
 * What the fuzz suites share: how a campaign is described (seed, runs, deadline, and the
 * `path`/`replayPath` that replay one shrunk failure), and how a failure is reported so that
 * it can be replayed with `npm run fuzz -- --suite S --seed N --path P`.
 */
import fc from 'fast-check';

export type SuiteName = 'lifecycle' | 'input' | 'log';

/** Longest lifecycle command sequence (part of what a seed and path replay: keep it with them). */
export const DEFAULT_MAX_COMMANDS = 20;

export interface Campaign {
  seed: number;
  numRuns: number;
  /** Replay one case: fast-check's counterexample path (with the same seed). */
  path?: string;
  /** fc.commands' replay hint, printed with a lifecycle failure. */
  replayPath?: string;
  /** Epoch ms after which no new run starts (runs in progress finish). */
  deadline?: number;
  /** Longest command sequence of a lifecycle run. */
  maxCommands?: number;
}

/** fast-check's run options for a campaign (a replay ends at its failure). */
export function checkOptions(c: Campaign): fc.Parameters<unknown> {
  return { seed: c.seed, numRuns: c.numRuns, ...(c.path !== undefined ? { path: c.path, endOnFailure: true } : {}) };
}

/**
 * First thing in every run: past the campaign's deadline, end the campaign (an interrupt, not
 * a failure). fast-check's own time limits either race a run in progress, abandoning it while
 * its processes and fds live on, or count skips until "too many". A run that has started
 * always finishes.
 */
export function stopAtDeadline(c: Campaign): void {
  if (c.deadline !== undefined && Date.now() > c.deadline && c.path === undefined) throw new fc.PreconditionFailure(true);
}

/** The part of fast-check's RunDetails a report needs. */
export interface Details {
  failed: boolean;
  seed: number;
  numRuns: number;
  numShrinks: number;
  counterexample: unknown;
  counterexamplePath: string | null;
  errorInstance: unknown;
}

export function details<T>(d: fc.RunDetails<T>): Details {
  return {
    failed: d.failed, seed: d.seed, numRuns: d.numRuns, numShrinks: d.numShrinks,
    counterexample: d.counterexample, counterexamplePath: d.counterexamplePath, errorInstance: d.errorInstance,
  };
}

export interface CampaignResult {
  details: Details;
  /** Counters for the report: runs, commands, inputs that reached the kernel, ... */
  stats: Record<string, number>;
  /** What the campaign could not cover here, and why (printed with its summary). */
  notes?: string[];
}

function counterexampleText(suite: SuiteName, value: unknown): { text: string; replayPath?: string } {
  if (suite === 'lifecycle') {
    const s = String((value as unknown[])[0]);
    const m = /\/\*replayPath="([^"]*)"\*\//.exec(s);
    const cmds = s.replace(/\s*\/\*replayPath=.*\*\/\s*$/, '');
    return { text: cmds.split(/,(?=[a-zA-Z]+\()/).map((c) => `  ${c}`).join('\n'), ...(m?.[1] !== undefined ? { replayPath: m[1] } : {}) };
  }
  return { text: `  ${fc.stringify(value)}` };
}

/** The failure report: seed, path, the minimal case, the error, and the command that replays it. */
export function failureReport(suite: SuiteName, res: CampaignResult, campaign: Campaign): string | null {
  const d = res.details;
  if (!d.failed) return null;
  const ce = d.counterexample === null ? { text: '  (none: the property itself failed to run)' } : counterexampleText(suite, d.counterexample);
  const err = d.errorInstance instanceof Error ? (d.errorInstance.stack ?? d.errorInstance.message) : String(d.errorInstance);
  const replay = [
    ...(suite === 'lifecycle' && process.env.BERTH_FUZZ_WEIGHTS ? [`BERTH_FUZZ_WEIGHTS=${process.env.BERTH_FUZZ_WEIGHTS}`] : []),
    'npm run fuzz --', '--suite', suite, '--seed', String(d.seed),
    ...(d.counterexamplePath !== null ? ['--path', `'${d.counterexamplePath}'`] : []),
    ...(ce.replayPath !== undefined ? ['--replay-path', `'${ce.replayPath}'`] : []),
    ...(suite === 'lifecycle' && campaign.maxCommands !== undefined ? ['--max-commands', String(campaign.maxCommands)] : []),
  ].join(' ');
  return [
    `fuzz ${suite}: FAILED after ${d.numRuns} run(s), shrunk ${d.numShrinks} time(s); seed ${d.seed}, path ${d.counterexamplePath ?? '-'}`,
    'minimal case (for lifecycle, the containers as chosen in the last replay; the error shows the failing run):',
    ce.text,
    'error:',
    err.split('\n').map((l) => `  ${l}`).join('\n'),
    `replay: ${replay}`,
  ].join('\n');
}

export function summary(suite: SuiteName, seed: number, res: CampaignResult): string {
  const stats = Object.entries(res.stats).map(([k, v]) => `${k}=${v}`).join(' ');
  const notes = (res.notes ?? []).map((n) => ` (${n})`).join('');
  return `fuzz ${suite}: seed ${seed} ${res.details.failed ? 'FAILED' : 'ok'} ${stats}${notes}`;
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 0x7fffffff);
}
