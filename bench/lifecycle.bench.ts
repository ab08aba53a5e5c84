/**
 * Lifecycle benchmark: one container running /bin/true, create -> start -> wait -> delete,
 * side by side for berth embedded (the library), the berth CLI, runc, crun and a kernel floor,
 * in one run, on one bundle. See docs/bench.md for what each row measures.
 *
 *   npm run bench [-- --runs N] [--warmup N] [--out FILE] [--keep-node-env] [--trace N]
 *
 * It reports; it never fails on a number. It exits non-zero only when it cannot run at all
 * (not root, nothing built) or when it could not clean up after itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { readCgroupLayout } from '../src/effects/cgroupLayout.js';
import { loadBundle } from '../src/effects/bundle.js';
import { planInit } from '../src/effects/initPlan.js';
import { linuxSyscalls } from '../src/effects/linux.js';
import { encodePlan } from '../src/effects/planWire.js';
import type { Syscalls } from '../src/effects/syscalls.js';
import { openRuntime, type Runtime } from '../src/index.js';
import type { StoredEvent } from '../src/store/eventLog.js';
import { makeBundle, type Bundle } from '../test/helpers/bundle.js';
import {
  benchOptions, trapInterrupts, writeReport, cgroupLeftovers, fatal, fmt as fmtTo, log, machineInfo, nodeChildEnv, nonNegativeInt, now, ownProcesses, prng, reportLeftovers,
  round as roundTo, roundStats, runOptions, shuffled, stats, usage, type Stats,
} from './common.js';

// ---------------------------------------------------------------------------------------------
// options, paths

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = join(HERE, '..');
const CLI = join(REPO, 'dist', 'cli.js');
const DIST_INDEX = join(REPO, 'dist', 'index.js');
const SRC_INDEX = join(REPO, 'src', 'index.ts');
const RSS_CHILD = join(HERE, 'rss-embedded.mjs');
const FLOOR_C = join(HERE, 'floor.c');
const RESULTS = join(HERE, 'results');
const RUNC = '/usr/sbin/runc';
const CRUN = '/usr/bin/crun';
const TIME = '/usr/bin/time';

const { values: flags } = parseArgs({
  options: {
    ...benchOptions('50', '5'),
    'keep-node-env': { type: 'boolean', default: false },
    trace: { type: 'string', default: '0' },
  },
});
usage(flags.help, `usage: npm run bench -- [--runs N] [--warmup N] [--out FILE] [--keep-node-env] [--trace N]
  --runs N          measured iterations per variant (default 50)
  --warmup N        unmeasured rounds first (default 5)
  --out FILE        JSON result (default bench/results/lifecycle-<date>.json)
  --keep-node-env   keep NODE_EXTRA_CA_CERTS for the node children (it is dropped by default)
  --trace N         print the event timeline of the first N measured embedded lifecycles
  --seed N          seed of the per-round shuffle (default: from the clock; printed)
  --label TEXT      a note kept in the JSON (e.g. which code was measured)
`);
const { runs: RUNS, warmup: WARMUP, seed: SEED } = runOptions(flags);
const TRACE = nonNegativeInt('trace', flags.trace);

// Node children get this process's environment, less NODE_EXTRA_CA_CERTS: this sandbox sets
// it, and it makes every node start read a CA bundle (~80 ms here) that berth never uses.
// The startup table measures `node -e 0` both ways so the effect stays visible.
const { env: childEnv, dropped: droppedEnv } = nodeChildEnv(flags['keep-node-env']);

// ---------------------------------------------------------------------------------------------
// statistics

const median = (xs: number[]): number => stats(xs)?.median ?? NaN;
// This bench's report rounds to 3 places and prints 2 by default (common.ts: 4 and 3).
const round = (x: number, d = 3): number => roundTo(x, d);
const fmt = (x: number | undefined, d = 2): string => fmtTo(x, d);

// ---------------------------------------------------------------------------------------------
// child processes

interface ChildResult {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

let errFd = -1; // children's stderr: one file, read back only when a child fails
let errPath = '';

/** Spawn and time to exit, from the bench process's event loop, as every CLI row is timed. */
function timeChild(cmd: string, args: string[], env: NodeJS.ProcessEnv = childEnv): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', errFd], env, cwd: REPO });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ ms: now() - t0, code, signal }));
  });
}

function lastStderr(): string {
  try {
    const text = readFileSync(errPath, 'utf8').trim().split('\n');
    return text.slice(-3).join(' | ').slice(0, 500);
  } catch {
    return '';
  }
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0]!.trim() : `unavailable (${r.error?.message ?? r.stderr.trim()})`;
}

