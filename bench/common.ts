/**
 * Helpers shared by the benches (lifecycle, pause, migration): option parsing, statistics, a
 * seeded shuffle, timing a child process, the report's machine and code stamps, and the host
 * checks for leftovers.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export const now = (): number => performance.now();
export const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function fatal(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

export function positiveInt(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fatal(`--${name} ${v}: a positive integer`);
  return n;
}

export function nonNegativeInt(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fatal(`--${name} ${v}: a non-negative integer`);
  return n;
}

/** The options every bench takes, with its own defaults for --runs and --warmup (spread into parseArgs). */
export function benchOptions(runs: string, warmup: string) {
  return {
    runs: { type: 'string' as const, default: runs },
    warmup: { type: 'string' as const, default: warmup },
    seed: { type: 'string' as const },
    out: { type: 'string' as const },
    label: { type: 'string' as const },
    help: { type: 'boolean' as const, short: 'h', default: false },
  };
}

/** With --help: print the usage and exit 0. */
export function usage(help: boolean | undefined, text: string): void {
  if (!help) return;
  process.stdout.write(text);
  process.exit(0);
}

/** --runs, --warmup and --seed checked (the seed defaults to one from the clock). */
export function runOptions(flags: { runs?: string; warmup?: string; seed?: string }): { runs: number; warmup: number; seed: number } {
  return {
    runs: positiveInt('runs', flags.runs),
    warmup: nonNegativeInt('warmup', flags.warmup),
    seed: flags.seed === undefined ? Date.now() % 2 ** 31 : nonNegativeInt('seed', flags.seed),
  };
}

/** SIGINT and SIGTERM end the run after the current round: `interrupted` turns true. `off()` stops listening. */
export function trapInterrupts(): { interrupted: boolean; off(): void } {
  const onSignal = () => {
    trap.interrupted = true;
    log('bench: interrupted, cleaning up after the current round');
  };
  const trap = {
    interrupted: false,
    off: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return trap;
}

/** Write the JSON report to --out, or to `<dir>/<name>-<start time>.json`, and say where. */
export function writeReport(out: string | undefined, dir: string, name: string, started: Date, report: unknown): void {
  const file = out ?? join(dir, `${name}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`bench: wrote ${file}`);
}

/** mulberry32: a small seeded PRNG, so a run's order can be replayed with --seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(xs: T[], rand: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export interface Stats {
  n: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  mean: number;
}

function quantile(sorted: number[], q: number): number {
  // Linear interpolation between closest ranks (numpy's default), as lifecycle.bench.ts.
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? NaN;
  const b = sorted[hi] ?? NaN;
  return a + (b - a) * (pos - lo);
}

export function stats(xs: number[]): Stats | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

export const round = (x: number, d = 4): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
export const fmt = (x: number | undefined | null, d = 3): string => (x === undefined || x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));

export function roundStats(s: Stats | null, d = 4): Stats | null {
  return s && { n: s.n, median: round(s.median, d), p90: round(s.p90, d), min: round(s.min, d), max: round(s.max, d), mean: round(s.mean, d) };
}

/** Node children get this process's environment less NODE_EXTRA_CA_CERTS (see docs/bench.md). */
export function nodeChildEnv(keep: boolean): { env: NodeJS.ProcessEnv; dropped: string[] } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const dropped: string[] = [];
  if (!keep && env.NODE_EXTRA_CA_CERTS !== undefined) {
    delete env.NODE_EXTRA_CA_CERTS;
    dropped.push('NODE_EXTRA_CA_CERTS');
  }
  return { env, dropped };
}

export interface ChildResult {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Collected only with `capture`. */
  stdout: string;
  /** With `capture`: everything; otherwise what the child added to the shared stderr file (read only on failure). */
  stderr: string;
}

let errFd = -1;
let errPath = '';

/** Children that are not captured write their stderr into this one file (see timeChild). */
export function setChildStderr(path: string): void {
  errPath = path;
  errFd = openSync(path, 'a+');
}
export function closeChildStderr(): void {
  if (errFd >= 0) closeSync(errFd);
  errFd = -1;
}
const errSize = (): number => (errPath ? statSync(errPath).size : 0);

/**
 * Spawn and time to the child's exit event, from this process's event loop, as the lifecycle
 * bench times every CLI row. stdin is /dev/null. Without `capture`, stdout goes to /dev/null and
 * stderr to the shared file (so a container that inherits them holds no pipe of ours open)
 * and the promise resolves at exit; with `capture`, both are piped and collected, and it
 * resolves once they close.
 */
export function timeChild(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; capture?: boolean } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const before = opts.capture ? 0 : errSize();
    const t0 = now();
    const child = spawn(cmd, args, {
      stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'ignore', errFd >= 0 ? errFd : 'ignore'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    let r: ChildResult = { ms: NaN, code: null, signal: null, stdout: '', stderr: '' };
    child.once('exit', (code, signal) => {
      r = { ms: now() - t0, code, signal, stdout: '', stderr: '' };
      if (opts.capture) return;
      if (code !== 0 && errPath) {
        const buf = readFileSync(errPath);
        r.stderr = buf.subarray(before).toString('utf8').trim();
      }
      resolve(r);
    });
    if (opts.capture) child.once('close', () => resolve({ ...r, stdout: out, stderr: err.trim() }));
  });
}

/** Processes whose command line names `prefix`, or whose parent is this process. */
export function ownProcesses(prefix: string, ignore: RegExp = /esbuild --service/): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ignore.test(cmd)) continue; // tsx's esbuild service ends with this process
      if (cmd.includes(prefix) || ppid === process.pid) out.push(`${name} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

/** The names of the directories in `dir`, or null when it cannot be read (gone). */
export function subdirs(dir: string): string[] | null {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return null;
  }
}

/** Cgroup directories under /sys/fs/cgroup (`maxDepth` levels deep) whose name contains one of `needles`. */
export function cgroupLeftovers(needles: string[], maxDepth = 4): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > maxDepth) return;
    const entries = subdirs(dir);
    if (entries === null) return;
    for (const e of entries) {
      if (needles.some((n) => e.includes(n))) out.push(join(dir, e));
      else walk(join(dir, e), depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return out;
}

/** Logs what a run left behind; true when it left anything. */
export function reportLeftovers(procs: string[], cgroups: string[]): boolean {
  if (procs.length) log(`bench: processes of this bench still running: ${procs.join('; ')}`);
  if (cgroups.length) log(`bench: cgroups left: ${cgroups.join(', ')}`);
  return procs.length > 0 || cgroups.length > 0;
}

/** The machine part of a report: cores, CPU model, memory, kernel, node. */
export function machineInfo(): { cpus: number; cpuModel: string; memGiB: number; kernel: string; node: string } {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memGiB: round(totalmem() / 2 ** 30, 1), kernel: release(), node: process.version };
}

/** The code part of a report: the commit of `repo`, and the run's --label. */
export function codeInfo(repo: string, label: string | undefined): { commit: string; label: string | null } {
  return {
    commit: spawnSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).stdout?.trim() || 'not a git checkout (see label)',
    label: label ?? null,
  };
}

/** The host's load average, CPU and kernel, for the report. */
export function hostLine(): string {
  return `${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`;
}
