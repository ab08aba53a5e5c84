/**
 * Cgroup migration benchmark: what moving a process into a cgroup costs on this kernel, cold
 * (nothing migrated for a while) and warm (right after another migration), on a v1 hierarchy
 * and on the hybrid's cgroup2, against spawning straight into a cgroup2 directory with clone3
 * CLONE_INTO_CGROUP through berth's addon, and berth's own create-time path on this host
 * (spawn into the cgroup2 dir, then join the v1 hierarchies). See docs/bench.md ("Cgroup
 * migration").
 *
 *   npm run bench:migration [-- --runs N] [--warmup N] [--gap MS] [--v1 CONTROLLER] [--seed N] [--out FILE]
 *
 * It reports; it never fails on a number. Exit status: 0 after a run, 2 if it cannot start,
 * 1 if it could not clean up after itself.
 */
import { closeSync, constants as fsc, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { readCgroupLayout } from '../src/effects/cgroupLayout.js';
import { cgroupManager } from '../src/effects/cgroups/index.js';
import type { CgroupManager } from '../src/effects/cgroups/types.js';
import { linuxSyscalls } from '../src/effects/linux.js';
import type { Spawned } from '../src/effects/syscalls.js';
import {
  benchOptions, trapInterrupts, writeReport, cgroupLeftovers, codeInfo, fatal, fmt, log, machineInfo, nonNegativeInt, now, ownProcesses, prng, reportLeftovers, round, roundStats,
  runOptions, shuffled, sleep, stats, usage, type Stats,
} from './common.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = join(HERE, '..');
const RESULTS = join(HERE, 'results');
const BUSYBOX = '/bin/busybox';
const SIGKILL = 9;

const { values: flags } = parseArgs({
  options: {
    ...benchOptions('30', '2'),
    gap: { type: 'string', default: '150' },
    v1: { type: 'string', default: 'memory' },
  },
});
usage(flags.help, `usage: npm run bench:migration -- [--runs N] [--warmup N] [--gap MS] [--v1 CONTROLLER] [--seed N] [--out FILE] [--label TEXT]
  --runs N         measured rounds; each runs every scenario once (default 30)
  --warmup N       unmeasured rounds first (default 2)
  --gap MS         idle time before each scenario's timed part, so "cold" is cold (default 150)
  --v1 CONTROLLER  the v1 hierarchy of the v1 scenarios (default memory)
  --seed N         seed of the per-round shuffle (default: from the clock; printed)
  --out FILE       JSON result (default bench/results/migration-<date>.json)
`);
const { runs: RUNS, warmup: WARMUP, seed: SEED } = runOptions(flags);
const GAP = nonNegativeInt('gap', flags.gap);
/** The idle times of the warm-window probe (ms between two migrations of one process). */
const WINDOW_GAPS = [0, 5, 10, 15, 20, 25, 30, 50, 100];

// ---------------------------------------------------------------------------------------------

const sys = linuxSyscalls();

/** Time one write of `pid` to an already open cgroup.procs: the migration alone, no open/close. */
function migrate(procsFd: number, pid: number): number {
  const t0 = now();
  writeSync(procsFd, String(pid));
  return now() - t0;
}

const openProcs = (dir: string): number => openSync(join(dir, 'cgroup.procs'), fsc.O_WRONLY);

function cgroupLine(pid: number, hierarchy: string): string | null {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const l = hierarchy === '' ? lines.find((x) => x.startsWith('0::')) : lines.find((x) => x.split(':')[1]?.split(',').includes(hierarchy));
  return l?.split(':').slice(2).join(':') ?? null;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) fatal('run as root (cgroups)');
  if (!existsSync(BUSYBOX)) fatal(`${BUSYBOX} is missing (busybox-static): scripts/setup.sh`);
  const layout = readCgroupLayout();
  const v1Mount = layout.v1[flags.v1!];
  if (v1Mount === undefined) fatal(`no v1 ${flags.v1} hierarchy here (layout ${layout.kind})`);
  if (layout.unified === null) fatal('no cgroup2 mount here: this bench compares v1 with the hybrid\'s cgroup2');
  const unified = layout.unified;

  const started = new Date();
  const parent = `berth-bench-${process.pid}`;
  const load0 = loadavg();
  const notes: string[] = [];
  const exe = sys.sealedCopy(BUSYBOX);
  const devnull = openSync('/dev/null', 'r+');
  const live = new Set<Spawned>();
  const fds = new Set<number>();
  const dirs: string[] = []; // every cgroup dir this run made, in creation order
  const managers = new Set<CgroupManager>();
  const signals = trapInterrupts();

  const spawnSleeper = (cgroupFd = -1): Spawned => {
    const s = sys.spawn({ exe, argv: ['sleep', '1000'], env: [], flags: 0, fds: [devnull, devnull, devnull], cgroupFd });
    live.add(s);
    return s;
  };
  const kill = async (s: Spawned): Promise<void> => {
    try {
      sys.pidfdSendSignal(s.pidfd, SIGKILL);
    } catch {
      // gone
    }
    await new Promise<void>((resolve) => sys.watchFd(s.pidfd, () => resolve()));
    sys.waitid(s.pidfd);
    sys.close(s.pidfd);
    live.delete(s);
  };
  const open = (dir: string): number => {
    const fd = openProcs(dir);
    fds.add(fd);
    return fd;
  };
  const close = (fd: number) => {
    closeSync(fd);
    fds.delete(fd);
  };
  let seq = 0;
  /** A new, empty cgroup directory under this run's parent in `mount`, and how long mkdir took. */
  const fresh = (mount: string): { dir: string; mkdirMs: number } => {
    const dir = join(mount, parent, `c${++seq}`);
    const t0 = now();
    mkdirSync(dir);
    const mkdirMs = now() - t0;
    dirs.push(dir);
    return { dir, mkdirMs };
  };
  const rmdirRetry = async (dir: string) => {
    for (let i = 0; ; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || i >= 50) throw e;
        await sleep(5);
      }
    }
    const i = dirs.indexOf(dir);
    if (i >= 0) dirs.splice(i, 1);
  };

  // samples: scenario key -> measure name -> ms
  const samples = new Map<string, Map<string, number[]>>();
  let measuring = false;
  const record = (key: string, what: string, ms: number) => {
    if (!measuring) return;
    const m = samples.get(key) ?? new Map<string, number[]>();
    samples.set(key, m);
    const xs = m.get(what) ?? [];
    xs.push(ms);
    m.set(what, xs);
  };
  const checks: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok && checks.length < 20) checks.push(what);
  };

  try {
    for (const mount of [v1Mount, unified]) {
      mkdirSync(join(mount, parent));
      dirs.push(join(mount, parent));
    }
    // Long-lived, populated cgroups: the "existing cgroup" scenarios move a process into these.
    const oldV1 = fresh(v1Mount).dir;
    const oldV2 = fresh(unified).dir;
    const residents = [spawnSleeper(), spawnSleeper()];
    writeFileSync(join(oldV1, 'cgroup.procs'), String(residents[0]!.pid));
    writeFileSync(join(oldV2, 'cgroup.procs'), String(residents[1]!.pid));
    log(`bench: ${RUNS} rounds after ${WARMUP} warm-up rounds, ${GAP} ms idle before each timed part, v1 hierarchy ${flags.v1} (${v1Mount}), cgroup2 ${unified}, seed ${SEED}`);

    /** One of the v1/v2 "new cgroup" scenarios: cold first process, then warm second process, then warm new cgroup. */
    const newCgroup = (key: string, mount: string) => async () => {
      const a = fresh(mount);
      const b = fresh(mount);
      record(key, 'mkdir (one new cgroup)', a.mkdirMs);
      const [p1, p2, p3] = [spawnSleeper(), spawnSleeper(), spawnSleeper()];
      const fa = open(a.dir);
      const fb = open(b.dir);
      await sleep(GAP);
      record(key, 'cold: 1st process into a new cgroup', migrate(fa, p1.pid));
      record(key, 'warm: 2nd process into the same cgroup, right after', migrate(fa, p2.pid));
      record(key, 'warm: 1st process into another new cgroup, right after', migrate(fb, p3.pid));
      const h = mount === unified ? '' : flags.v1!;
      check(cgroupLine(p1.pid, h)?.endsWith(a.dir.slice(mount.length)) === true, `${key}: p1 not in ${a.dir}`);
      close(fa);
      close(fb);
      for (const p of [p1, p2, p3]) await kill(p);
      await rmdirRetry(a.dir);
      await rmdirRetry(b.dir);
    };
    const oldCgroup = (key: string, dir: string) => async () => {
      const p = spawnSleeper();
      const fd = open(dir);
      await sleep(GAP);
      record(key, 'cold: a process into a long-lived, populated cgroup', migrate(fd, p.pid));
      close(fd);
      await kill(p);
    };

    const scenarios: Record<string, { label: string; run: () => Promise<void> }> = {
      'v1-new': { label: `v1 (${flags.v1}): write pid to cgroup.procs of a new cgroup`, run: newCgroup('v1-new', v1Mount) },
      'v1-old': { label: `v1 (${flags.v1}): the same into an existing cgroup`, run: oldCgroup('v1-old', oldV1) },
      'v2-new': { label: 'cgroup2: write pid to cgroup.procs of a new dir', run: newCgroup('v2-new', unified) },
      'v2-old': { label: 'cgroup2: the same into an existing dir', run: oldCgroup('v2-old', oldV2) },
      'spawn-plain': {
        label: 'addon spawn(), no cgroup (clone3 + execveat of busybox sleep, from this process)',
        run: async () => {
          await sleep(GAP);
          const t0 = now();
          const p = spawnSleeper();
          record('spawn-plain', 'spawn()', now() - t0);
          await kill(p);
        },
      },
      'spawn-into': {
        label: 'addon spawn({ cgroupFd }) into a new cgroup2 dir: clone3 CLONE_INTO_CGROUP',
        run: async () => {
          const { dir } = fresh(unified);
          const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
          fds.add(fd);
          await sleep(GAP);
          const t0 = now();
          const p = spawnSleeper(fd);
          record('spawn-into', 'spawn({ cgroupFd })', now() - t0);
          check(cgroupLine(p.pid, '') === dir.slice(unified.length), `spawn-into: ${p.pid} not in ${dir}: ${cgroupLine(p.pid, '')}`);
          close(fd);
          await kill(p);
          await rmdirRetry(dir);
        },
      },
      'spawn-migrate': {
        label: 'addon spawn(), then write its pid to a new cgroup2 dir (cold)',
        run: async () => {
          const { dir } = fresh(unified);
          const fd = open(dir);
          await sleep(GAP);
          const t0 = now();
          const p = spawnSleeper();
          const t1 = now();
          const m = migrate(fd, p.pid);
          record('spawn-migrate', 'spawn()', t1 - t0);
          record('spawn-migrate', 'migrate (cold)', m);
          record('spawn-migrate', 'spawn + migrate', now() - t0);
          close(fd);
          await kill(p);
          await rmdirRetry(dir);
        },
      },
      'berth-hybrid': {
        label: 'berth on this hybrid: cgroupManager create, spawn into its cgroup2 dir, cg.join(pid) (the v1 hierarchies)',
        run: async () => {
          const cg = cgroupManager(layout, `/${parent}/b${++seq}`);
          const t0 = now();
          cg.create(undefined);
          record('berth-hybrid', 'cg.create() (mkdir in every hierarchy, cpuset copy)', now() - t0);
          managers.add(cg);
          await sleep(GAP);
          const t1 = now();
          const fd = cg.openForSpawn()!;
          const p = spawnSleeper(fd);
          closeSync(fd);
          const t2 = now();
          await cg.join(p.pid);
          const t3 = now();
          record('berth-hybrid', 'openForSpawn + spawn({ cgroupFd })', t2 - t1);
          record('berth-hybrid', 'cg.join(pid): the v1 hierarchies', t3 - t2);
          record('berth-hybrid', 'spawn + join', t3 - t1);
          const rel = cg.paths[0]!.slice(Object.values(layout.v1)[0]!.length);
          check(Object.keys(layout.v1).every((c) => cgroupLine(p.pid, c) === rel) && cgroupLine(p.pid, '') === rel, `berth-hybrid: ${p.pid} not in ${rel} everywhere`);
          await kill(p);
          await cg.destroy();
          managers.delete(cg);
        },
      },
      'naive-hybrid': {
        label: 'without CLONE_INTO_CGROUP: spawn(), then write the pid to the cgroup2 dir and to every v1 hierarchy',
        run: async () => {
          const cg = cgroupManager(layout, `/${parent}/b${++seq}`);
          cg.create(undefined);
          managers.add(cg);
          const procFds = cg.paths.map((d) => open(d)); // the cgroup2 dir is the last of cg.paths
          const order = [procFds.length - 1, ...procFds.keys()].slice(0, procFds.length);
          await sleep(GAP);
          const t0 = now();
          const p = spawnSleeper();
          const t1 = now();
          const each = order.map((i) => migrate(procFds[i]!, p.pid));
          record('naive-hybrid', 'spawn()', t1 - t0);
          record('naive-hybrid', '1st write (the cgroup2 dir)', each[0]!);
          record('naive-hybrid', `the ${each.length - 1} v1 writes after it, together`, each.slice(1).reduce((a, b) => a + b, 0));
          record('naive-hybrid', 'spawn + all writes', now() - t0);
          for (const f of procFds) close(f);
          await kill(p);
          await cg.destroy();
          managers.delete(cg);
        },
      },
      'berth-hybrid-split': {
        label: 'the same join by hand: one write per v1 hierarchy, in cg.paths order, each timed',
        run: async () => {
          const cg = cgroupManager(layout, `/${parent}/b${++seq}`);
          cg.create(undefined);
          managers.add(cg);
          const v1Dirs = cg.paths.filter((d) => !d.startsWith(`${unified}/`));
          const procFds = v1Dirs.map((d) => open(d));
          await sleep(GAP);
          const fd = cg.openForSpawn()!;
          const p = spawnSleeper(fd);
          closeSync(fd);
          const each = procFds.map((f) => migrate(f, p.pid));
          record('berth-hybrid-split', `1st v1 write (${v1Dirs[0]!.split('/')[4]})`, each[0]!);
          record('berth-hybrid-split', `the other ${each.length - 1} v1 writes, together`, each.slice(1).reduce((a, b) => a + b, 0));
          each.slice(1).forEach((ms, i) => record('berth-hybrid-split', `  ${v1Dirs[i + 1]!.split('/')[4]}`, ms));
          for (const f of procFds) close(f);
          await kill(p);
          await cg.destroy();
          managers.delete(cg);
        },
      },
    };

    const rand = prng(SEED);
    const keys = Object.keys(scenarios);
    const round1 = async () => {
      for (const k of shuffled(keys, rand)) await scenarios[k]!.run();
    };
    for (let r = 0; r < WARMUP && !signals.interrupted; r++) await round1();
    measuring = true;
    const tLoop = now();
    for (let r = 0; r < RUNS && !signals.interrupted; r++) {
      await round1();
      if ((r + 1) % 5 === 0) log(`bench: ${r + 1}/${RUNS} rounds (${((now() - tLoop) / 1000).toFixed(1)} s)`);
    }

    // -- the warm window: how long after one migration the next one is cold again -----------------
    const windowSamples = new Map<number, number[]>(WINDOW_GAPS.map((g) => [g, []]));
    {
      const a = fresh(v1Mount).dir;
      const b = fresh(v1Mount).dir;
      const fa = open(a);
      const fb = open(b);
      const p = spawnSleeper();
      const reps = Math.max(3, Math.min(8, Math.ceil(RUNS / 4)));
      for (let r = 0; r < reps && !signals.interrupted; r++) {
        for (const g of shuffled(WINDOW_GAPS, rand)) {
          await sleep(GAP);
          migrate(fa, p.pid); // cold, not recorded
          if (g > 0) await sleep(g);
          windowSamples.get(g)!.push(migrate(fb, p.pid));
        }
      }
      close(fa);
      close(fb);
      await kill(p);
      await rmdirRetry(a);
      await rmdirRetry(b);
    }
    measuring = false;
    for (const p of residents) await kill(p);

    // -- results --------------------------------------------------------------------------------
    const table: { scenario: string; label: string; measure: string; stats: Stats | null; under1ms: number }[] = [];
    for (const k of keys) {
      for (const [what, xs] of samples.get(k) ?? []) {
        table.push({ scenario: k, label: scenarios[k]!.label, measure: what, stats: roundStats(stats(xs)), under1ms: xs.filter((x) => x < 1).length });
      }
    }
    const med = (k: string, what: string) => stats(samples.get(k)?.get(what) ?? [])?.median ?? NaN;
    const coldV2 = med('v2-new', 'cold: 1st process into a new cgroup');
    const spawnPlain = med('spawn-plain', 'spawn()');
    const spawnInto = med('spawn-into', 'spawn({ cgroupFd })');
    const spawnMigrate = med('spawn-migrate', 'spawn + migrate');
    const berthTotal = med('berth-hybrid', 'spawn + join');
    const derived = {
      'cold v1 migration / warm (same cgroup)': round(med('v1-new', 'cold: 1st process into a new cgroup') / med('v1-new', 'warm: 2nd process into the same cgroup, right after'), 1),
      'cold v2 migration / warm (same cgroup)': round(coldV2 / med('v2-new', 'warm: 2nd process into the same cgroup, right after'), 1),
      'spawn into cgroup2 - plain spawn (ms): what CLONE_INTO_CGROUP adds': round(spawnInto - spawnPlain, 3),
      'spawn + migrate - spawn into (ms): what CLONE_INTO_CGROUP saves on pure v2': round(spawnMigrate - spawnInto, 3),
      'berth spawn + join - spawn + migrate (ms): what berth saves on this hybrid': round(spawnMigrate - berthTotal, 3),
      'naive hybrid (spawn + 10 writes) - berth (spawn into + join) (ms)': round(med('naive-hybrid', 'spawn + all writes') - berthTotal, 3),
      'berth join / cold v2 migration': round(med('berth-hybrid', 'cg.join(pid): the v1 hierarchies') / coldV2, 2),
    };
    const windows = WINDOW_GAPS.map((g) => ({ idleMs: g, ...roundStats(stats(windowSamples.get(g)!))! }));
    const load1 = loadavg();

    const p = (s: string) => process.stdout.write(`${s}\n`);
    p('');
    p(`berth migration bench: ${RUNS} rounds, each scenario once per round (shuffled, --seed ${SEED}), ${GAP} ms idle before each timed part`);
    p(`${cpus().length} cores, Linux ${release()}, node ${process.version}, cgroups ${layout.kind}; load average ${load0.map((x) => x.toFixed(2)).join(' ')} before, ${load1.map((x) => x.toFixed(2)).join(' ')} after`);
    p('');
    p(`${'measure'.padEnd(62)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}  (ms)  n  <1ms`);
    let last = '';
    for (const r of table) {
      if (r.scenario !== last) {
        p(`${r.scenario}: ${r.label}`);
        last = r.scenario;
      }
      const s = r.stats;
      p(`  ${r.measure.padEnd(60)} ${fmt(s?.median).padStart(8)} ${fmt(s?.p90).padStart(8)} ${fmt(s?.min).padStart(8)} ${fmt(s?.max).padStart(8)}        ${String(s?.n ?? 0).padEnd(3)}${r.under1ms}`);
    }
    p('');
    for (const [k, v] of Object.entries(derived)) p(`  ${k.padEnd(72)} ${Number.isFinite(v) ? v : '-'}`);
    p('');
    p(`warm window (${flags.v1}): one process migrated, then after an idle time migrated again; the second write:`);
    for (const w of windows) p(`  idle ${String(w.idleMs).padStart(4)} ms -> median ${fmt(w.median).padStart(7)} ms, min ${fmt(w.min).padStart(7)}, max ${fmt(w.max).padStart(7)} (n ${w.n})`);
    p('');
    p(checks.length === 0 ? 'checks: every process was in the cgroup(s) it was meant to be in' : `checks FAILED: ${checks.join('; ')}`);
    for (const n of notes) p(`note: ${n}`);

    const report = {
      kind: 'berth migration bench',
      date: started.toISOString(),
      options: { runs: RUNS, warmup: WARMUP, gapMs: GAP, v1: flags.v1, seed: SEED },
      machine: {
        ...machineInfo(),
        cgroups: layout, loadavgBefore: load0, loadavgAfter: load1,
      },
      code: codeInfo(REPO, flags.label),
      timing: 'each migration is one write(2) of the pid to an already open cgroup.procs, timed around writeSync; spawns are timed around the synchronous addon call (returns once the child has exec\'d)',
      table,
      derived,
      warmWindow: windows,
      samplesMs: Object.fromEntries([...samples].map(([k, m]) => [k, Object.fromEntries([...m].map(([w, xs]) => [w, xs.map((x) => round(x))]))])),
      checks,
      notes,
    };
    writeReport(flags.out, RESULTS, 'migration', started, report);
    return 0;
  } finally {
    signals.off();
    for (const s of [...live]) await kill(s).catch(() => undefined);
    for (const fd of fds) closeSync(fd);
    for (const cg of managers) await cg.destroy().catch((e: unknown) => log(`bench: ${String(e)}`));
    for (const d of [...dirs].reverse()) await rmdirRetry(d).catch((e: unknown) => log(`bench: rmdir ${d}: ${String(e)}`));
    for (const mount of new Set([...Object.values(layout.v1), unified])) {
      // cgroupManager made /<parent> in every hierarchy for the berth scenarios.
      await rmdirRetry(join(mount, parent)).catch((e: unknown) => log(`bench: rmdir ${join(mount, parent)}: ${String(e)}`));
    }
    sys.close(exe);
    closeSync(devnull);
    if (reportLeftovers(ownProcesses(parent), cgroupLeftovers([parent]))) leftBehind = true;
    else log('bench: clean: no process or cgroup of this run is left');
  }
}

let leftBehind = false;
const status = await main();
process.exitCode = leftBehind ? 1 : status;