/** Run `floor -t` (with -c: plus a cgroup2 mount) and read the times it reports about itself. */
function selfTimedFloor(bin: string, rootfs: string, cg = false): Promise<{ cloneMs: number; totalMs: number; cgroup2Ms: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-t', ...(cg ? ['-c'] : []), rootfs], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const m = /clone_us=(\d+) total_us=(\d+)/.exec(err);
      if (code !== 0 || !m) reject(new Error(`floor -t: exit ${code}: ${err.trim()}`));
      else resolve({ cloneMs: Number(m[1]) / 1000, totalMs: Number(m[2]) / 1000, cgroup2Ms: Number(/cgroup2_us=(\d+)/.exec(err)?.[1] ?? NaN) / 1000 });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// the embedded runtime, instrumented from the outside

/** What one instrumented lifecycle recorded: the four library calls and what happened inside. */
interface Trace {
  id: string;
  /** create called, create resolved, start resolved, wait resolved, delete resolved. */
  t: number[];
  appends: { type: string; sync: boolean; t0: number; t1: number }[];
  /** Reads of the container's stream: the runtime's load() rebuilding a machine, and state$ (wait). */
  reads: { t0: number; t1: number }[];
  /** When each event was committed (the log's events$). */
  commits: { type: string; t: number }[];
  sys: { call: string; t0: number; t1: number }[];
  /** Readiness callbacks of the fd watches; `pidfd` tells which fd is the init's. */
  fires: { fd: number; t: number }[];
  pidfd: number;
  history: StoredEvent[];
}

let current: Trace | null = null;

/** The Syscalls seam with every call timed; it is how the runtime reaches the kernel. */
function timedSyscalls(inner: Syscalls): Syscalls {
  const timed = <T>(call: string, fn: () => T): T => {
    const t0 = now();
    try {
      return fn();
    } finally {
      current?.sys.push({ call, t0, t1: now() });
    }
  };
  return {
    // Methods added to the seam later pass through untimed (the spread), so the bench keeps
    // running while src/ grows.
    ...inner,
    spawn: (a) => timed('spawn', () => {
      const r = inner.spawn(a);
      if (current) current.pidfd = r.pidfd;
      return r;
    }),
    pidfdOpen: (pid) => timed('pidfdOpen', () => inner.pidfdOpen(pid)),
    pidfdSendSignal: (fd, sig) => timed('pidfdSendSignal', () => inner.pidfdSendSignal(fd, sig)),
    waitid: (fd) => timed('waitid', () => inner.waitid(fd)),
    setChildSubreaper: (on) => timed('setChildSubreaper', () => inner.setChildSubreaper(on)),
    watchFd: (fd, onReady) => timed('watchFd', () => inner.watchFd(fd, () => {
      current?.fires.push({ fd, t: now() });
      onReady();
    })),
    pipe: () => timed('pipe', () => inner.pipe()),
    mkfifo: (p, m) => timed('mkfifo', () => inner.mkfifo(p, m)),
    memfdCreate: (n) => timed('memfdCreate', () => inner.memfdCreate(n)),
    sealedCopy: (p) => timed('sealedCopy', () => inner.sealedCopy(p)),
    close: (fd) => timed('close', () => inner.close(fd)),
  };
}

/** Time every append of the runtime's log and note when each event is committed. */
function instrumentLog(rt: Runtime): () => void {
  const inner = rt.log.append.bind(rt.log);
  rt.log.append = async (stream, events, opts) => {
    const t0 = now();
    try {
      return await inner(stream, events, opts);
    } finally {
      current?.appends.push({ type: events.map((e) => e.type).join('+'), sync: opts.sync === true, t0, t1: now() });
    }
  };
  const innerRead = rt.log.read.bind(rt.log);
  rt.log.read = async (stream, opts) => {
    const t0 = now();
    try {
      return await innerRead(stream, opts);
    } finally {
      current?.reads.push({ t0, t1: now() });
    }
  };
  const sub = rt.events$.subscribe((e) => current?.commits.push({ type: e.type, t: now() }));
  return () => sub.unsubscribe();
}

async function lifecycle(rt: Runtime, id: string, bundle: string, trace: Trace | null): Promise<number> {
  current = trace;
  try {
    const t0 = now();
    const c = await rt.create(id, { bundle, stdio: 'ignore' });
    const t1 = now();
    await c.start();
    const t2 = now();
    const exit = await c.wait();
    const t3 = now();
    await c.delete();
    const t4 = now();
    if (trace) trace.t = [t0, t1, t2, t3, t4];
    if (exit.code !== 0) throw new Error(`${id}: /bin/true exited ${JSON.stringify(exit)}`);
    return t4 - t0;
  } finally {
    current = null;
  }
}

const newTrace = (id: string): Trace => ({ id, t: [], appends: [], reads: [], commits: [], sys: [], fires: [], pidfd: -1, history: [] });

// ---------------------------------------------------------------------------------------------
// the breakdown of one traced lifecycle into phases that add up to the whole

const PHASES = [
  ['create', 'call -> CreateRequested append (id check, stdio, lock, load/replay, can)'],
  ['create', 'CreateRequested append (fsync)'],
  ['create', 'bundle read+validate, plan, container dir, cgroup mkdirs (-> mkfifo)'],
  ['create', 'exec fifo, status pipe, plan memfd (-> spawn)'],
  ['create', 'spawn: clone3 + exec berth-init (parent side)'],
  ['create', 'spawn -> READY (cgroup v1 join; init: mounts, pivot_root)'],
  ['create', 'Created append'],
  ['create', 'Created appended -> create() resolves'],
  ['start', 'call -> StartRequested append'],
  ['start', 'StartRequested append (fsync)'],
  ['start', 'fifo handshake: open fifo, wait for the byte'],
  ['start', 'byte read -> Started append (read, unlink, machine, any Exited append)'],
  ['start', 'Started append'],
  ['start', 'Started appended -> start() resolves'],
  ['wait', 'wait(): state$ subscribe, log read, replay, exit seen'],
  ['delete', 'call -> DeleteRequested append'],
  ['delete', 'DeleteRequested append (fsync)'],
  ['delete', 'delete effect: reap/collect, remove cgroup + container dir'],
  ['delete', 'Deleted append'],
  ['delete', 'Deleted appended -> delete() resolves'],
] as const;

type PhaseRow = (typeof PHASES)[number];

/** Phase durations of one trace, in PHASES order; null when a mark is missing. */
function phasesOf(tr: Trace): (number | null)[] | null {
  const [t0, t1, t2, t3, t4] = tr.t;
  if (t0 === undefined || t1 === undefined || t2 === undefined || t3 === undefined || t4 === undefined) return null;
  const app = (type: string) => tr.appends.find((a) => a.type === type);
  const sys = (call: string, after: number) => tr.sys.find((s) => s.call === call && s.t0 >= after);
  const cr = app('CreateRequested');
  const created = app('Created');
  const sr = app('StartRequested');
  const started = app('Started');
  const dr = app('DeleteRequested');
  const deleted = app('Deleted');
  if (!cr || !created || !sr || !started || !dr || !deleted) return null;
  const mkfifo = sys('mkfifo', cr.t1);
  const spawned = sys('spawn', cr.t1);
  // The start handshake ends at the first fd readiness after the intent was appended (the
  // FIFO, or the init's pidfd if it exited first).
  const handshake = tr.fires.find((f) => f.t >= sr.t1 && f.t <= started.t0);
  const d = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? null : b - a);
  return [
    d(t0, cr.t0), d(cr.t0, cr.t1), d(cr.t1, mkfifo?.t0), d(mkfifo?.t0, spawned?.t0), d(spawned?.t0, spawned?.t1),
    d(spawned?.t1, created.t0), d(created.t0, created.t1), d(created.t1, t1),
    d(t1, sr.t0), d(sr.t0, sr.t1), d(sr.t1, handshake?.t), d(handshake?.t, started.t0), d(started.t0, started.t1), d(started.t1, t2),
    d(t2, t3),
    d(t3, dr.t0), d(dr.t0, dr.t1), d(dr.t1, deleted.t0), d(deleted.t0, deleted.t1), d(deleted.t1, t4),
  ];
}

