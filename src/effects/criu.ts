/**
 * The criu binary, driven through its command line (`criu dump|pre-dump|restore`), one process
 * per operation: docs/checkpoint.md says why the CLI and not `criu swrk`. This file finds the
 * binary, checks its version, runs it with the fds it must inherit, and turns a failure into
 * a coded error that quotes criu's own log and names the log's path.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../errors.js';

/** Where scripts/setup-criu.sh installs criu; BERTH_CRIU overrides it, else `criu` on PATH. */
export const DEFAULT_CRIU = '/usr/local/lib/berth/criu/criu';

/** The oldest criu berth drives: 3.x cannot dump on recent kernels (vDSO layout), and lacks options used here. */
export const MIN_CRIU = { major: 4, minor: 1 };

export function criuPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_CRIU) return env.BERTH_CRIU;
  return existsSync(DEFAULT_CRIU) ? DEFAULT_CRIU : 'criu';
}

export interface CriuBinary {
  path: string;
  version: string;
}

const versions = new Map<string, Promise<CriuBinary>>();

/**
 * The criu to use and its version (asked once per path and process). Missing or older than
 * 4.1 → CRIU_UNSUPPORTED naming the binary and its version.
 */
export function criuBinary(what: string, path = criuPath()): Promise<CriuBinary> {
  let p = versions.get(path);
  if (!p) {
    p = probeVersion(path);
    versions.set(path, p);
    p.catch(() => versions.delete(path));
  }
  return p.catch((e: unknown) => {
    throw e instanceof RuntimeError ? new RuntimeError(e.code, `${what}: ${e.message}`, { field: 'criu', cause: e }) : e;
  });
}

function probeVersion(path: string): Promise<CriuBinary> {
  return new Promise((resolve, reject) => {
    execFile(path, ['--version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'not found (run scripts/setup-criu.sh, or set BERTH_CRIU)'
          : `--version failed: ${err.message.split('\n')[0]}`;
        return reject(new RuntimeError('CRIU_UNSUPPORTED', `criu ${path} ${why}`));
      }
      const version = /^Version:\s*(\S+)/m.exec(stdout)?.[1];
      if (!version) return reject(new RuntimeError('CRIU_UNSUPPORTED', `criu ${path}: cannot read its version from ${JSON.stringify(stdout.slice(0, 80))}`));
      if (!atLeast(version, MIN_CRIU.major, MIN_CRIU.minor)) {
        return reject(new RuntimeError('CRIU_UNSUPPORTED', `criu ${path} is version ${version}; berth needs criu >= ${MIN_CRIU.major}.${MIN_CRIU.minor}`));
      }
      resolve({ path, version });
    });
  });
}

export function atLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map((n) => Number.parseInt(n, 10));
  return a > major || (a === major && b >= minor);
}

/** Whether `criu check --feature <name>` passes (e.g. mem_dirty_track for pre-dump, uffd-noncoop for lazy pages). */
export function criuFeature(bin: CriuBinary, feature: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(bin.path, ['check', '--feature', feature], { timeout: 10_000 }, (err) => resolve(!err));
  });
}

export interface CriuRun {
  /** dump, pre-dump, restore. */
  action: string;
  args: string[];
  /** Where criu writes its log (`-o` is relative to the work dir). */
  workDir: string;
  logName: string;
  /** fds criu inherits at 3, 4, … (for --inherit-fd). */
  fds?: number[];
  /** What the error message says was being done: `checkpoint web`. */
  what: string;
  /** Called with criu's pid as soon as it runs. */
  onSpawn?(pid: number): void;
}

/** Run criu to completion; non-zero exit or a signal → CRIU_FAILED quoting its log. */
export function runCriu(bin: CriuBinary, r: CriuRun): Promise<void> {
  return startCriu(bin, r);
}

/**
 * Start criu; the promise settles when it exits. A `daemon` (the lazy-pages daemon) keeps no
 * pipe to this process and does not hold its event loop open: it ends by itself once the
 * pages are transferred, also after a CLI command has exited.
 */
export function startCriu(bin: CriuBinary, r: CriuRun & { daemon?: boolean }): Promise<void> {
  const log = join(r.workDir, r.logName);
  return new Promise((resolve, reject) => {
    const child = spawn(bin.path, [r.action, ...r.args], {
      stdio: ['ignore', 'ignore', r.daemon ? 'ignore' : 'pipe', ...(r.fds ?? [])],
    });
    if (r.daemon) child.unref();
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => { if (stderr.length < 8192) stderr += d; });
    child.on('spawn', () => { if (child.pid !== undefined) r.onSpawn?.(child.pid); });
    child.on('error', (e) => reject(new RuntimeError('CRIU_FAILED', `${r.what}: criu ${r.action} could not run: ${e.message}`, { step: `criu ${r.action}`, cause: e })));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
      const why = lastErrors(log) ?? stderr.trim().split('\n').slice(-2).join('; ');
      reject(new RuntimeError('CRIU_FAILED', `${r.what}: criu ${r.action} ${how}${why ? `: ${why}` : ''} (log: ${log})`, { step: `criu ${r.action}` }));
    });
  });
}

/** The last `Error (...)` lines of a criu log, without their timestamps; null when none. */
export function lastErrors(log: string, n = 2): string | null {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return null;
  }
  // A harmless complaint on every run here (criu cannot raise its own fd limit): not the cause.
  const errors = text.split('\n')
    .filter((l) => /\bError \(/.test(l) && !/rlimit: Can't setup RLIMIT_NOFILE/.test(l))
    .map((l) => l.replace(/^\(\s*[\d.]+\)\s*(\d+:\s*)?/, '').trim());
  return errors.length > 0 ? errors.slice(-n).join('; ') : null;
}
