/**
 * The log's measured goals (issue 7): replay speed, rebuild of many containers, append rate,
 * `state$` fan-out and memory per live container, on this machine. See docs/bench.md ("The
 * log: replay, rebuild, append, fan-out, memory").
 *
 *   npm run bench:log [-- --runs N] [--containers N] [--events N] [--subscribers N] [--live N] [--out FILE]
 *
 * Rows:
 *
 *   replay        the pure fold (src/machines/replay.ts) over in-memory streams, and
 *                 `rt.replay(id)` of one long stream read from LevelDB
 *   rebuild       --containers streams of --events events each in a LevelDB root, all stopped
 *                 (so no kernel probe): `projectAll` without the cache, `list()` without and with
 *                 a warm cache, and the first value of `containers$`
 *   append        LevelDB, one event per append, awaited: one appender, then 100 and 1000
 *                 concurrent appenders on distinct streams; unsynced and synced (as intents are)
 *   fan-out       --subscribers subscriptions to `rt.state$(id)` of one container: time until all
 *                 have their first value, then per committed event until all have seen it
 *   memory        --live real `sleep` containers created and started by one runtime (RSS and
 *                 heap per container; 1000 when they fit, else projected), and 1000 loaded
 *                 (stopped) containers' live machines. Run it on its own (`--only memory`):
 *                 the other parts leave a heap behind that blurs the RSS figures
 *
 * It reports; it never fails on a number. Exit status: 0 after a run, 2 if it cannot start, 1
 * if it left a container, process or cgroup behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstValueFrom, type Subscription } from 'rxjs';

import { openRuntime } from '../src/index.js';
import { replay, type LoggedEvent } from '../src/machines/replay.js';
import { openLevelEventLog } from '../src/store/levelEventLog.js';
import type { EventLog, NewEvent } from '../src/store/eventLog.js';
import { projectAll } from '../src/store/snapshots.js';
import { makeBundle } from '../test/helpers/bundle.js';
import {
  benchOptions, cgroupLeftovers, codeInfo, fatal, fmt, hostLine, log, machineInfo, now, ownProcesses, positiveInt, reportLeftovers, round,
  roundStats, runOptions, stats, usage, writeReport, type Stats,
} from './common.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RESULTS = join(HERE, 'results');

const { values: flags } = parseArgs({
  options: {
    ...benchOptions('5', '1'),
    containers: { type: 'string', default: '1000' },
    events: { type: 'string', default: '20' },
    subscribers: { type: 'string', default: '1000' },
    live: { type: 'string', default: '100' },
    only: { type: 'string' },
  },
});
usage(flags.help, `usage: npm run bench:log -- [--runs N] [--warmup N] [--containers N] [--events N] [--subscribers N] [--live N] [--only PART,...] [--out FILE] [--label TEXT]
  --containers N   streams of the rebuild rows (default 1000)
  --events N       events per stream, at least 5 (default 20)
  --subscribers N  state$ subscriptions of the fan-out rows (default 1000)
  --live N         real sleep containers of the memory row (default 100; 0 skips it)
  --only PARTS     some of replay,rebuild,append,fanout,memory (default all)
`);
const { runs: RUNS, warmup: WARMUP } = runOptions(flags);
const CONTAINERS = positiveInt('containers', flags.containers);
const EVENTS = positiveInt('events', flags.events);
const SUBSCRIBERS = positiveInt('subscribers', flags.subscribers);
const LIVE = Number(flags.live);
if (!Number.isInteger(LIVE) || LIVE < 0) fatal(`--live ${flags.live}: a non-negative integer`);
if (EVENTS < 5) fatal('--events: at least 5 (create, created, start, started, exited)');
const PARTS = new Set((flags.only ?? 'replay,rebuild,append,fanout,memory').split(','));

const CONFIG = { ociVersion: '1.0.2', process: { args: ['sleep', '1000'], cwd: '/' }, root: { path: 'rootfs' }, linux: { resources: { pids: { limit: 100 } } } };

/**
 * A stopped container's life of `n` events: created, started, then updates, execs, pauses and
 * resumes in turn, exited, then OOM counts to make up the number. Every event is one the
 * machine accepts there.
 */