interface Breakdown {
  phases: { call: string; phase: string; medianMs: number; p90Ms: number; n: number }[];
  calls: Record<'create' | 'start' | 'wait' | 'delete', Stats | null>;
  log: {
    appendsPerLifecycle: number;
    fsyncedPerLifecycle: number;
    msInAppendsPerLifecycle: Stats | null;
    msInFsyncedAppendsPerLifecycle: Stats | null;
    byType: Record<string, Stats | null>;
  };
  exit: {
    /** Lifecycles whose init exit was seen (pidfd readable) before start() resolved. */
    seenBeforeStartResolved: number;
    /** exit seen -> Exited committed. */
    exitSeenToExitedCommittedMs: Stats | null;
    /** Exited committed -> wait() resolved, when Exited was committed after wait() was called. */
    exitedCommittedToWaitResolvedMs: Stats | null;
  };
  syscalls: Record<string, { perLifecycle: number; medianMs: number }>;
  /** Stream reads per call: create's and delete's come from the runtime rebuilding its machine from the log. */
  reads: { perLifecycle: number; medianMs: number; inCreate: number; inStart: number; inWait: number; inDelete: number; deletesThatReread: number };
  /** Consecutive events of the log, from their `at` stamps (millisecond resolution). */
  history: { from: string; to: string; medianMs: number; p90Ms: number; n: number }[];
  historyTotal: Stats | null;
}

function breakdown(traces: Trace[]): Breakdown {
  const rows = traces.map(phasesOf).filter((r): r is (number | null)[] => r !== null);
  const phases = PHASES.map(([call, phase]: PhaseRow, i) => {
    const xs = rows.map((r) => r[i]).filter((x): x is number => typeof x === 'number');
    const s = stats(xs);
    return { call, phase, medianMs: round(s?.median ?? NaN), p90Ms: round(s?.p90 ?? NaN), n: xs.length };
  });
  const span = (a: number, b: number) => traces.map((t) => (t.t[b] ?? NaN) - (t.t[a] ?? NaN)).filter(Number.isFinite);
  const perTrace = (f: (t: Trace) => number) => stats(traces.map(f));
  const types = [...new Set(traces.flatMap((t) => t.appends.map((a) => a.type)))];
  const byType: Record<string, Stats | null> = {};
  for (const ty of types) byType[ty] = stats(traces.flatMap((t) => t.appends.filter((a) => a.type === ty).map((a) => a.t1 - a.t0)));
  const exitSeen = (t: Trace) => t.fires.find((f) => f.fd === t.pidfd)?.t;
  const exitedAt = (t: Trace) => t.commits.find((c) => c.type === 'Exited')?.t;
  const calls = [...new Set(traces.flatMap((t) => t.sys.map((s) => s.call)))];
  const syscalls: Breakdown['syscalls'] = {};
  for (const call of calls) {
    const all = traces.flatMap((t) => t.sys.filter((s) => s.call === call).map((s) => s.t1 - s.t0));
    syscalls[call] = { perLifecycle: round(all.length / traces.length, 2), medianMs: round(median(all)) };
  }
  const readsIn = (t: Trace, a: number, b: number) => t.reads.filter((r) => r.t0 >= (t.t[a] ?? Infinity) && r.t0 < (t.t[b] ?? -Infinity)).length;
  const sumOver = (f: (t: Trace) => number) => round(traces.reduce((n, t) => n + f(t), 0) / Math.max(1, traces.length), 2);
  const reads: Breakdown['reads'] = {
    perLifecycle: sumOver((t) => t.reads.length),
    medianMs: round(median(traces.flatMap((t) => t.reads.map((r) => r.t1 - r.t0)))),
    inCreate: sumOver((t) => readsIn(t, 0, 1)),
    inStart: sumOver((t) => readsIn(t, 1, 2)),
    inWait: sumOver((t) => readsIn(t, 2, 3)),
    inDelete: sumOver((t) => readsIn(t, 3, 4)),
    deletesThatReread: traces.filter((t) => readsIn(t, 3, 4) > 0).length,
  };
  // Consecutive pairs of the log's events, by their `at` stamps.
  const pairs = new Map<string, number[]>();
  const totals: number[] = [];
  for (const t of traces) {
    const h = t.history;
    for (let i = 1; i < h.length; i++) {
      const key = `${h[i - 1]!.type} -> ${h[i]!.type}`;
      const xs = pairs.get(key) ?? [];
      xs.push(Date.parse(h[i]!.at) - Date.parse(h[i - 1]!.at));
      pairs.set(key, xs);
    }
    if (h.length > 1) totals.push(Date.parse(h[h.length - 1]!.at) - Date.parse(h[0]!.at));
  }
  return {
    phases,
    calls: { create: stats(span(0, 1)), start: stats(span(1, 2)), wait: stats(span(2, 3)), delete: stats(span(3, 4)) },
    log: {
      appendsPerLifecycle: round(traces.reduce((n, t) => n + t.appends.length, 0) / traces.length, 2),
      fsyncedPerLifecycle: round(traces.reduce((n, t) => n + t.appends.filter((a) => a.sync).length, 0) / traces.length, 2),
      msInAppendsPerLifecycle: perTrace((t) => t.appends.reduce((s, a) => s + a.t1 - a.t0, 0)),
      msInFsyncedAppendsPerLifecycle: perTrace((t) => t.appends.filter((a) => a.sync).reduce((s, a) => s + a.t1 - a.t0, 0)),
      byType,
    },
    exit: {
      seenBeforeStartResolved: traces.filter((t) => (exitSeen(t) ?? Infinity) < (t.t[2] ?? -Infinity)).length,
      exitSeenToExitedCommittedMs: stats(traces.map((t) => (exitedAt(t) ?? NaN) - (exitSeen(t) ?? NaN)).filter(Number.isFinite)),
      exitedCommittedToWaitResolvedMs: stats(traces.filter((t) => (exitedAt(t) ?? -1) > (t.t[2] ?? Infinity))
        .map((t) => (t.t[3] ?? NaN) - (exitedAt(t) ?? NaN)).filter(Number.isFinite)),
    },
    syscalls,
    reads,
    history: [...pairs].map(([k, xs]) => {
      const [from = '', to = ''] = k.split(' -> ');
      const s = stats(xs);
      return { from, to, medianMs: s?.median ?? NaN, p90Ms: round(s?.p90 ?? NaN), n: xs.length };
    }),
    historyTotal: stats(totals),
  };
}

