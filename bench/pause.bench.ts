/**
 * Pause/resume benchmark: one pause+resume cycle of a running container (`sleep 1000`, one
 * bundle for every runtime), side by side for berth embedded (the library), the berth CLI,
 * runc, berth's cgroup backend alone, and the kernel's own freeze (v1 freezer.state and the
 * hybrid's cgroup2 cgroup.freeze, from a small C process and from this Node process).
 * See docs/bench.md ("Pause and resume").
 *
 *   npm run bench:pause [-- --runs N] [--warmup N] [--seed N] [--out FILE] [--label TEXT]
 *
 * It reports; it never fails on a number. Exit status: 0 after a run, 2 if it cannot start,
 * 1 if it could not clean up after itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { readCgroupLayout } from '../src/effects/cgroupLayout.js';
import { cgroupManager } from '../src/effects/cgroups/index.js';
import { v2Manager } from '../src/effects/cgroups/v2.js';
import type { CgroupManager } from '../src/effects/cgroups/types.js';
import { openRuntime, type Container, type Runtime } from '../src/index.js';
import { makeBundle, type Bundle } from '../test/helpers/bundle.js';
import {
  benchOptions, trapInterrupts, writeReport, cgroupLeftovers, closeChildStderr, codeInfo, fatal, fmt, log, machineInfo, nodeChildEnv, now, ownProcesses, prng, reportLeftovers,
  round, roundStats, runOptions, setChildStderr, shuffled, sleep, stats, subdirs, timeChild, usage,
} from './common.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = join(HERE, '..');
const CLI = join(REPO, 'dist', 'cli.js');
const FREEZE_C = join(HERE, 'cgfreeze.c');
const RESULTS = join(HERE, 'results');
const RUNC = '/usr/sbin/runc';
const CG = '/sys/fs/cgroup';

const { values: flags } = parseArgs({
  options: {
    ...benchOptions('50', '5'),
    'keep-node-env': { type: 'boolean', default: false },
  },
});
usage(flags.help, `usage: npm run bench:pause -- [--runs N] [--warmup N] [--seed N] [--out FILE] [--label TEXT] [--keep-node-env]
  --runs N      measured pause+resume cycles per row (default 50)
  --warmup N    unmeasured rounds first (default 5)
  --seed N      seed of the per-round shuffle (default: from the clock; printed)
  --out FILE    JSON result (default bench/results/pause-<date>.json)
`);
const { runs: RUNS, warmup: WARMUP, seed: SEED } = runOptions(flags);
const { env: childEnv, dropped: droppedEnv } = nodeChildEnv(flags['keep-node-env']);

/** The issue's figures for the kernel's freeze+thaw on this machine, and the goal: berth within 10x. */
const ISSUE_US = { v1: 147, v2: 46 };
const GOAL_FACTOR = 10;

// ---------------------------------------------------------------------------------------------
// rows

interface Cycle {
  pause: number;
  resume: number;
}

/**
 * A row is either two timed calls (pause, resume; the kernel state is read after each, outside
 * the timing) or one self-timed cycle (the C floor).
 */
interface Row {
  key: string;
  label: string;
  what: string;
  pause?: () => Promise<number>;
  resume?: () => Promise<number>;
  cycle?: () => Promise<Cycle>;
  /** 'FROZEN' or 'THAWED', as the kernel says now. */
  state?: () => string;
  samples: Cycle[];
  errors: string[];
  wrongState: string[];
  skipped: string | null;
}

function calls(key: string, label: string, what: string, pause: () => Promise<number>, resume: () => Promise<number>, state?: () => string): Row {
  return { key, label, what, pause, resume, state, samples: [], errors: [], wrongState: [], skipped: null };
}

function selfTimed(key: string, label: string, what: string, cycle: () => Promise<Cycle>, state?: () => string): Row {
  return { key, label, what, cycle, state, samples: [], errors: [], wrongState: [], skipped: null };
}

/** Time one async call. */
async function timed(fn: () => unknown): Promise<number> {
  const t0 = now();
  await fn();
  return now() - t0;
}

