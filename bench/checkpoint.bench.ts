/**
 * Checkpoint/restore benchmark: one checkpoint (criu dump, the container stops) and one restore
 * (criu restore, detached) of the same running container, for berth embedded (the library),
 * the berth CLI and runc, all driving the same criu binary (runc finds it through PATH) on one
 * bundle. Rows interleave in a seeded order every round. See docs/bench.md ("Checkpoint and
 * restore").
 *
 *   npm run bench:checkpoint [-- --runs N] [--warmup N] [--seed N] [--out FILE] [--label TEXT]
 *
 * It reports; it never fails on a number. Exit status: 0 after a run, 2 if it cannot start,
 * 1 if it could not clean up after itself.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { criuBinary, criuPath } from '../src/effects/criu.js';
import { linuxSyscalls } from '../src/effects/linux.js';
import { openRuntime } from '../src/index.js';
import { makeBundle } from '../test/helpers/bundle.js';
import {
  benchOptions, cgroupLeftovers, closeChildStderr, codeInfo, fatal, fmt, log, machineInfo, nodeChildEnv, now, ownProcesses,
  prng, reportLeftovers, round, roundStats, runOptions, setChildStderr, shuffled, stats, timeChild, trapInterrupts, usage, writeReport,
} from './common.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = join(HERE, '..');
const CLI = join(REPO, 'dist', 'cli.js');
const RESULTS = join(HERE, 'results');
const RUNC = '/usr/sbin/runc';

const { values: flags } = parseArgs({ options: { ...benchOptions('10', '2'), 'keep-node-env': { type: 'boolean', default: false } } });
usage(flags.help, `usage: npm run bench:checkpoint -- [--runs N] [--warmup N] [--seed N] [--out FILE] [--label TEXT]
  --runs N      measured checkpoint+restore cycles per row (default 10)
  --warmup N    unmeasured cycles first (default 2)
  --seed N      seed of the per-round shuffle (default: from the clock; printed)
  --out FILE    JSON result (default bench/results/checkpoint-<date>.json)
`);
const { runs: RUNS, warmup: WARMUP, seed: SEED } = runOptions(flags);
const { env: nodeEnv, dropped } = nodeChildEnv(flags['keep-node-env']);

interface Row {
  key: string;
  what: string;
  checkpoint(images: string): Promise<number>;
  restore(images: string): Promise<number>;
  samples: { checkpoint: number; restore: number }[];
}

const sys = linuxSyscalls();

/** Restored inits of the CLI rows are orphaned when the CLI exits: this process reaps them, as a shim would. */
function reapZombieChildren(): void {
  for (const n of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'latin1');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] !== 'Z' || Number(rest[1]) !== process.pid) continue;
      const fd = sys.pidfdOpen(Number(n));
      try {
        sys.waitid(fd);
      } finally {
        sys.close(fd);
      }
    } catch {
      // gone, or not ours
    }
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) fatal('needs root');
  const criu = await criuBinary('bench').catch((e: Error) => fatal(e.message));
  if (!/Looks good\./.test(spawnSync(criu.path, ['check'], { encoding: 'utf8' }).stderr + spawnSync(criu.path, ['check'], { encoding: 'utf8' }).stdout)) {
    fatal(`criu check (${criu.path}) does not say "Looks good."`);
  }
  sys.setChildSubreaper(true);
  const started = new Date();
  const work = mkdtempSync('/tmp/berth-bench-cr-');
  setChildStderr(join(work, 'stderr'));
  const bundle = makeBundle(['sleep', '1000000'], (c) => { c.hostname = 'bench'; });
  const roots = { embedded: join(work, 'e'), cli: join(work, 'c'), runc: join(work, 'r') };
  // runc runs `criu` from PATH: the same binary berth uses.
  const runcEnv = { ...process.env, PATH: `${dirname(criuPath())}:${process.env.PATH ?? ''}` };
  const rt = await openRuntime({ root: roots.embedded });
  const trap = trapInterrupts();
  const must = async (what: string, p: Promise<{ code: number | null; stderr: string; ms: number }>) => {
    const r = await p;
    if (r.code !== 0) throw new Error(`${what} exited with ${r.code}: ${r.stderr}`);
    return r.ms;
  };
  const cli = (...args: string[]) => timeChild(process.execPath, [CLI, '--root', roots.cli, ...args], { env: nodeEnv });
  const runc = (...args: string[]) => timeChild(RUNC, ['--root', roots.runc, ...args], { env: runcEnv });
  const rows: Row[] = [
    {
      key: 'berth-embedded', what: 'c.checkpoint({ imagePath }); rt.restore(id, { imagePath }) in one Node process', samples: [],
      checkpoint: async (images) => {
        const t0 = now();
        await rt.checkpoint('bench-e', { imagePath: images });
        return now() - t0;
      },
      restore: async (images) => {
        const t0 = now();
        await rt.restore('bench-e', { imagePath: images, stdio: 'ignore' });
        return now() - t0;
      },
    },
    {
      key: 'berth-cli', what: 'berth checkpoint --image-path I ID; berth restore -d --image-path I ID: spawn -> exit', samples: [],
      checkpoint: (images) => must('berth checkpoint', cli('checkpoint', '--image-path', images, 'bench-c')),
      restore: (images) => must('berth restore', cli('restore', '--detach', '--image-path', images, 'bench-c')),
    },
    {
      key: 'runc', what: 'runc checkpoint --image-path I ID; runc restore -d --bundle B --image-path I ID: spawn -> exit', samples: [],
      checkpoint: (images) => must('runc checkpoint', runc('checkpoint', '--image-path', images, 'bench-r')),
      restore: (images) => must('runc restore', runc('restore', '--detach', '--bundle', bundle.dir, '--image-path', images, 'bench-r')),
    },
  ];
  let failed = false;
  try {
    await rt.create('bench-e', { bundle: bundle.dir, stdio: 'ignore' });
    await rt.start('bench-e');
    // Started with /dev/null stdio, as the embedded one: runc cannot dump a container whose
    // stdio is a host file (criu: "Can't lookup mount"); berth declares such files external.
    for (const [cmd, args, env] of [
      [process.execPath, [CLI, '--root', roots.cli, 'run', '--detach', '--bundle', bundle.dir, 'bench-c'], nodeEnv],
      [RUNC, ['--root', roots.runc, 'run', '--detach', '--bundle', bundle.dir, 'bench-r'], runcEnv],
    ] as const) {
      const r = spawnSync(cmd, [...args], { stdio: 'ignore', env });
      if (r.status !== 0) throw new Error(`${args.slice(-5).join(' ')} exited with ${r.status}`);
    }
    const rand = prng(SEED);
    log(`bench: checkpoint/restore, ${WARMUP} warmup + ${RUNS} runs per row, seed ${SEED}, criu ${criu.version} (${criu.path})`);
    for (let round = 0; round < WARMUP + RUNS && !trap.interrupted; round++) {
      for (const row of shuffled(rows, rand)) {
        const images = mkdtempSync(join(work, `img-${row.key}-`));
        const checkpoint = await row.checkpoint(images);
        const restore = await row.restore(images);
        rmSync(images, { recursive: true, force: true });
        if (round >= WARMUP) row.samples.push({ checkpoint, restore });
      }
      reapZombieChildren();
    }
  } catch (e) {
    failed = true;
    log(`bench: ${(e as Error).message}`);
  } finally {
    trap.off();
    await rt.delete('bench-e', true).catch(() => undefined);
    await rt.close();
    await cli('delete', '--force', 'bench-c');
    await runc('delete', '--force', 'bench-r');
    reapZombieChildren();
    closeChildStderr();
  }
  const summary = rows.map((r) => ({
    key: r.key, what: r.what,
    checkpoint: roundStats(stats(r.samples.map((s) => s.checkpoint)), 2),
    restore: roundStats(stats(r.samples.map((s) => s.restore)), 2),
  }));
  const med = (key: string, k: 'checkpoint' | 'restore') => summary.find((s) => s.key === key)?.[k]?.median ?? NaN;
  const ratios = Object.fromEntries(['berth-embedded', 'berth-cli'].flatMap((k) => (['checkpoint', 'restore'] as const).map((op) => [`${k}/runc (${op})`, round(med(k, op) / med('runc', op), 3)])));
  process.stdout.write(`\n${'row'.padEnd(16)} ${'checkpoint ms (median, p90)'.padEnd(30)} restore ms (median, p90)\n`);
  for (const s of summary) {
    process.stdout.write(`${s.key.padEnd(16)} ${`${fmt(s.checkpoint?.median, 1)}, ${fmt(s.checkpoint?.p90, 1)}`.padEnd(30)} ${fmt(s.restore?.median, 1)}, ${fmt(s.restore?.p90, 1)}\n`);
  }
  process.stdout.write(`\nratios (median): ${Object.entries(ratios).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}\n`);
  writeReport(flags.out, RESULTS, 'checkpoint', started, {
    bench: 'checkpoint', started: started.toISOString(), runs: RUNS, warmup: WARMUP, seed: SEED, failed,
    machine: machineInfo(), code: codeInfo(REPO, flags.label), criu: criu.version,
    runc: spawnSync(RUNC, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '?',
    droppedEnv: dropped, rows: summary, ratios,
  });
  bundle.cleanup();
  const left = reportLeftovers(ownProcesses(work), cgroupLeftovers(['bench-e', 'bench-c', 'bench-r']));
  rmSync(work, { recursive: true, force: true });
  process.exitCode = left || failed ? 1 : 0;
}

await main();