function printTimeline(tr: Trace): void {
  const t0 = tr.t[0] ?? 0;
  const marks: [number, string][] = [
    ...tr.t.map((t, i): [number, string] => [t, ['create()', 'create resolved', 'start resolved', 'wait resolved', 'delete resolved'][i]!]),
    ...tr.appends.flatMap((a): [number, string][] => [[a.t0, `append ${a.type}${a.sync ? ' (sync)' : ''} begins`], [a.t1, `append ${a.type} done`]]),
    ...tr.commits.map((c): [number, string] => [c.t, `committed ${c.type}`]),
    ...tr.reads.map((r): [number, string] => [r.t0, `log.read (${(r.t1 - r.t0).toFixed(3)} ms)`]),
    ...tr.sys.map((s): [number, string] => [s.t0, `sys.${s.call} (${(s.t1 - s.t0).toFixed(3)} ms)`]),
    ...tr.fires.map((f): [number, string] => [f.t, `fd ${f.fd} readable${f.fd === tr.pidfd ? ' (init pidfd: exited)' : ''}`]),
  ];
  marks.sort((a, b) => a[0] - b[0]);
  log(`timeline of ${tr.id}:`);
  for (const [t, what] of marks) log(`  ${(t - t0).toFixed(3).padStart(9)} ms  ${what}`);
}

// ---------------------------------------------------------------------------------------------
// host checks for leftovers (the rest are in common.ts)

const mountCount = (): number => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).length;

// ---------------------------------------------------------------------------------------------
// variants

interface Variant {
  key: string;
  label: string;
  what: string;
  run(id: string): Promise<number>;
  samples: number[];
  errors: string[];
  skipped: string | null;
}

function variant(key: string, label: string, what: string, run: (id: string) => Promise<number>): Variant {
  return { key, label, what, run, samples: [], errors: [], skipped: null };
}

function cliVariant(key: string, label: string, what: string, cmd: string, args: (id: string) => string[], env?: NodeJS.ProcessEnv): Variant {
  return variant(key, label, what, async (id) => {
    const r = await timeChild(cmd, args(id), env);
    if (r.code !== 0) throw new Error(`${cmd} ${args(id).join(' ')}: exit ${r.code ?? r.signal}: ${lastStderr()}`);
    return r.ms;
  });
}

/** One attempt of `cmd` before the loop: null when it works, else its error. */
async function attempt(cmd: string, args: string[]): Promise<string | null> {
  const before = readFileSync(errPath, 'utf8').length;
  try {
    const r = await timeChild(cmd, args);
    if (r.code === 0) return null;
    const err = readFileSync(errPath, 'utf8').slice(before).trim();
    return `exit ${r.code ?? r.signal}: ${err || '(no message)'}`;
  } catch (e) {
    return (e as Error).message;
  }
}