function lifecycle(i: number, n: number): NewEvent[] {
  const out: NewEvent[] = [
    { type: 'CreateRequested', data: { bundle: `/srv/b${i}`, pidFile: null, owner: '' } },
    { type: 'Created', data: { pid: 100000 + i, startTime: '1', created: '2026-01-01T00:00:00.000Z', rootfs: `/srv/b${i}/rootfs`, config: CONFIG, cgroup: `/berth/c${i}` } },
    { type: 'StartRequested', data: {} },
    { type: 'Started', data: {} },
  ];
  const rounds: NewEvent[][] = [
    [{ type: 'PauseRequested', data: {} }, { type: 'Paused', data: {} }, { type: 'ResumeRequested', data: {} }, { type: 'Resumed', data: {} }],
    [{ type: 'UpdateRequested', data: { resources: { pids: { limit: 200 } } } }, { type: 'Updated', data: { resources: { pids: { limit: 200 } } } }],
    [
      { type: 'ExecRequested', data: { execId: 'e1', process: { args: ['id'], cwd: '/', user: { uid: 0, gid: 0 } }, pidFile: null } },
      { type: 'ExecStarted', data: { execId: 'e1', pid: 200000 + i, startTime: '2', args: ['id'] } },
      { type: 'ExecExited', data: { execId: 'e1', code: 0, signal: null } },
    ],
  ];
  for (let r = 0; ; r++) {
    const next = rounds[r % rounds.length]!;
    if (out.length + next.length > n - 1) break;
    out.push(...next);
  }
  out.push({ type: 'Exited', data: { code: 0, signal: null } });
  for (let count = 1; out.length < n; count++) out.push({ type: 'OomKilled', data: { count } });
  return out;
}

const id = (i: number): string => `c${String(i).padStart(5, '0')}`;

/** Runs `fn` `--warmup` + `--runs` times; the measured durations in ms. */
async function timed(fn: () => Promise<unknown> | unknown): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t0 = now();
    await fn();
    if (i >= WARMUP) xs.push(now() - t0);
  }
  return xs;
}

interface Row {
  part: string;
  name: string;
  ms: Stats | null;
  /** Events (or subscribers, containers) per second at the median, where that is the figure. */
  perSecond?: number;
  goal?: string;
  met?: boolean;
  extra?: Record<string, unknown>;
}
const rows: Row[] = [];

function report(row: Row): void {
  rows.push(row);
  const rate = row.perSecond !== undefined ? `  ${Math.round(row.perSecond).toLocaleString('en')}/s` : '';
  const goal = row.goal ? `  goal ${row.goal}: ${row.met ? 'met' : 'NOT met'}` : '';
  const extra = row.extra ? `  ${JSON.stringify(row.extra)}` : '';
  log(`  ${row.part.padEnd(8)} ${row.name.padEnd(44)} median ${fmt(row.ms?.median, 2).padStart(9)} ms  p90 ${fmt(row.ms?.p90, 2).padStart(9)} ms${rate}${goal}${extra}`);
}

function asLogged(events: NewEvent[]): LoggedEvent[] {
  return events.map((e, i) => ({ version: i + 1, type: e.type, data: e.data, at: '2026-01-01T00:00:00.000Z' }));
}

async function writeStreams(log: EventLog, count: number, n: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < count; i++) {
    const events = lifecycle(i, n);
    await log.append(id(i), events, { expectedVersion: 'no_stream' });
    total += events.length;
  }
  return total;
}

async function benchReplay(work: string): Promise<void> {
  const streams = Array.from({ length: 1000 }, (_, i) => asLogged(lifecycle(i, EVENTS)));
  const total = streams.length * EVENTS;
  const xs = await timed(() => {
    for (const [i, s] of streams.entries()) replay(id(i), s);
  });
  const s = stats(xs);
  report({ part: 'replay', name: `fold, ${streams.length} streams x ${EVENTS} events (memory)`, ms: roundStats(s, 2), perSecond: s ? total / (s.median / 1000) : 0, goal: '>= 100k events/s', met: s !== null && total / (s.median / 1000) >= 100_000 });
  const long = 5000;
  const root = join(work, 'replay');
  const lg = await openLevelEventLog(join(root, 'log'));
  await lg.append('long', lifecycle(0, long), { expectedVersion: 'no_stream' });
  await lg.close();
  const rt = await openRuntime({ root, serve: false });
  try {
    const ys = await timed(() => rt.replay('long'));
    const t = stats(ys);
    report({ part: 'replay', name: `rt.replay(id), one stream of ${long} events (LevelDB)`, ms: roundStats(t, 2), perSecond: t ? long / (t.median / 1000) : 0, goal: '>= 100k events/s', met: t !== null && long / (t.median / 1000) >= 100_000 });
  } finally {
    await rt.close();
  }
}