/** The freezer cgroup directory of a process, from /proc/<pid>/cgroup. */
function freezerDirOf(pid: number): string | null {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:freezer:/.test(l));
  return line ? join(CG, 'freezer', line.split(':')[2]!) : null;
}
const freezerState = (dir: string) => (): string => readFileSync(join(dir, 'freezer.state'), 'utf8').trim();
const v2State = (dir: string) => (): string => (/^frozen 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8')) ? 'FROZEN' : 'THAWED');

/**
 * Freezer cgroups of others that are FROZEN now: while one is, the v1 freezer is already active
 * and a freeze costs less (see the "another cgroup frozen" row), so the v1 rows get faster.
 */
function frozenElsewhere(mine: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    const entries = subdirs(dir);
    if (entries === null) return;
    for (const e of entries) {
      const d = join(dir, e);
      if (mine.some((m) => d.includes(m))) continue;
      try {
        if (readFileSync(join(d, 'freezer.state'), 'utf8').trim() !== 'THAWED') out.push(d);
      } catch {
        // gone
      }
      if (depth < 3) walk(d, depth + 1);
    }
  };
  walk(join(CG, 'freezer'), 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// the embedded runtime's log, timed from outside (as lifecycle.bench.ts does)

interface Mark {
  what: string;
  sync: boolean;
  t0: number;
  t1: number;
}
let marks: Mark[] | null = null;

function instrumentLog(rt: Runtime): void {
  const append = rt.log.append.bind(rt.log);
  rt.log.append = async (stream, events, opts) => {
    const t0 = now();
    try {
      return await append(stream, events, opts);
    } finally {
      marks?.push({ what: events.map((e) => e.type).join('+'), sync: opts.sync === true, t0, t1: now() });
    }
  };
  const read = rt.log.read.bind(rt.log);
  rt.log.read = async (stream, opts) => {
    const t0 = now();
    try {
      return await read(stream, opts);
    } finally {
      marks?.push({ what: 'read', sync: false, t0, t1: now() });
    }
  };
  const version = rt.log.version.bind(rt.log);
  rt.log.version = async (stream) => {
    const t0 = now();
    try {
      return await version(stream);
    } finally {
      marks?.push({ what: 'version', sync: false, t0, t1: now() });
    }
  };
}

interface ActorLike {
  send(e: { type: string }): void;
}
interface SendMark {
  type: string;
  t0: number;
  t1: number;
}
const SENDS = Symbol('bench sends');

/**
 * Time every send to the runtime's live machine of `id` (a private field: the bench reads it
 * for the breakdown only). Re-wrapped when the runtime has rebuilt the machine.
 */
function wrapSend(rt: Runtime, id: string): SendMark[] | undefined {
  const actor = (rt as unknown as { live?: Map<string, { actor: ActorLike & { [SENDS]?: SendMark[] } }> }).live?.get(id)?.actor;
  if (!actor) return undefined;
  if (actor[SENDS]) return actor[SENDS];
  const marks: SendMark[] = [];
  const send = actor.send.bind(actor);
  actor.send = (e) => {
    const t0 = now();
    try {
      send(e);
    } finally {
      marks.push({ type: e.type, t0, t1: now() });
    }
  };
  actor[SENDS] = marks;
  return marks;
}

const MACHINE_PHASES = [
  'intent appended -> actor.send(intent)',
  'actor.send, synchronous: transition, invoke, the effect up to its first await (freezer write + state read)',
  'send returned -> fact append begins (the effect\'s promise, the raised fact, emit)',
] as const;

const PHASES = [
  'call -> intent append (lock, log.version, machine can)',
  'intent append (fsync)',
  'intent appended -> fact append (machine, effect: freezer write + state read)',
  'fact append',
  'fact appended -> call resolves',
] as const;

/** Phases of one instrumented pause() or resume() call, in PHASES order. */
function phasesOf(ms: Mark[], t0: number, t1: number, intent: string, fact: string): number[] | null {
  const i = ms.find((m) => m.what === intent);
  const f = ms.find((m) => m.what === fact);
  if (!i || !f) return null;
  return [i.t0 - t0, i.t1 - i.t0, f.t0 - i.t1, f.t1 - f.t0, t1 - f.t1];
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) fatal('run as root (containers and cgroups)');
  if (!existsSync(CLI)) fatal(`${CLI} is missing: run npm run build`);
  const layout = readCgroupLayout();
  if (layout.v1.freezer === undefined) fatal(`no v1 freezer hierarchy (layout ${layout.kind}): this bench is written for a v1/hybrid host`);

  const started = new Date();
  const prefix = `bp${process.pid}`;
  const cgParent = `berth-bench-${process.pid}`;
  const work = mkdtempSync('/run/berth-bench-pause-');
  setChildStderr(join(work, 'children.stderr'));
  const roots = { embedded: join(work, 'e'), plain: join(work, 'p'), cli: join(work, 'c'), runc: join(work, 'r') };
  for (const r of Object.values(roots)) mkdirSync(r, { recursive: true, mode: 0o700 });
  const load0 = loadavg();
  const notes: string[] = [];
  const runtimes: Runtime[] = [];
  const sleepers: ChildProcess[] = [];
  const madeDirs: string[] = [];
  const managers: CgroupManager[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let bundle: Bundle | null = null;
  let cleaning = false;
  const signals = trapInterrupts();

  /** A host `sleep 1000`, child of this process, moved into each of `procsDirs` (outside any timing). */
  const sleeper = async (procsDirs: string[]): Promise<number> => {
    const child = spawn('/bin/sleep', ['1000'], { stdio: 'ignore' });
    sleepers.push(child);
    child.once('exit', (code, sig) => {
      if (!cleaning) log(`bench: a sleeper of the bench (pid ${child.pid}) exited early: ${code ?? sig}`);
    });
    await new Promise<void>((res, rej) => child.once('spawn', res).once('error', rej));
    for (const d of procsDirs) writeFileSync(join(d, 'cgroup.procs'), String(child.pid));
    return child.pid!;
  };
  const mkcg = (dir: string) => {
    mkdirSync(dir);
    madeDirs.push(dir);
  };

  try {
    bundle = makeBundle(['sleep', '1000']);
    const B = bundle.dir;
    log(`bench: bundle ${B} (sleep 1000), work dir ${work}, ${RUNS} cycles per row after ${WARMUP} warm-up rounds, seed ${SEED}`);

    // -- the C floor ------------------------------------------------------------------------------
    const freezeBin = join(work, 'cgfreeze');
    const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', freezeBin, FREEZE_C], { encoding: 'utf8' });
    if (cc.status !== 0) fatal(`gcc ${FREEZE_C}: ${cc.error?.message ?? cc.stderr}`);

    // -- cgroups for the kernel rows and berth's backend alone: one sleeping process each -------
    const v1Parent = join(layout.v1.freezer, cgParent);
    mkcg(v1Parent);
    const kv1 = join(v1Parent, 'k');
    mkcg(kv1);
    const nv1 = join(v1Parent, 'n');
    mkcg(nv1);
    const hv1 = join(v1Parent, 'h');
    mkcg(hv1);
    const holdDir = join(v1Parent, 'hold');
    mkcg(holdDir);
    await sleeper([kv1]);
    await sleeper([nv1]);
    await sleeper([hv1]);
    await sleeper([holdDir]);
    let v2Parent: string | null = null;
    let kv2: string | null = null;
    let nv2: string | null = null;
    if (layout.unified !== null) {
      v2Parent = join(layout.unified, cgParent);
      mkcg(v2Parent);
      kv2 = join(v2Parent, 'k');
      mkcg(kv2);
      nv2 = join(v2Parent, 'n');
      mkcg(nv2);
      await sleeper([kv2]);
      await sleeper([nv2]);
    }
    // berth's own backend for this host (v1 freezer on a hybrid), on a cgroup of ours.
    const mgr = cgroupManager(layout, `/${cgParent}/m`);
    mgr.create(undefined);
    managers.push(mgr);
    mgr.join(await sleeper([]));
    let mgr2: CgroupManager | null = null;
    if (layout.unified !== null) {
      // berth's v2 backend (what a pure v2 host uses) on the hybrid's controller-less cgroup2.
      mgr2 = v2Manager(layout.unified, `/${cgParent}/m2`);
      try {
        mgr2.create(undefined);
        managers.push(mgr2);
        mgr2.join(await sleeper([]));
      } catch (e) {
        notes.push(`berth's v2 backend could not make its cgroup here: ${(e as Error).message}`);
        mgr2 = null;
      }
    }

    // -- the containers: one per runtime, same bundle ------------------------------------------------
    const rt = await openRuntime({ root: roots.embedded });
    runtimes.push(rt);
    instrumentLog(rt);
    const plain = await openRuntime({ root: roots.plain });
    runtimes.push(plain);
    const run = async (r: Runtime, id: string): Promise<Container> => {
      const c = await r.create(id, { bundle: B, stdio: 'ignore' });
      cleanups.push(async () => {
        await c.delete({ force: true }).catch((e: unknown) => log(`bench: delete ${id}: ${String(e)}`));
      });
      await c.start();
      return c;
    };
    const ce = await run(rt, `${prefix}-e`);
    const cp = await run(plain, `${prefix}-p`);
    const idCli = `${prefix}-c`;
    const idRunc = `${prefix}-r`;
    type Opt = { capture?: boolean };
    const cli = (...args: (string | Opt)[]) => timeChild(process.execPath, [CLI, '--root', roots.cli, ...args.filter((a): a is string => typeof a === 'string')],
      { env: childEnv, cwd: REPO, capture: args.some((a) => typeof a === 'object' && a.capture === true) });
    const runc = (...args: (string | Opt)[]) => timeChild(RUNC, ['--root', roots.runc, ...args.filter((a): a is string => typeof a === 'string')],
      { cwd: REPO, capture: args.some((a) => typeof a === 'object' && a.capture === true) });
    const must = async (what: string, p: Promise<{ code: number | null; stderr: string; ms: number }>) => {
      const r = await p;
      if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr.split('\n').slice(-2).join(' | ')}`);
      return r.ms;
    };
    cleanups.push(async () => void (await cli('delete', '--force', idCli)));
    await must('berth create', cli('create', '--bundle', B, idCli));
    await must('berth start', cli('start', idCli));
    cleanups.push(async () => void (await runc('delete', '--force', idRunc)));
    let runcError: string | null = null;
    try {
      await must('runc run -d', runc('run', '--detach', '--bundle', B, idRunc));
    } catch (e) {
      runcError = (e as Error).message;
      log(`bench: runc: ${runcError}`);
    }
    const pidOf = async (what: 'cli' | 'runc'): Promise<number> => {
      const r = what === 'cli' ? await cli('state', idCli, { capture: true }) : await runc('state', idRunc, { capture: true });
      return (JSON.parse(r.stdout) as { pid: number }).pid;
    };
    const dirE = freezerDirOf((await ce.state()).pid)!;
    const dirP = freezerDirOf((await cp.state()).pid)!;
    const dirC = freezerDirOf(await pidOf('cli'))!;
    const dirR = runcError ? null : freezerDirOf(await pidOf('runc'));
    notes.push(`freezer cgroups: berth ${dirE.replace(`${CG}/freezer`, '')}, runc ${dirR?.replace(`${CG}/freezer`, '') ?? '-'}`);

    // -- the rows ------------------------------------------------------------------------------------------
    const embeddedPhases: { pause: number[][]; resume: number[][]; reads: number[]; versions: number[] } = { pause: [], resume: [], reads: [], versions: [] };
    const embeddedMachine: { pause: number[][]; resume: number[][] } = { pause: [], resume: [] };
    let measuring = false;
    /** One instrumented library call: its phases go to the breakdown. */
    const tracedCall = async (which: 'pause' | 'resume'): Promise<number> => {
      const m: Mark[] = [];
      marks = m;
      // The machine's send, timed through the runtime's private live map (diagnostic only): it
      // splits "intent appended -> fact append" into dispatch, the synchronous send, the rest.
      const sends = wrapSend(rt, ce.id);
      const nSends = sends?.length ?? 0;
      const t0 = now();
      await (which === 'pause' ? ce.pause() : ce.resume());
      const t1 = now();
      marks = null;
      if (measuring) {
        const ph = which === 'pause' ? phasesOf(m, t0, t1, 'PauseRequested', 'Paused') : phasesOf(m, t0, t1, 'ResumeRequested', 'Resumed');
        if (ph) embeddedPhases[which].push(ph);
        const intent = m.find((x) => x.what === (which === 'pause' ? 'PauseRequested' : 'ResumeRequested'));
        const fact = m.find((x) => x.what === (which === 'pause' ? 'Paused' : 'Resumed'));
        const send = sends?.slice(nSends).find((x) => x.type.endsWith('Requested'));
        if (intent && fact && send) embeddedMachine[which].push([send.t0 - intent.t1, send.t1 - send.t0, fact.t0 - send.t1]);
        embeddedPhases.reads.push(m.filter((x) => x.what === 'read').length);
        embeddedPhases.versions.push(m.filter((x) => x.what === 'version').length);
      }
      return t1 - t0;
    };
    const cFloor = async (v: 'v1' | 'v2', dir: string): Promise<Cycle> => {
      // 2 cycles in one fresh process; the second is kept (the first also faults in the paths).
      const r = await timeChild(freezeBin, [v, dir, '2'], { capture: true });
      if (r.code !== 0) throw new Error(`cgfreeze ${v}: exit ${r.code}: ${r.stderr}`);
      const last = r.stdout.trim().split('\n').pop()!.split(' ').map(Number);
      return { pause: last[0]! / 1000, resume: last[1]! / 1000 };
    };
    /** Write `value` to `ctl`, then read `state` until `done` says so; synchronous, in this process. */
    const nodeChange = (ctl: string, value: string, state: string, done: (s: string) => boolean) => async (): Promise<number> => {
      const t0 = now();
      writeFileSync(ctl, value);
      while (!done(readFileSync(state, 'utf8')));
      return now() - t0;
    };
    const mgrDir = join(layout.v1.freezer, cgParent, 'm');
    const rows: Row[] = [
      calls('embedded', 'berth embedded c.pause(); c.resume()', 'one openRuntime kept open, one running container; each call timed (with log hooks for the breakdown)',
        () => tracedCall('pause'), () => tracedCall('resume'), freezerState(dirE)),
      calls('embedded-plain', 'berth embedded, no hooks', 'the same on a second runtime and container, no instrumentation',
        () => timed(() => cp.pause()), () => timed(() => cp.resume()), freezerState(dirP)),
      calls('berth-cli', 'berth CLI pause; resume', 'node dist/cli.js --root R pause ID, then resume ID: two processes, each timed spawn -> exit',
        () => must('berth pause', cli('pause', idCli)), () => must('berth resume', cli('resume', idCli)), freezerState(dirC)),
      calls('runc', 'runc pause; resume', 'runc --root R pause ID, then resume ID: two processes, each timed spawn -> exit',
        () => must('runc pause', runc('pause', idRunc)), () => must('runc resume', runc('resume', idRunc)), dirR ? freezerState(dirR) : undefined),
      calls('manager-v1', 'berth backend alone: freeze(); thaw()', 'cgroupManager(layout) for this host (the v1 freezer), on a cgroup of the bench holding one sleep: no log, no machine',
        () => timed(() => mgr.freeze()), () => timed(() => mgr.thaw()), freezerState(mgrDir)),
      calls('manager-v2', 'berth v2 backend alone (diag.)', 'v2Manager (what a pure v2 host uses) on a cgroup2 dir of the bench holding one sleep: cgroup.freeze, then cgroup.events polled',
        () => timed(() => mgr2!.freeze()), () => timed(() => mgr2!.thaw()), mgr2 ? v2State(join(layout.unified!, cgParent, 'm2')) : undefined),
      selfTimed('kernel-v1', 'kernel v1 freezer (C)', 'bench/cgfreeze.c: write FROZEN to freezer.state, read it until FROZEN; THAWED likewise. Self-timed, 2nd cycle of a fresh process',
        () => cFloor('v1', kv1), freezerState(kv1)),
      selfTimed('kernel-v1-held', 'kernel v1, another cgroup frozen (diag.)', 'as kernel v1, while a second freezer cgroup of the bench is held FROZEN (so the freezer is already active)',
        async () => {
          writeFileSync(join(holdDir, 'freezer.state'), 'FROZEN');
          try {
            while (!freezerState(holdDir)().startsWith('FROZEN'));
            return await cFloor('v1', hv1);
          } finally {
            writeFileSync(join(holdDir, 'freezer.state'), 'THAWED');
          }
        }, freezerState(hv1)),
      selfTimed('kernel-v2', 'kernel cgroup2 freeze (C)', 'bench/cgfreeze.c: write 1 to cgroup.freeze, read cgroup.events until "frozen 1"; 0 likewise. Self-timed, 2nd cycle',
        () => cFloor('v2', kv2!), kv2 ? v2State(kv2) : undefined),
      calls('node-v1', 'kernel v1 freezer from Node', 'the C floor\'s writes and reads with writeFileSync/readFileSync in this process (what any Node runtime pays at least)',
        nodeChange(join(nv1, 'freezer.state'), 'FROZEN', join(nv1, 'freezer.state'), (s) => s.startsWith('FROZEN')),
        nodeChange(join(nv1, 'freezer.state'), 'THAWED', join(nv1, 'freezer.state'), (s) => s.startsWith('THAWED')), freezerState(nv1)),
      calls('node-v2', 'kernel cgroup2 freeze from Node', 'cgroup.freeze / cgroup.events with writeFileSync/readFileSync in this process',
        nodeChange(join(nv2 ?? '/nonexistent', 'cgroup.freeze'), '1', join(nv2 ?? '/nonexistent', 'cgroup.events'), (s) => /^frozen 1$/m.test(s)),
        nodeChange(join(nv2 ?? '/nonexistent', 'cgroup.freeze'), '0', join(nv2 ?? '/nonexistent', 'cgroup.events'), (s) => /^frozen 0$/m.test(s)),
        nv2 ? v2State(nv2) : undefined),
      calls('host-true', 'host /bin/true ×2 (harness)', 'two spawn -> exit of a process that does nothing, timed as the CLI rows: what spawning costs this harness',
        async () => (await timeChild('/bin/true', [])).ms, async () => (await timeChild('/bin/true', [])).ms),
    ];
    const byKey = (k: string) => rows.find((r) => r.key === k)!;
    if (runcError) byKey('runc').skipped = runcError;
    if (!mgr2) byKey('manager-v2').skipped = 'no v2 backend cgroup (see notes)';
    if (!kv2) byKey('kernel-v2').skipped = byKey('node-v2').skipped = 'no cgroup2 mount';

    // -- rounds: every row once per round, shuffled per round -----------------------------------------
    // After each timed pause the kernel state is read (outside the timing): a row whose pause
    // returned before the cgroup was FROZEN, or whose resume left it frozen, is counted.
    const rand = prng(SEED);
    const round1 = async () => {
      for (const r of shuffled(rows.filter((x) => x.skipped === null), rand)) {
        try {
          let c: Cycle;
          if (r.cycle) {
            c = await r.cycle();
          } else {
            const pause = await r.pause!();
            const s1 = r.state?.();
            const resume = await r.resume!();
            c = { pause, resume };
            if (s1 !== undefined && s1 !== 'FROZEN' && measuring) r.wrongState.push(`after pause: ${s1}`);
          }
          const s2 = r.state?.();
          if (s2 !== undefined && s2 !== 'THAWED' && measuring) r.wrongState.push(`after resume: ${s2}`);
          if (measuring) r.samples.push(c);
        } catch (e) {
          r.errors.push((e as Error).message);
          if (r.errors.length >= 3 && r.samples.length === 0) r.skipped = `failed: ${r.errors[0]}`;
        }
      }
    };
    const statusChecks: Record<string, string> = {};
    {
      await ce.pause();
      const a = (await ce.state()).status;
      await ce.resume();
      statusChecks.embedded = `c.state().status: ${a} after pause, ${(await ce.state()).status} after resume`;
      await must('berth pause', cli('pause', idCli));
      const b = JSON.parse((await cli('state', idCli, { capture: true })).stdout).status as string;
      await must('berth resume', cli('resume', idCli));
      statusChecks['berth-cli'] = `berth state: ${b} after pause, ${JSON.parse((await cli('state', idCli, { capture: true })).stdout).status as string} after resume`;
      if (dirR) {
        await must('runc pause', runc('pause', idRunc));
        const c = JSON.parse((await runc('state', idRunc, { capture: true })).stdout).status as string;
        await must('runc resume', runc('resume', idRunc));
        statusChecks.runc = `runc state: ${c} after pause, ${JSON.parse((await runc('state', idRunc, { capture: true })).stdout).status as string} after resume`;
      }
    }
    const othersFrozen: string[] = [];
    const noteFrozen = () => {
      for (const d of frozenElsewhere([prefix, cgParent])) if (!othersFrozen.includes(d)) othersFrozen.push(d);
    };
    noteFrozen();
    for (let r = 0; r < WARMUP && !signals.interrupted; r++) await round1();
    measuring = true;
    const tLoop = now();
    for (let r = 0; r < RUNS && !signals.interrupted; r++) {
      await round1();
      noteFrozen();
      if ((r + 1) % 10 === 0) log(`bench: ${r + 1}/${RUNS} rounds (${((now() - tLoop) / 1000).toFixed(1)} s)`);
    }
    measuring = false;

    // -- results --------------------------------------------------------------------------------
    const rowStats = Object.fromEntries(rows.map((r) => [r.key, {
      pause: stats(r.samples.map((s) => s.pause)),
      resume: stats(r.samples.map((s) => s.resume)),
      cycle: stats(r.samples.map((s) => s.pause + s.resume)),
    }]));
    const med = (k: string, f: 'pause' | 'resume' | 'cycle' = 'cycle') => rowStats[k]?.[f]?.median ?? NaN;
    const ratio = (a: string, b: string, f: 'pause' | 'resume' | 'cycle' = 'cycle') => round(med(a, f) / med(b, f), 2);
    const ratios: Record<string, number> = {
      'berth-embedded/kernel-v1 (cycle)': ratio('embedded', 'kernel-v1'),
      'berth-embedded/kernel-v2 (cycle)': ratio('embedded', 'kernel-v2'),
      'kernel-v1/kernel-v1-held (cycle)': ratio('kernel-v1', 'kernel-v1-held'),
      'berth-embedded/issue-147us (cycle)': round(med('embedded') / (ISSUE_US.v1 / 1000), 2),
      'berth-embedded/issue-46us (cycle)': round(med('embedded') / (ISSUE_US.v2 / 1000), 2),
      'berth-embedded/runc-cli (cycle)': ratio('embedded', 'runc'),
      'berth-cli/runc-cli (cycle)': ratio('berth-cli', 'runc'),
      'berth-cli/runc-cli (pause)': ratio('berth-cli', 'runc', 'pause'),
      'berth-cli/runc-cli (resume)': ratio('berth-cli', 'runc', 'resume'),
      'berth-backend-v1/kernel-v1 (cycle)': ratio('manager-v1', 'kernel-v1'),
      'berth-backend-v1/node-v1 (cycle)': ratio('manager-v1', 'node-v1'),
      'berth-embedded/berth-backend-v1 (cycle)': ratio('embedded', 'manager-v1'),
      'berth-backend-v2/kernel-v2 (cycle)': ratio('manager-v2', 'kernel-v2'),
      'runc-cli/kernel-v1 (cycle)': ratio('runc', 'kernel-v1'),
    };
    const phaseStats = (xs: number[][]) => PHASES.map((label, i) => ({ phase: label, ...roundStats(stats(xs.map((p) => p[i]!)))! }));
    const breakdown = {
      pause: phaseStats(embeddedPhases.pause),
      resume: phaseStats(embeddedPhases.resume),
      machine: { pause: MACHINE_PHASES.map((label, i) => ({ phase: label, ...roundStats(stats(embeddedMachine.pause.map((p) => p[i]!)))! })),
        resume: MACHINE_PHASES.map((label, i) => ({ phase: label, ...roundStats(stats(embeddedMachine.resume.map((p) => p[i]!)))! })) },
      streamReadsPerCycle: round(embeddedPhases.reads.reduce((a, b) => a + b, 0) / Math.max(1, embeddedPhases.reads.length), 2),
      versionReadsPerCycle: round(embeddedPhases.versions.reduce((a, b) => a + b, 0) / Math.max(1, embeddedPhases.versions.length), 2),
    };
    const load1 = loadavg();
    notes.push(othersFrozen.length === 0
      ? 'no freezer cgroup of another process was FROZEN or FREEZING at the checks (before the loop and after every round)'
      : `freezer cgroups of others were FROZEN/FREEZING during the run (the v1 rows are cheaper then): ${othersFrozen.slice(0, 5).join(', ')}`);

    const p = (s: string) => process.stdout.write(`${s}\n`);
    p('');
    p(`berth pause bench: one pause+resume cycle of a running container (sleep 1000); ${RUNS} cycles per row after ${WARMUP} warm-up rounds, shuffled per round (--seed ${SEED})`);
    p(`${cpus().length} cores, Linux ${release()}, node ${process.version}, cgroups ${layout.kind}; load average ${load0.map((x) => x.toFixed(2)).join(' ')} before, ${load1.map((x) => x.toFixed(2)).join(' ')} after`);
    p('');
    p(`${'row'.padEnd(40)} ${'pause med'.padStart(10)} ${'resume med'.padStart(10)} ${'cycle med'.padStart(10)} ${'cycle p90'.padStart(10)} ${'cycle min'.padStart(10)}   (ms)  n  errors`);
    for (const r of rows) {
      if (r.skipped) {
        p(`${r.label.padEnd(40)} skipped: ${r.skipped}`);
        continue;
      }
      const s = rowStats[r.key]!;
      p(`${r.label.padEnd(40)} ${fmt(s.pause?.median).padStart(10)} ${fmt(s.resume?.median).padStart(10)} ${fmt(s.cycle?.median).padStart(10)} ${fmt(s.cycle?.p90).padStart(10)} ${fmt(s.cycle?.min).padStart(10)}        ${String(s.cycle?.n ?? 0).padEnd(3)}${r.errors.length || ''}${r.wrongState.length ? ` wrong state ${r.wrongState.length}x` : ''}`);
    }
    p('');
    p('ratios of the medians:');
    for (const [k, v] of Object.entries(ratios)) if (Number.isFinite(v)) p(`  ${k.padEnd(42)} ${v.toFixed(2)}`);
    const measuredV1 = med('kernel-v1') * 1000;
    p(`goal (berth within ${GOAL_FACTOR}x of the kernel's freeze+thaw): embedded cycle ${fmt(med('embedded'))} ms = ${fmt(med('embedded') / med('kernel-v1'), 1)}x the measured v1 cycle (${measuredV1.toFixed(0)} µs), ${fmt(med('embedded') / (ISSUE_US.v1 / 1000), 1)}x the issue's ${ISSUE_US.v1} µs -> ${med('embedded') <= GOAL_FACTOR * med('kernel-v1') ? 'met' : 'NOT met'}`);
    p('');
    p('where berth embedded time goes (median ms per call):');
    for (const which of ['pause', 'resume'] as const) {
      p(`  ${which}()  median ${fmt(med('embedded', which))}`);
      for (const ph of breakdown[which]) p(`      ${fmt(ph.median).padStart(8)}  ${ph.phase}`);
      p('      of which (actor.send timed):');
      for (const ph of breakdown.machine[which]) p(`        ${fmt(ph.median).padStart(8)}  ${ph.phase}`);
    }
    p(`  stream reads (machine rebuilt from the log) per cycle: ${breakdown.streamReadsPerCycle}; log.version calls per cycle: ${breakdown.versionReadsPerCycle}`);
    p('');
    p('state checks: the kernel state was read after every timed pause and resume (outside the timing)');
    for (const r of rows) {
      if (!r.state || r.skipped) continue;
      const ok = r.cycle ? 'THAWED after every cycle (self-timed: the helper checks FROZEN itself)' : 'FROZEN after every pause, THAWED after every resume';
      p(`  ${r.key.padEnd(16)} ${r.wrongState.length === 0 ? ok : `wrong ${r.wrongState.length}x, first: ${r.wrongState[0]}`}`);
    }
    for (const [k, v] of Object.entries(statusChecks)) p(`  ${k.padEnd(16)} ${v}`);
    for (const r of rows) if (r.errors.length) p(`  ${r.key}: ${r.errors.length} errors, first: ${r.errors[0]}`);
    for (const n of notes) p(`note: ${n}`);

    const report = {
      kind: 'berth pause bench',
      date: started.toISOString(),
      options: { runs: RUNS, warmup: WARMUP, seed: SEED },
      machine: {
        ...machineInfo(),
        runc: spawnSync(RUNC, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '?', cgroups: layout, loadavgBefore: load0, loadavgAfter: load1,
      },
      env: { droppedForNodeChildren: droppedEnv },
      code: codeInfo(REPO, flags.label),
      issue: { kernelCycleUs: ISSUE_US, goalFactor: GOAL_FACTOR },
      rows: Object.fromEntries(rows.map((r) => [r.key, {
        label: r.label, what: r.what, skipped: r.skipped, errors: r.errors.slice(0, 5), errorCount: r.errors.length, wrongState: r.wrongState.slice(0, 5),
        pause: roundStats(rowStats[r.key]!.pause), resume: roundStats(rowStats[r.key]!.resume), cycle: roundStats(rowStats[r.key]!.cycle),
        samplesMs: r.samples.map((s) => [round(s.pause), round(s.resume)]),
      }])),
      ratios,
      breakdown,
      statusChecks,
      notes,
    };
    writeReport(flags.out, RESULTS, 'pause', started, report);
    return 0;
  } finally {
    cleaning = true;
    signals.off();
    let dirty = false;
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => log(`bench: cleanup: ${String(e)}`));
    for (const r of runtimes) {
      const left = await r.list().catch(() => []);
      if (left.length) {
        dirty = true;
        log(`bench: containers left in ${r.root}: ${left.map((s) => `${s.id}(${s.status})`).join(', ')}`);
      }
      await r.close().catch((e: unknown) => log(`bench: closing a runtime: ${String(e)}`));
    }
    const runcLeft = spawnSync(RUNC, ['--root', roots.runc, 'list', '--quiet'], { encoding: 'utf8' }).stdout?.trim();
    if (runcLeft) {
      dirty = true;
      log(`bench: runc containers left: ${runcLeft}`);
    }
    for (const s of sleepers) s.kill('SIGKILL');
    await Promise.all(sleepers.map((s) => (s.exitCode !== null || s.signalCode !== null ? null : new Promise((r) => s.once('exit', r)))));
    for (const m of managers) await m.destroy().catch((e: unknown) => log(`bench: removing a backend cgroup: ${String(e)}`));
    // The backends made /<cgParent> in every hierarchy as the parent of theirs.
    for (const mount of new Set([...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])])) {
      const d = join(mount, cgParent);
      if (existsSync(d) && !madeDirs.includes(d)) madeDirs.unshift(d);
    }
    for (const d of madeDirs.reverse()) {
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          await sleep(20);
        }
      }
    }
    bundle?.cleanup();
    closeChildStderr();
    rmSync(work, { recursive: true, force: true });
    if (reportLeftovers(ownProcesses(prefix), cgroupLeftovers([prefix, cgParent]))) dirty = true;
    if (dirty) leftBehind = true;
    else log('bench: clean: no container, process or cgroup of this run is left');
  }
}

let leftBehind = false;
const status = await main();
process.exitCode = leftBehind ? 1 : status;