// ---------------------------------------------------------------------------------------------
// main

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) fatal('run as root (containers need CAP_SYS_ADMIN)');
  for (const f of [CLI, DIST_INDEX]) if (!existsSync(f)) fatal(`${f} is missing: run npm run build`);

  const started = new Date();
  const prefix = `bb${process.pid}`;
  const work = mkdtempSync('/run/berth-bench-');
  errPath = join(work, 'children.stderr');
  errFd = openSync(errPath, 'a+');
  const roots = { embedded: join(work, 'e'), plain: join(work, 'p'), cli: join(work, 'c'), runc: join(work, 'r'), crun: join(work, 'n'), rss: join(work, 's') };
  for (const r of Object.values(roots)) mkdirSync(r, { recursive: true, mode: 0o700 });
  const mountsBefore = mountCount();
  const load0 = loadavg();
  const notes: string[] = [];
  const runtimes: Runtime[] = [];
  let bundle: Bundle | null = null;
  let noCgroupBundle: Bundle | null = null;
  let stopLog: (() => void) | null = null;
  const signals = trapInterrupts();

  try {
    bundle = makeBundle(['/bin/true']);
    noCgroupBundle = makeBundle(['/bin/true'], (c) => {
      c.mounts = (c.mounts ?? []).filter((m) => m.destination !== '/sys/fs/cgroup');
    });
    const B = bundle.dir;
    log(`bench: bundle ${B}, work dir ${work}, ${RUNS} runs + ${WARMUP} warm-up rounds`);

    // -- the floor, compiled now -------------------------------------------------------------
    const floorBin = join(work, 'floor');
    const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', floorBin, FLOOR_C], { encoding: 'utf8' });
    const floorError = cc.status === 0 ? null : `gcc failed: ${cc.error?.message ?? cc.stderr.trim()}`;

    // -- the runtimes -------------------------------------------------------------------------
    const rt = await openRuntime({ root: roots.embedded, syscalls: timedSyscalls(linuxSyscalls()) });
    runtimes.push(rt);
    stopLog = instrumentLog(rt);
    const plain = await openRuntime({ root: roots.plain });
    runtimes.push(plain);

    const traces: Trace[] = [];
    const floorCloneMs: number[] = [];
    const cgroup2MountMs: number[] = [];
    let measuring = false;
    const variants: Variant[] = [
      variant('embedded', 'berth embedded (library)', 'one openRuntime kept open; create -> start -> wait -> delete, stdio ignore; timed around the four calls (with the breakdown hooks)',
        async (id) => {
          const tr = measuring ? newTrace(id) : null;
          const ms = await lifecycle(rt, id, B, tr);
          if (tr) {
            tr.history = await rt.history(id);
            traces.push(tr);
          }
          return ms;
        }),
      variant('embedded-plain', 'berth embedded, no hooks', 'the same on a second runtime with no instrumentation: shows what the hooks cost',
        (id) => lifecycle(plain, id, B, null)),
      cliVariant('berth-cli', 'berth CLI run', `node dist/cli.js --root R run --bundle B <id> (node startup included)`,
        process.execPath, (id) => [CLI, '--root', roots.cli, 'run', '--bundle', B, id]),
      cliVariant('runc', 'runc CLI run', 'runc --root R run --bundle B <id>', RUNC, (id) => ['--root', roots.runc, 'run', '--bundle', B, id]),
      cliVariant('crun', 'crun CLI run', 'crun --root R run --bundle B <id>', CRUN, (id) => ['--root', roots.crun, 'run', '--bundle', B, id]),
      cliVariant('floor', 'kernel floor (bench/floor.c)', 'clone(NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET), rslave /, bind rootfs, pivot_root, exec /bin/true, wait',
        floorBin, () => [bundle!.config.root.path]),
      variant('floor-self', 'kernel floor, self-timed', 'floor -t: clone -> reaped timed inside the small C process (no cost of forking the bench process)',
        async () => {
          const r = await selfTimedFloor(floorBin, bundle!.config.root.path);
          if (measuring) floorCloneMs.push(r.cloneMs);
          return r.totalMs;
        }),
      variant('floor-cg2', 'floor + cgroup2 mount (diag.)', 'diagnostic: floor -t -c, the self-timed floor plus one fresh cgroup2 mount, as berth makes for /sys/fs/cgroup/unified',
        async () => {
          const r = await selfTimedFloor(floorBin, bundle!.config.root.path, true);
          if (measuring) cgroup2MountMs.push(r.cgroup2Ms);
          return r.totalMs;
        }),
      variant('embedded-nocg', 'berth embedded, no cgroup mount', 'diagnostic: as "no hooks", on a second bundle whose config drops the /sys/fs/cgroup mount (not the comparison config)',
        (id) => lifecycle(plain, id, noCgroupBundle!.dir, null)),
      cliVariant('node', 'node -e 0', 'Node startup alone (no berth code)', process.execPath, () => ['-e', '0']),
      // --help, not --version: --version also asks the init helper, criu and git for the build's
      // features. The row keeps its id so results stay comparable with earlier runs.
      cliVariant('berth-version', 'berth --help', 'node + loading the CLI module graph, no container, no log', process.execPath, () => [CLI, '--help']),
      cliVariant('host-true', 'host /bin/true', 'the harness: spawn -> exit of a process doing nothing, no namespaces', '/bin/true', () => []),
    ];
    const byKey = (k: string) => variants.find((v) => v.key === k)!;

    // -- check each one once before the loop --------------------------------------------------
    const runcVersion = version(RUNC, ['--version']);
    const crunVersion = version(CRUN, ['--version']);
    if (floorError) byKey('floor').skipped = byKey('floor-self').skipped = byKey('floor-cg2').skipped = floorError;
    const runcCheck = await attempt(RUNC, ['--root', roots.runc, 'run', '--bundle', B, `${prefix}-check`]);
    if (runcCheck) {
      byKey('runc').skipped = `runc refused the bundle: ${runcCheck}`;
      notes.push(`runc does not accept berth's default config: ${runcCheck}`);
    } else {
      notes.push('runc accepts berth\'s default config.json (test/helpers/bundle.ts, args ["/bin/true"]) as it is: the same file serves every runtime.');
    }
    const crunCheck = await attempt(CRUN, ['--root', roots.crun, 'run', '--bundle', B, `${prefix}-check`]);
    if (crunCheck) {
      const crunCheck2 = await attempt(CRUN, ['--cgroup-manager=disabled', '--root', roots.crun, 'run', '--bundle', B, `${prefix}-check2`]);
      byKey('crun').skipped = `crun fails on this host: ${crunCheck}${crunCheck2 ? ` (also with --cgroup-manager=disabled: ${crunCheck2})` : ''}`;
      log(`bench: ${byKey('crun').skipped}`);
      if (!crunCheck2) notes.push('crun fails with cgroups but works with --cgroup-manager=disabled (not measured: not the same work).');
    }

    // -- warm-up, then measured rounds, each round in its own shuffled order ------------------
    // Not a fixed rotation: what ran just before matters (a cgroup2 mount is cheap right after
    // another one, see docs/bench.md), and a fixed order gives one row that advantage every time.
    const rand = prng(SEED);
    const active = () => variants.filter((v) => v.skipped === null);
    const round1 = async (r: number, tag: string) => {
      for (const v of shuffled(active(), rand)) {
        if (v.skipped !== null) continue;
        const id = `${prefix}-${v.key}-${tag}${r}`;
        try {
          const ms = await v.run(id);
          if (measuring) v.samples.push(ms);
        } catch (e) {
          v.errors.push((e as Error).message);
          if (v.errors.length >= 3 && v.samples.length === 0) v.skipped = `failed: ${v.errors[0]}`;
        }
      }
    };
    for (let r = 0; r < WARMUP && !signals.interrupted; r++) await round1(r, 'w');
    measuring = true;
    const tLoop = now();
    for (let r = 0; r < RUNS && !signals.interrupted; r++) {
      await round1(r, 'm');
      if ((r + 1) % 10 === 0) log(`bench: ${r + 1}/${RUNS} rounds (${((now() - tLoop) / 1000).toFixed(1)} s)`);
    }
    measuring = false;
    for (const tr of traces.slice(0, TRACE)) printTimeline(tr);

    // -- bundle+plan cost alone (the part of create that no hook can split) -------------------
    const layout = readCgroupLayout();
    const kcore = existsSync('/proc/kcore');
    const tBundle: number[] = [];
    const tPlan: number[] = [];
    for (let i = 0; i < 20 + RUNS * 4; i++) {
      const a = now();
      const { config, rootfs } = loadBundle(B);
      const b = now();
      encodePlan(planInit(config, { rootfs, bundle: B, cgroups: layout, kcore }).ops);
      const c = now();
      if (i >= 20) {
        tBundle.push(b - a);
        tPlan.push(c - b);
      }
    }

    // -- memory --------------------------------------------------------------------------------
    const rss = await measureRss(B, bundle.config.root.path, roots, prefix, floorError ? null : floorBin, !byKey('runc').skipped);
    const hwm = Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);

    // -- CLI startup: what node and the imports cost -------------------------------------------
    const startup = await measureStartup();

    // -- cross-check of the process rows from a lean parent (hyperfine), when installed --------
    const cross = await hyperfineCrossCheck(work, B, roots, prefix, floorError ? null : floorBin, bundle.config.root.path, !byKey('runc').skipped);

    // -- results -------------------------------------------------------------------------------
    const st = Object.fromEntries(variants.map((v) => [v.key, stats(v.samples)]));
    const med = (k: string) => st[k]?.median ?? NaN;
    const ratio = (a: string, b: string) => round(med(a) / med(b), 2);
    const ratios = {
      'berth-embedded/runc': ratio('embedded', 'runc'),
      'berth-cli/runc': ratio('berth-cli', 'runc'),
      'berth-embedded/floor': ratio('embedded', 'floor'),
      'runc/floor': ratio('runc', 'floor'),
      'berth-cli/floor': ratio('berth-cli', 'floor'),
      'node-startup/berth-cli': ratio('node', 'berth-cli'),
      'berth-version/berth-cli': ratio('berth-version', 'berth-cli'),
      'crun/floor': ratio('crun', 'floor'),
      'berth-embedded/crun': ratio('embedded', 'crun'),
      'berth-embedded-no-hooks/runc': ratio('embedded-plain', 'runc'),
      'berth-embedded/floor-self-timed': ratio('embedded', 'floor-self'),
      'berth-embedded/runc-hyperfine': round(med('embedded') / (cross.rows.find((r) => r.key === 'runc')?.medianMs ?? NaN), 2),
      'berth-embedded/floor-hyperfine': round(med('embedded') / (cross.rows.find((r) => r.key === 'floor')?.medianMs ?? NaN), 2),
    };
    const bd = breakdown(traces);
    const standalone = { loadBundleMs: stats(tBundle), planInitAndEncodeMs: stats(tPlan) };
    const load1 = loadavg();

    // -- leftovers: containers, processes, cgroups, mounts ---------------------------------------
    const leftovers: string[] = [];
    for (const r of [rt, plain]) {
      const ls = await r.list();
      if (ls.length > 0) leftovers.push(`embedded root ${r.root}: ${ls.map((s) => `${s.id}(${s.status})`).join(', ')}`);
    }
    const cliList = spawnSync(process.execPath, [CLI, '--root', roots.cli, 'list', '--quiet'], { encoding: 'utf8', env: childEnv });
    if (cliList.stdout.trim()) leftovers.push(`berth CLI root: ${cliList.stdout.trim()}`);
    const runcList = spawnSync(RUNC, ['--root', roots.runc, 'list', '--quiet'], { encoding: 'utf8' });
    if (runcList.stdout.trim()) leftovers.push(`runc root: ${runcList.stdout.trim()}`);

    const report = {
      kind: 'berth lifecycle bench',
      date: started.toISOString(),
      options: { runs: RUNS, warmup: WARMUP, seed: SEED, interleaved: 'every round runs each variant once, in an order shuffled per round (seeded)' },
      machine: {
        ...machineInfo(), runc: runcVersion, crun: crunVersion.split('\n')[0], loadavgBefore: load0, loadavgAfter: load1,
        cgroups: layout.kind, stateFs: '/run (the roots), bundle in the tmpdir',
      },
      env: { droppedForNodeChildren: droppedEnv },
      code: gitState(),
      bundle: { process: ['/bin/true'], rootfs: bundle.config.root.path, config: 'berth defaultConfig() via test/helpers/bundle.ts, identical for every runtime' },
      variants: Object.fromEntries(variants.map((v) => [v.key, {
        label: v.label, what: v.what, skipped: v.skipped, errors: v.errors.slice(0, 5), errorCount: v.errors.length,
        stats: st[v.key] && roundStats(st[v.key]!, 3), samplesMs: v.samples.map((x) => round(x)),
      }])),
      ratios,
      goal: {
        statement: 'embedded path at most half of a crun CLI run (about 2x the kernel floor)',
        crunMeasured: !byKey('crun').skipped,
        embeddedOverFloor: ratios['berth-embedded/floor'],
        metByFloorProxy: ratios['berth-embedded/floor'] <= 2,
        embeddedOverRunc: ratios['berth-embedded/runc'],
      },
      breakdown: { ...bd, standalone, floorCloneCallMs: stats(floorCloneMs), cgroup2MountMs: stats(cgroup2MountMs) },
      hyperfine: cross,
      rss,
      benchProcessVmHWMKiB: hwm,
      startup,
      notes,
      leftovers,
    };

    printReport(report, variants, st, bd, standalone, rss, startup, hwm, stats(floorCloneMs), stats(cgroup2MountMs), cross);

    writeReport(flags.out, RESULTS, 'lifecycle', started, report);
    if (leftovers.length) log(`bench: LEFTOVERS: ${leftovers.join('; ')}`);
    return 0;
  } finally {
    stopLog?.();
    for (const r of runtimes) await r.close().catch((e: unknown) => log(`bench: closing a runtime: ${String(e)}`));
    const procs = ownProcesses(prefix);
    const cg = cgroupLeftovers([prefix], 3);
    bundle?.cleanup();
    noCgroupBundle?.cleanup();
    if (errFd >= 0) closeSync(errFd);
    rmSync(work, { recursive: true, force: true });
    const mountsAfter = mountCount();
    let dirty = false;
    if (reportLeftovers(procs, cg)) dirty = true;
    if (mountsAfter !== mountsBefore) log(`bench: host mount table had ${mountsBefore} entries before, ${mountsAfter} after (other sessions may mount too)`);
    signals.off();
    if (dirty) leftBehind = true;
  }
}