async function benchRebuild(work: string): Promise<void> {
  const root = join(work, 'rebuild');
  const lg = await openLevelEventLog(join(root, 'log'));
  const total = await writeStreams(lg, CONTAINERS, EVENTS);
  const s = stats(await timed(() => projectAll(lg, { cache: false })));
  report({ part: 'rebuild', name: `projectAll, no cache (${CONTAINERS} x ${EVENTS})`, ms: roundStats(s, 2), perSecond: s ? total / (s.median / 1000) : 0, goal: '< 500 ms', met: s !== null && s.median < 500 });
  await lg.close();
  for (const cache of [false, true]) {
    const rt = await openRuntime({ root, serve: false, snapshots: cache });
    try {
      const t = stats(await timed(() => rt.list()));
      report({ part: 'rebuild', name: `rt.list(), ${cache ? 'warm cache' : 'no cache'}`, ms: roundStats(t, 2), goal: '< 500 ms', met: t !== null && t.median < 500 });
    } finally {
      await rt.close();
    }
  }
  const rt = await openRuntime({ root, serve: false, snapshots: false });
  try {
    const t = stats(await timed(() => firstValueFrom(rt.containers$)));
    report({ part: 'rebuild', name: 'first value of rt.containers$, no cache', ms: roundStats(t, 2), goal: '< 500 ms', met: t !== null && t.median < 500 });
  } finally {
    await rt.close();
  }
}

