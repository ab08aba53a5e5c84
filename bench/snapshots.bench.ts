/**
 * Projection cache benchmark: `list` over the streams of thousands of containers, with and
 * without the cache (src/store/snapshots.ts), on a synthetic log. See docs/bench.md ("List and
 * the projection cache").
 *
 *   npm run bench:snapshots [-- --containers N] [--events N] [--runs N] [--warmup N] [--out FILE]
 *
 * The log is written straight into a fresh root's LevelDB: every container has a lifecycle of
 * `--events` events (create, start, pause/resume pairs) and ends stopped, so `list` needs no
 * kernel probe and the numbers are the log's and the fold's alone. Rows:
 *
 *   per-container  what `list` did before the cache: `state(id)` for every stream (read, replay,
 *                  a live machine each)
 *   no cache       `list()` folding every stream from its first event (`snapshots: false`)
 *   cache, cold    the first `list()` with the cache: folds everything and writes the cache
 *   cache, warm    later `list()`s: one read of the cache, one read per stream of its last event
 *   cache, behind  after one more event on every tenth stream: folds just those
 *
 * It reports; it never fails on a number. Exit status: 0 after a run, 2 if it cannot start.
 */
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { openRuntime, type Runtime } from '../src/index.js';
import { openLevelEventLog } from '../src/store/levelEventLog.js';
import type { NewEvent } from '../src/store/eventLog.js';
import { benchOptions, codeInfo, fatal, fmt, hostLine, log, machineInfo, now, positiveInt, roundStats, runOptions, stats, usage, writeReport, type Stats } from './common.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RESULTS = join(HERE, 'results');

const { values: flags } = parseArgs({
  options: {
    ...benchOptions('5', '1'),
    containers: { type: 'string', default: '2000' },
    events: { type: 'string', default: '20' },
  },
});
usage(flags.help, `usage: npm run bench:snapshots -- [--containers N] [--events N] [--runs N] [--warmup N] [--out FILE] [--label TEXT]
  --containers N  streams in the synthetic log (default 2000)
  --events N      events per stream, at least 5 (default 20)
  --runs N        measured list() calls per row (default 5)
  --warmup N      unmeasured calls first (default 1)
  --out FILE      JSON result (default bench/results/snapshots-<date>.json)
`);
const { runs: RUNS, warmup: WARMUP } = runOptions(flags);
const CONTAINERS = positiveInt('containers', flags.containers);
const EVENTS = positiveInt('events', flags.events);
if (EVENTS < 5) fatal('--events: at least 5 (create, created, start, started, exited)');

/** A stopped container's life: created, started, paused and resumed as often as it takes, exited. */
function lifecycle(i: number): NewEvent[] {
  const config = { ociVersion: '1.0.2', process: { args: ['sleep', '1000'], cwd: '/' }, root: { path: 'rootfs' }, linux: { resources: { pids: { limit: 100 } } } };
  const out: NewEvent[] = [
    { type: 'CreateRequested', data: { bundle: `/srv/b${i}`, pidFile: null, owner: '' } },
    { type: 'Created', data: { pid: 100000 + i, startTime: '1', created: '2026-01-01T00:00:00.000Z', rootfs: `/srv/b${i}/rootfs`, config, cgroup: `/berth/c${i}` } },
    { type: 'StartRequested', data: {} },
    { type: 'Started', data: {} },
  ];
  const pairs = [
    { type: 'PauseRequested', data: {} }, { type: 'Paused', data: {} },
    { type: 'ResumeRequested', data: {} }, { type: 'Resumed', data: {} },
  ];
  while (out.length + 4 <= EVENTS - 1) out.push(...pairs);
  out.push({ type: 'Exited', data: { code: 0, signal: null } });
  // The rest: OOM kills reported after the exit (a stopped container takes growing counts).
  for (let count = 1; out.length < EVENTS; count++) out.push({ type: 'OomKilled', data: { count } });
  return out;
}

async function writeLog(root: string): Promise<number> {
  const log = await openLevelEventLog(join(root, 'log'));
  let n = 0;
  try {
    for (let i = 0; i < CONTAINERS; i++) {
      const events = lifecycle(i);
      await log.append(`c${String(i).padStart(5, '0')}`, events, { expectedVersion: 'no_stream' });
      n += events.length;
    }
  } finally {
    await log.close();
  }
  return n;
}

/**
 * One row: `call` on a runtime opened for it (as each `berth list` opens its own), `--runs`
 * times after `--warmup`; only the call is timed.
 */
async function timeRow(name: string, snapshots: boolean, call: (rt: Runtime) => Promise<number>, root: string): Promise<Row> {
  let listed = 0;
  let last: Runtime['lastListStats'] = null;
  const xs: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const rt = await openRuntime({ root, serve: false, snapshots });
    try {
      const t0 = now();
      listed = await call(rt);
      if (i >= WARMUP) xs.push(now() - t0);
      last = rt.lastListStats;
    } finally {
      await rt.close();
    }
  }
  log(`  ${name.padEnd(16)} median ${fmt(stats(xs)?.median, 1)} ms  p90 ${fmt(stats(xs)?.p90, 1)} ms  (${listed} listed)${last ? `  ${JSON.stringify(last)}` : ''}`);
  return { name, ms: roundStats(stats(xs), 2), listed, cache: last };
}

interface Row { name: string; ms: Stats | null; listed: number; cache: Runtime['lastListStats']; note?: string }

async function main(): Promise<void> {
  const started = new Date();
  const root = mkdtempSync(join(tmpdir(), 'berth-bench-snap-'));
  try {
    const t0 = now();
    const total = await writeLog(root);
    log(`bench: ${CONTAINERS} streams, ${total} events written in ${fmt((now() - t0) / 1000, 1)} s; load ${hostLine()}`);
    const rows: Row[] = [];
    rows.push(await timeRow('per-container', false, async (rt) => {
      let n = 0;
      for (const id of await rt.log.streams()) {
        await rt.state(id);
        n++;
      }
      return n;
    }, root));
    rows.push(await timeRow('no cache', false, async (rt) => (await rt.list()).length, root));
    const cold = await timeRow('cache, cold', true, async (rt) => {
      // Every entry discarded first: another build of the machine wrote them.
      const snaps = await rt.log.readSnapshots();
      await rt.log.writeSnapshots(snaps.map((s) => ({ ...s, data: { ...s.data, fingerprint: 'another build' } })));
      return (await rt.list()).length;
    }, root);
    rows.push({ ...cold, note: 'every cached entry is from another build: all discarded, folded and rewritten' });
    rows.push(await timeRow('cache, warm', true, async (rt) => (await rt.list()).length, root));
    const behind = await timeRow('cache, behind', true, async (rt) => {
      // One more event on every tenth stream (not timed apart): the cache folds just those.
      const ids = (await rt.log.streams()).filter((_, i) => i % 10 === 0);
      for (const id of ids) {
        const v = await rt.log.version(id);
        await rt.log.append(id, [{ type: 'OomKilled', data: { count: v + 1000 } }], { expectedVersion: v });
      }
      return (await rt.list()).length;
    }, root);
    rows.push({ ...behind, note: 'includes appending one event to every tenth stream first' });
    const report = { bench: 'snapshots', started: started.toISOString(), machine: machineInfo(), code: codeInfo(join(HERE, '..'), flags.label), containers: CONTAINERS, eventsPerContainer: EVENTS, runs: RUNS, warmup: WARMUP, rows };
    writeReport(flags.out, RESULTS, 'snapshots', started, report);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => fatal(e instanceof Error ? e.stack ?? e.message : String(e)));