/** Set when the bench could not clean up after itself: the one way it exits non-zero after running. */
let leftBehind = false;

/** Which code was measured: the embedded rows run src/ as it is on disk (through tsx), the CLI rows dist/. */
function gitState(): { commit: string; srcChanges: string[]; distBuilt: string | null; label: string | null } {
  const git = (args: string[]) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout?.trim() ?? '';
  let distBuilt: string | null = null;
  try {
    distBuilt = statSync(CLI).mtime.toISOString();
  } catch {
    distBuilt = null;
  }
  return {
    commit: git(['rev-parse', 'HEAD']) || 'unknown (not a git checkout: see label)',
    srcChanges: git(['status', '--porcelain', '--', 'src', 'native']).split('\n').filter(Boolean),
    distBuilt,
    label: flags.label ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// memory: peak RSS from /usr/bin/time, and VmHWM from inside the embedding process

interface RssResult {
  tool: string | null;
  rows: { key: string; label: string; maxRssKiB: number[]; note?: string; inside?: unknown }[];
}

async function timeV(cmd: string, args: string[], env: NodeJS.ProcessEnv = childEnv): Promise<{ maxRssKiB: number; code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ['-v', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, cwd: REPO });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.once('error', reject);
    child.once('close', (code) => {
      const kib = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? NaN);
      const status = Number(/Exit status: (\d+)/.exec(err)?.[1] ?? code ?? NaN);
      resolve({ maxRssKiB: kib, code: status, stdout: out });
    });
  });
}