async function benchAppend(work: string): Promise<void> {
  // Events per run: one appender waits for each write (a synced one for each flush), so it gets fewer.
  const totals: Record<string, number> = { 'false/1': 2000, 'false/100': 20000, 'false/1000': 20000, 'true/1': 200, 'true/100': 10000, 'true/1000': 20000 };
  for (const sync of [false, true]) {
    for (const appenders of [1, 100, 1000]) {
      const each = totals[`${sync}/${appenders}`]! / appenders;
      const dir = mkdtempSync(join(work, 'append-'));
      const lg = await openLevelEventLog(dir);
      const latencies: number[] = [];
      let round = 0;
      try {
        const xs = await timed(async () => {
          round++;
          await Promise.all(Array.from({ length: appenders }, async (_, a) => {
            const stream = `r${round}-s${a}`;
            for (let v = 0; v < each; v++) {
              const t0 = now();
              await lg.append(stream, [{ type: 'StartRequested', data: {} }], { expectedVersion: v, sync });
              latencies.push(now() - t0);
            }
          }));
        });
        const s = stats(xs);
        const n = appenders * each;
        report({
          part: 'append', name: `${appenders} appender${appenders > 1 ? 's' : ''}, ${sync ? 'synced' : 'unsynced'}, ${n} events per run`,
          ms: roundStats(s, 2), perSecond: s ? n / (s.median / 1000) : 0, goal: '>= 20k events/s', met: s !== null && n / (s.median / 1000) >= 20_000,
          extra: { appendLatencyMs: roundStats(stats(latencies), 3) },
        });
      } finally {
        await lg.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
function memory(): { rss: number; heap: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}
const MiB = 1024 * 1024;

async function benchFanout(work: string): Promise<void> {
  const root = join(work, 'fanout');
  const lg = await openLevelEventLog(join(root, 'log'));
  await writeStreams(lg, 1, EVENTS);
  await lg.close();
  const rt = await openRuntime({ root, serve: false });
  const subs: Subscription[] = [];
  try {
    const cid = id(0);
    await rt.state(cid);
    const before = memory();
    let seen = 0;
    let want = 0;
    let wake: () => void = () => undefined;
    const t0 = now();
    const firsts = Array.from({ length: SUBSCRIBERS }, () => new Promise<void>((resolve) => {
      let first = true;
      subs.push(rt.state$(cid).subscribe((s) => {
        if (first) {
          first = false;
          resolve();
        } else if (s.version === want && ++seen === SUBSCRIBERS) wake();
      }));
    }));
    await Promise.all(firsts);
    const subscribeMs = now() - t0;
    const after = memory();
    report({
      part: 'fanout', name: `${SUBSCRIBERS} x rt.state$(id): all have their first value`, ms: roundStats(stats([subscribeMs]), 2),
      perSecond: SUBSCRIBERS / (subscribeMs / 1000), extra: { heapPerSubscriberKiB: round((after.heap - before.heap) / SUBSCRIBERS / 1024, 2) },
    });
    let version = await rt.log.version(cid);
    let oom = 1000;
    const xs = await timed(async () => {
      seen = 0;
      want = version + 1;
      const all = new Promise<void>((resolve) => { wake = resolve; });
      await rt.log.append(cid, [{ type: 'OomKilled', data: { count: ++oom } }], { expectedVersion: version });
      version += 1;
      await all;
    });
    const s = stats(xs);
    report({ part: 'fanout', name: `one event appended, until ${SUBSCRIBERS} subscribers saw it`, ms: roundStats(s, 3), perSecond: s ? SUBSCRIBERS / (s.median / 1000) : 0 });
  } finally {
    for (const s of subs) s.unsubscribe();
    await rt.close();
  }
}

async function benchMemory(work: string): Promise<void> {
  // Real containers first, before the loaded ones add to the heap this process keeps.
  if (LIVE > 0) await benchLive(work);
  // Loaded containers: the live machine of each, from the log (all stopped: no kernel probe).
  const root = join(work, 'memory');
  const lg = await openLevelEventLog(join(root, 'log'));
  const loaded = 1000;
  await writeStreams(lg, loaded, EVENTS);
  await lg.close();
  const rt = await openRuntime({ root, serve: false });
  try {
    await rt.state(id(0));
    const before = memory();
    for (let i = 1; i < loaded; i++) await rt.state(id(i));
    const after = memory();
    report({
      part: 'memory', name: `${loaded} loaded (stopped) containers' live machines`, ms: null,
      extra: { heapPerContainerKiB: round((after.heap - before.heap) / (loaded - 1) / 1024, 2), rssPerContainerKiB: round((after.rss - before.rss) / (loaded - 1) / 1024, 2), rssMiB: round(after.rss / MiB, 1) },
    });
  } finally {
    await rt.close();
  }
}

/** --live real `sleep` containers created and started by one runtime: what each costs this process. */
async function benchLive(work: string): Promise<void> {
  const prefix = `bl${process.pid}`;
  const bundle = makeBundle(['sleep', '1000']);
  const live = await openRuntime({ root: join(work, 'live') });
  const made: string[] = [];
  try {
    // One container first: the helper copy, the cgroup layout and the code paths are warm.
    const warm = `${prefix}-w`;
    made.push(warm);
    await (await live.create(warm, { bundle: bundle.dir, stdio: 'ignore' })).start();
    const before = memory();
    const t0 = now();
    for (let i = 0; i < LIVE; i++) {
      const cid = `${prefix}-${i}`;
      made.push(cid);
      await (await live.create(cid, { bundle: bundle.dir, stdio: 'ignore' })).start();
    }
    const ms = now() - t0;
    const after = memory();
    const rssPer = (after.rss - before.rss) / LIVE;
    const projected = after.rss + Math.max(0, rssPer) * Math.max(0, 1000 - LIVE);
    report({
      part: 'memory', name: `${LIVE} real sleep containers, created and started`, ms: roundStats(stats([ms / LIVE]), 2),
      goal: '1000 under 300 MB RSS', met: projected < 300 * 1e6,
      extra: {
        heapPerContainerKiB: round((after.heap - before.heap) / LIVE / 1024, 2), rssPerContainerKiB: round(rssPer / 1024, 2),
        rssBeforeMiB: round(before.rss / MiB, 1), rssMiB: round(after.rss / MiB, 1), ...(LIVE < 1000 ? { projected1000MiB: round(projected / MiB, 1) } : {}),
      },
    });
  } finally {
    for (const cid of made.reverse()) await live.delete(cid, true).catch((e: unknown) => log(`bench: delete ${cid}: ${String(e)}`));
    await live.close();
    bundle.cleanup();
  }
  if (reportLeftovers(ownProcesses(prefix), cgroupLeftovers([prefix]))) leftBehind = true;
  else log('bench: clean: no container, process or cgroup of the memory row is left');
}

let leftBehind = false;

async function main(): Promise<void> {
  const started = new Date();
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-log-'));
  log(`bench: log (${RUNS} runs after ${WARMUP} warm-up); load ${hostLine()}${(globalThis as { gc?: unknown }).gc ? '' : '; no --expose-gc: memory figures include garbage'}`);
  try {
    if (PARTS.has('replay')) await benchReplay(work);
    if (PARTS.has('rebuild')) await benchRebuild(work);
    if (PARTS.has('append')) await benchAppend(work);
    if (PARTS.has('fanout')) await benchFanout(work);
    if (PARTS.has('memory')) await benchMemory(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const result = { bench: 'log', started: started.toISOString(), machine: machineInfo(), code: codeInfo(join(HERE, '..'), flags.label), runs: RUNS, warmup: WARMUP, containers: CONTAINERS, eventsPerContainer: EVENTS, subscribers: SUBSCRIBERS, live: LIVE, rows };
  writeReport(flags.out, RESULTS, 'log', started, result);
}

await main().catch((e: unknown) => fatal(e instanceof Error ? e.stack ?? e.message : String(e)));
process.exitCode = leftBehind ? 1 : 0;
