/**
 * Which commands a lifecycle run is made of, how often each comes, and how they are generated.
 * A new operation adds its ContainerCommand to `containerCommands` and a line to COMMANDS;
 * cliCrash and crash then interrupt it too.
 */
import fc from 'fast-check';
import { CreateCommand, StartCommand, KillCommand, PauseCommand, ResumeCommand, UpdateCommand, DeleteCommand, ReopenCommand, CliCrashCommand, type ContainerCommand, type LifecycleCommand, type Target } from './commands.js';
import { CrashCommand } from './crash.js';
import { CheckpointCommand, RestoreCommand } from './criuCommands.js';
import { ExecCommand } from './execCommand.js';
import { criuSkip } from '../../helpers/criu.js';
import { IDS, type Model } from './model.js';
import { SIGCHLD, SIGCONT, SIGINT, SIGKILL, SIGSTOP, type Program } from './program.js';
import type { Real, Via } from './real.js';

const id: fc.Arbitrary<Target> = fc.record({
  legal: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  n: fc.nat({ max: IDS.length - 1 }),
});
const via = fc.oneof({ weight: 4, arbitrary: fc.constant<Via>('lib') }, { weight: 1, arbitrary: fc.constant<Via>('cli') });
/** Signals with a meaning for the programs, then any signal at all. */
export const signal = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(SIGKILL, SIGSTOP, SIGCONT, SIGINT, 10, 12, 15, SIGCHLD, 1, 3, 20, 14) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 }) },
);
const MB = 1024 * 1024;
const limits = fc.record({
  memory: fc.oneof(fc.integer({ min: 32, max: 512 }).map((n) => n * MB), fc.constant(-1)),
  pids: fc.oneof(fc.integer({ min: 10, max: 200 }), fc.constantFrom(0, -1)),
  shares: fc.integer({ min: 2, max: 262144 }),
}, { requiredKeys: [] });
const someLimits = limits.filter((l) => Object.keys(l).length > 0);
const program = fc.oneof({ weight: 5, arbitrary: fc.constant<Program>('service') }, { weight: 1, arbitrary: fc.constant<Program>('exits') });
/** A short exec's exit status, or null: a detached long-running one. */
const execKind = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(null));

/**
 * Why checkpoint and restore are left out of every run (the same check as the e2e checkpoint
 * tests: `criu check` must say "Looks good."), or false. The campaign's summary says so.
 */
export const CRIU_UNUSABLE: string | false = criuSkip();

function containerCommands(v: fc.Arbitrary<Via>) {
  return {
    create: fc.tuple(id, v, program, limits).map(([i, w, p, l]) => new CreateCommand(i, w, p, l)),
    start: fc.tuple(id, v).map(([i, w]) => new StartCommand(i, w)),
    kill: fc.tuple(id, v, signal, fc.boolean()).map(([i, w, s, a]) => new KillCommand(i, w, s, a)),
    pause: fc.tuple(id, v).map(([i, w]) => new PauseCommand(i, w)),
    resume: fc.tuple(id, v).map(([i, w]) => new ResumeCommand(i, w)),
    update: fc.tuple(id, v, someLimits).map(([i, w, l]) => new UpdateCommand(i, w, l)),
    delete: fc.tuple(id, v, fc.boolean()).map(([i, w, f]) => new DeleteCommand(i, w, f)),
    exec: fc.tuple(id, v, execKind).map(([i, w, k]) => new ExecCommand(i, w, k)),
    ...(CRIU_UNUSABLE === false ? {
      checkpoint: fc.tuple(id, v, fc.boolean()).map(([i, w, l]) => new CheckpointCommand(i, w, l)),
      restore: fc.tuple(id, v).map(([i, w]) => new RestoreCommand(i, w)),
    } : {}),
  };
}

const viaLib = containerCommands(via);
const viaCli = containerCommands(fc.constant<Via>('cli'));

/** Every command kind with its weight; a new operation adds its line here. */
export const COMMANDS: { name: string; weight: number; arbitrary: fc.Arbitrary<LifecycleCommand> }[] = [
  { name: 'create', weight: 8, arbitrary: viaLib.create },
  { name: 'start', weight: 6, arbitrary: viaLib.start },
  { name: 'kill', weight: 6, arbitrary: viaLib.kill },
  { name: 'pause', weight: 3, arbitrary: viaLib.pause },
  { name: 'resume', weight: 3, arbitrary: viaLib.resume },
  { name: 'update', weight: 3, arbitrary: viaLib.update },
  { name: 'delete', weight: 4, arbitrary: viaLib.delete },
  { name: 'exec', weight: 3, arbitrary: viaLib.exec },
  // A dump and a restore take about 0.3 s each (more under load): rare enough to keep the CI
  // run's time. A restore of anything but a checkpointed container is a cheap refusal.
  ...(viaLib.checkpoint && viaLib.restore ? [
    { name: 'checkpoint', weight: 1, arbitrary: viaLib.checkpoint },
    { name: 'restore', weight: 2, arbitrary: viaLib.restore },
  ] : []),
  { name: 'reopen', weight: 1, arbitrary: fc.constant(new ReopenCommand()) },
  {
    name: 'cliCrash',
    weight: 3,
    arbitrary: fc.tuple(
      fc.oneof(...Object.values(viaCli)) as fc.Arbitrary<ContainerCommand>,
      fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
      fc.constantFrom<'served' | 'direct'>('served', 'direct'),
    ).map(([inner, f, mode]) => new CliCrashCommand(inner, f, mode)),
  },
  {
    name: 'crash',
    weight: 3,
    arbitrary: fc.tuple(fc.oneof(...Object.values(viaLib)) as fc.Arbitrary<ContainerCommand>, fc.constantFrom<'intent' | 'effect'>('intent', 'effect'))
      .map(([inner, stage]) => new CrashCommand(inner, stage)),
  },
];

/** BERTH_FUZZ_WEIGHTS="cliCrash=8,reopen=3" shifts a long run toward some commands (part of what a seed replays). */
function weightOf(name: string, dflt: number): number {
  const m = new RegExp(`(?:^|,)${name}=(\\d+)`).exec(process.env.BERTH_FUZZ_WEIGHTS ?? '');
  return m ? Number(m[1]) : dflt;
}

export function commandsArbitrary(maxCommands: number, replayPath?: string): fc.Arbitrary<Iterable<fc.AsyncCommand<Model, Real>>> {
  const one = fc.oneof(...COMMANDS.map((k) => ({ weight: weightOf(k.name, k.weight), arbitrary: k.arbitrary })).filter((k) => k.weight > 0));
  return fc.commands([one], { maxCommands, size: 'max', ...(replayPath !== undefined ? { replayPath } : {}) });
}