async function measureRss(B: string, rootfs: string, roots: Record<string, string>, prefix: string, floorBin: string | null, runcOk: boolean): Promise<RssResult> {
  if (!existsSync(TIME)) {
    log('bench: /usr/bin/time is missing (apt-get install -y time): peak RSS of the children not measured');
    return { tool: null, rows: [] };
  }
  const rows: RssResult['rows'] = [];
  const n = Math.min(RUNS, 50);
  for (const [key, label, args] of [
    ['embedded-dist', `embedded, dist/index.js (plain node), ${n} lifecycles`, ['--expose-gc', RSS_CHILD, DIST_INDEX]],
    ['embedded-src', `embedded, src/index.ts (node --import tsx), ${n} lifecycles`, ['--expose-gc', '--import', 'tsx', RSS_CHILD, SRC_INDEX]],
  ] as const) {
    const root = join(roots.rss!, key);
    const r = await timeV(process.execPath, [...args, root, B, String(n), `${prefix}-rss${key}`]);
    let inside: unknown = null;
    try {
      inside = JSON.parse(r.stdout);
    } catch {
      inside = { error: `exit ${r.code}`, stdout: r.stdout.slice(0, 200) };
    }
    rows.push({ key, label, maxRssKiB: [r.maxRssKiB], inside });
    rmSync(root, { recursive: true, force: true });
  }
  const repeat = async (key: string, label: string, cmd: string, args: (i: number) => string[], env?: NodeJS.ProcessEnv) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await timeV(cmd, args(i), env);
      if (r.code === 0) xs.push(r.maxRssKiB);
    }
    rows.push({ key, label, maxRssKiB: xs });
  };
  await repeat('berth-cli', 'one `berth run` (CLI)', process.execPath, (i) => [CLI, '--root', roots.cli!, 'run', '--bundle', B, `${prefix}-rsscli${i}`]);
  await repeat('node', 'node -e 0', process.execPath, () => ['-e', '0']);
  if (runcOk) await repeat('runc', 'one `runc run`', RUNC, (i) => ['--root', roots.runc!, 'run', '--bundle', B, `${prefix}-rssrunc${i}`]);
  if (floorBin) await repeat('floor', 'kernel floor', floorBin, () => [rootfs]);
  return { tool: `${TIME} -v (Maximum resident set size)`, rows };
}

// ---------------------------------------------------------------------------------------------
// CLI startup: node, and the cost of importing berth's dependencies

async function measureStartup(): Promise<{ key: string; label: string; medianMs: number; samplesMs: number[] }[]> {
  const withCa = { ...childEnv, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS };
  const imp = (spec: string) => ['--input-type=module', '-e', `await import(${JSON.stringify(spec)})`];
  const rows: [string, string, string[], NodeJS.ProcessEnv][] = [
    ['node', 'node -e 0', ['-e', '0'], childEnv],
    ['import-rxjs', 'node + import rxjs', imp('rxjs'), childEnv],
    ['import-xstate', 'node + import xstate', imp('xstate'), childEnv],
    ['import-pino', 'node + import pino', imp('pino'), childEnv],
    ['import-classic-level', 'node + import classic-level', imp('classic-level'), childEnv],
    ['import-dist-index', 'node + import dist/index.js (the library)', imp(DIST_INDEX), childEnv],
    ['berth-version', 'berth --help (node + the CLI module graph)', [CLI, '--help'], childEnv],
  ];
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined && droppedEnv.length) rows.push(['node-with-ca', 'node -e 0 with this sandbox\'s NODE_EXTRA_CA_CERTS', ['-e', '0'], withCa]);
  const samples = new Map<string, number[]>(rows.map(([k]) => [k, []]));
  for (let i = 0; i < 7; i++) {
    for (let k = 0; k < rows.length; k++) {
      const [key, , args, env] = rows[(i + k) % rows.length]!;
      const r = await timeChild(process.execPath, args, env);
      if (r.code === 0) samples.get(key)!.push(r.ms);
    }
  }
  return rows.map(([key, label]) => {
    const xs = samples.get(key)!;
    return { key, label, medianMs: round(median(xs)), samplesMs: xs.map((x) => round(x)) };
  });
}

// ---------------------------------------------------------------------------------------------
// hyperfine: the same process rows timed from a small Rust parent instead of this node process

interface CrossCheck {
  tool: string | null;
  error?: string;
  rows: { key: string; label: string; medianMs: number | null; meanMs?: number; minMs?: number; error?: string }[];
}

async function hyperfineCrossCheck(
  work: string, B: string, roots: Record<string, string>, prefix: string, floorBin: string | null, rootfs: string, runcOk: boolean,
): Promise<CrossCheck> {
  const which = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0) return { tool: null, error: 'not installed (apt-get install -y hyperfine); skipped', rows: [] };
  // hyperfine runs one command line over and over: each row reuses one id, which works
  // because every run deletes its container before the next starts.
  const rows: [string, string, string][] = [
    ['host-true', 'host /bin/true', '/bin/true'],
    ...(floorBin ? [['floor', 'kernel floor', `${floorBin} ${rootfs}`] as [string, string, string]] : []),
    ...(runcOk ? [['runc', 'runc run (one id, reused)', `${RUNC} --root ${roots.runc} run --bundle ${B} ${prefix}-hf`] as [string, string, string]] : []),
    ['berth-cli', 'berth CLI run (one id, reused)', `${process.execPath} ${CLI} --root ${roots.cli} run --bundle ${B} ${prefix}-hf`],
    ['node', 'node -e 0', `${process.execPath} -e 0`],
  ];
  const out: CrossCheck = { tool: which.stdout.trim(), rows: [] };
  for (const [key, label, cmd] of rows) {
    const json = join(work, `hyperfine-${key}.json`);
    const runs = key === 'berth-cli' ? Math.min(RUNS, 20) : RUNS;
    const r = spawnSync('hyperfine', ['-N', '--style', 'none', '--warmup', String(Math.max(1, WARMUP)), '--runs', String(runs), '--export-json', json, cmd], {
      encoding: 'utf8', env: childEnv, cwd: REPO,
    });
    if (r.status !== 0) {
      out.rows.push({ key, label, medianMs: null, error: (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ') });
      continue;
    }
    const res = (JSON.parse(readFileSync(json, 'utf8')) as { results: { median: number; mean: number; min: number }[] }).results[0];
    out.rows.push({ key, label: `${label}, ${runs} runs`, medianMs: round((res?.median ?? NaN) * 1000), meanMs: round((res?.mean ?? NaN) * 1000), minMs: round((res?.min ?? NaN) * 1000) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the printed report

function printReport(
  report: { ratios: Record<string, number>; notes: string[]; machine: { loadavgBefore: number[]; loadavgAfter: number[] }; goal: { crunMeasured: boolean } },
  variants: Variant[], st: Record<string, Stats | null>, bd: Breakdown,
  standalone: { loadBundleMs: Stats | null; planInitAndEncodeMs: Stats | null },
  rss: RssResult, startup: { label: string; medianMs: number }[], hwm: number,
  floorClone: Stats | null, cgroup2Mount: Stats | null, cross: CrossCheck,
): void {
  const p = (s: string) => process.stdout.write(`${s}\n`);
  p('');
  p(`berth lifecycle bench: /bin/true, create -> start -> wait -> delete; ${RUNS} runs per row after ${WARMUP} warm-up rounds, interleaved (shuffled per round, --seed ${SEED})`);
  p(`${cpus().length} cores, Linux ${release()}, node ${process.version}; load average ${report.machine.loadavgBefore.map((x) => x.toFixed(2)).join(' ')} before, ${report.machine.loadavgAfter.map((x) => x.toFixed(2)).join(' ')} after`);
  p('');
  p(`${'row'.padEnd(32)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}   (ms)  n   errors`);
  for (const v of variants) {
    const s = st[v.key];
    if (v.skipped) {
      p(`${v.label.padEnd(32)} skipped: ${v.skipped}`);
      continue;
    }
    p(`${v.label.padEnd(32)} ${fmt(s?.median).padStart(8)} ${fmt(s?.p90).padStart(8)} ${fmt(s?.min).padStart(8)} ${fmt(s?.max).padStart(8)}        ${String(s?.n ?? 0).padEnd(3)} ${v.errors.length || ''}`);
  }
  p('');
  p('ratios of medians:');
  for (const [k, v] of Object.entries(report.ratios)) if (Number.isFinite(v)) p(`  ${k.padEnd(26)} ${v.toFixed(2)}`);
  const ef = report.ratios['berth-embedded/floor'] ?? NaN;
  const efs = report.ratios['berth-embedded/floor-self-timed'] ?? NaN;
  p(`goal (embedded <= half a crun run, ~2x floor): embedded/floor = ${fmt(ef)} (${fmt(efs)} against the self-timed floor) -> ${ef <= 2 ? 'met' : 'NOT met'}${report.goal.crunMeasured ? '' : ' (crun could not run here: judged against the floor)'}`);
  p(`kernel floor, clone() call alone (namespace creation, from the small C parent): median ${fmt(floorClone?.median)} ms`);
  p(`one fresh cgroup2 mount(2) in a new mount namespace (floor -c): median ${fmt(cgroup2Mount?.median)} ms, p90 ${fmt(cgroup2Mount?.p90)}`);
  const cgCost = (st['embedded-plain']?.median ?? NaN) - (st['embedded-nocg']?.median ?? NaN);
  p(`berth embedded without the /sys/fs/cgroup mount: median ${fmt(st['embedded-nocg']?.median)} ms (${fmt(cgCost)} ms less than with it)`);
  p('');
  p('where berth embedded time goes (median ms per lifecycle; phases of one call add up to it):');
  for (const call of ['create', 'start', 'wait', 'delete'] as const) {
    p(`  ${call}()  median ${fmt(bd.calls[call]?.median)}  p90 ${fmt(bd.calls[call]?.p90)}`);
    for (const ph of bd.phases.filter((x) => x.call === call)) p(`      ${fmt(ph.medianMs, 3).padStart(8)}  ${ph.phase}`);
  }
  p(`  standalone: loadBundle ${fmt(standalone.loadBundleMs?.median, 3)} ms, planInit+encode ${fmt(standalone.planInitAndEncodeMs?.median, 3)} ms`);
  p(`  log: ${bd.log.appendsPerLifecycle} appends (${bd.log.fsyncedPerLifecycle} fsynced) per lifecycle, ${fmt(bd.log.msInAppendsPerLifecycle?.median)} ms inside append (${fmt(bd.log.msInFsyncedAppendsPerLifecycle?.median)} ms of it fsynced)`);
  p(`  exit: seen before start() resolved in ${bd.exit.seenBeforeStartResolved}/${bd.calls.create?.n ?? 0}; exit seen -> Exited committed ${fmt(bd.exit.exitSeenToExitedCommittedMs?.median, 3)} ms`);
  p(`  stream reads per lifecycle: ${bd.reads.perLifecycle} (create ${bd.reads.inCreate}, start ${bd.reads.inStart}, wait ${bd.reads.inWait}, delete ${bd.reads.inDelete}), median ${fmt(bd.reads.medianMs, 3)} ms each; delete() re-read the stream (machine rebuilt from the log) in ${bd.reads.deletesThatReread}/${bd.calls.delete?.n ?? 0}`);
  p(`  syscalls (calls per lifecycle, median ms): ${Object.entries(bd.syscalls).map(([k, v]) => `${k} ${v.perLifecycle}x ${fmt(v.medianMs, 3)}`).join(', ')}`);
  p('  from the log\'s own `at` stamps (1 ms resolution):');
  for (const h of bd.history) p(`      ${fmt(h.medianMs, 1).padStart(6)}  ${h.from} -> ${h.to}`);
  p(`      ${fmt(bd.historyTotal?.median, 1).padStart(6)}  CreateRequested -> Deleted`);
  p('');
  p('peak RSS (MiB):');
  for (const r of rss.rows) {
    p(`  ${r.label.padEnd(58)} ${fmt(median(r.maxRssKiB) / 1024, 1)}`);
    const i = r.inside as { afterOpen?: { rssKiB: number }; afterRuns?: { rssKiB: number }; heapAfterGcKiB?: { afterOpen: number; afterRuns: number }; liveActors?: number } | undefined;
    if (i?.afterOpen && i.afterRuns) {
      p(`      RSS ${fmt(i.afterOpen.rssKiB / 1024, 1)} after openRuntime -> ${fmt(i.afterRuns.rssKiB / 1024, 1)} after the lifecycles; heap after GC ${fmt((i.heapAfterGcKiB?.afterOpen ?? NaN) / 1024, 1)} -> ${fmt((i.heapAfterGcKiB?.afterRuns ?? NaN) / 1024, 1)}; live actors kept: ${i.liveActors ?? '?'}`);
    }
  }
  p(`  ${'the bench process itself (VmHWM)'.padEnd(58)} ${fmt(hwm / 1024, 1)}`);
  p('');
  if (cross.tool) {
    p(`cross-check with ${cross.tool} (run after the main loop, not interleaved; median ms):`);
    for (const r of cross.rows) p(`  ${r.label.padEnd(58)} ${r.medianMs === null ? `failed: ${r.error ?? ''}` : fmt(r.medianMs)}`);
  } else {
    p(`cross-check with hyperfine: ${cross.error}`);
  }
  p('');
  p('CLI startup (median ms, node children):');
  for (const s of startup) p(`  ${s.label.padEnd(58)} ${fmt(s.medianMs, 1)}`);
  if (report.notes.length) {
    p('');
    for (const n of report.notes) p(`note: ${n}`);
  }
}

const status = await main();
process.exitCode = leftBehind ? 1 : status;
