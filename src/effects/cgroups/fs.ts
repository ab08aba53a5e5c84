/**
 * cgroupfs file operations shared by both backends: writes that name the file and value in
 * their errors, reads that treat a missing file as absent, process lists, mkdir with undo,
 * rmdir with EBUSY retries, and polling without parking the loop.
 */
import { writeFile } from 'node:fs/promises';
import { closeSync, constants as fsc, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';

import { errnoOf, RuntimeError, wrapSyscall } from '../../errors.js';
import type { Write } from './resources.js';

/** Errnos with which the kernel rejects a value (not the file): the config's fault. */
const REJECTED = new Set(['EINVAL', 'ERANGE', 'EOVERFLOW', 'EBUSY', 'ENOSPC']);

/** Write `value` in one write(2), without O_CREAT (cgroupfs files are never created by writing). */
/** writeCgroupFile from the threadpool, for writes the kernel may make wait (cgroup.procs). */
export async function writeCgroupFileAsync(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, value, { flag: fsc.O_WRONLY | fsc.O_TRUNC });
  } catch (e) {
    throw wrapSyscall(`write ${path} ${JSON.stringify(value)}`, e);
  }
}

export function writeCgroupFile(path: string, value: string, field?: string): void {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_TRUNC);
  } catch (e) {
    throw wrapSyscall(`open ${path}`, e, field === undefined ? {} : { field: `linux.resources.${field}` });
  }
  try {
    writeSync(fd, value);
  } catch (e) {
    const errno = errnoOf(e);
    const what = `write ${path} ${JSON.stringify(value)}`;
    if (field !== undefined && errno !== undefined && REJECTED.has(errno)) {
      throw new RuntimeError('INVALID_CONFIG', `${what}: ${errno}`, { field: `linux.resources.${field}`, cause: e });
    }
    throw wrapSyscall(what, e, field === undefined ? {} : { field: `linux.resources.${field}` });
  } finally {
    closeSync(fd);
  }
}

export function readCgroupFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw wrapSyscall(`read ${path}`, e);
  }
}

/** Sub-cgroups of `dir`, deepest first (what rmdir needs; the container may have made its own). */
export function descendants(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw wrapSyscall(`readdir ${dir}`, e);
  }
  return entries.filter((e) => e.isDirectory()).flatMap((e) => {
    const sub = join(dir, e.name);
    return [...descendants(sub), sub];
  });
}

/** Pids in `dir`'s cgroup.procs and every descendant's. */
export function procsRecursive(dir: string): number[] {
  const pids = new Set<number>();
  for (const d of [dir, ...descendants(dir)]) {
    for (const line of (readCgroupFile(join(d, 'cgroup.procs')) ?? '').split('\n')) {
      if (line.trim() !== '') pids.add(Number(line));
    }
  }
  return [...pids].sort((a, b) => a - b);
}

/**
 * Create `dir` and any missing parent below `root`, mode 0755; returns the directories this
 * call made, outermost first, so a failure can remove exactly those. `onLevel(parent, child)`
 * runs before each missing level is made (v2 enables controllers, v1 cpuset copies from parent).
 */
export function mkdirLevels(root: string, rel: string, made: string[], onLevel?: (parent: string, child: string) => void): void {
  let current = root;
  for (const part of rel.split('/').filter((p) => p !== '')) {
    const next = join(current, part);
    onLevel?.(current, next);
    try {
      mkdirSync(next, 0o755);
      made.push(next);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw wrapSyscall(`mkdir ${next}`, e);
    }
    current = next;
  }
}

/** rmdir `dir` and its sub-cgroups, deepest first; EBUSY (tasks still exiting) is retried briefly. */
export async function removeCgroup(dir: string): Promise<void> {
  for (const d of [...descendants(dir), dir]) {
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(d);
        break;
      } catch (e) {
        const errno = errnoOf(e);
        if (errno === 'ENOENT') break;
        if (errno !== 'EBUSY' || attempt >= 12) throw wrapSyscall(`rmdir ${d}`, e);
        await sleep(Math.min(5 * 2 ** attempt, 200));
      }
    }
  }
}

/** Undo: remove directories made by mkdirLevels, innermost first, ignoring errors (best effort after a failure). */
export function removeMade(made: string[]): void {
  for (const d of [...made].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // A directory we cannot remove is reported by the caller's original error.
    }
  }
}

/**
 * Poll `done()` without parking the loop: first on every turn of the loop (a freeze usually
 * completes in tens of µs), then with sleeps growing to 10 ms, until `timeoutMs`.
 */
export async function pollUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    if (i < 50) await yieldLoop();
    else await sleep(Math.min(2 ** (i - 50), 10));
  }
}

/**
 * Check, before anything is written, that every file a plan needs exists; a missing one means
 * the controller is not available (not mounted on v1, not enabled for this cgroup on v2).
 */
export function checkPlanFiles(plan: Write[], pathOf: (w: Write) => string | undefined): void {
  for (const w of plan) {
    if (w.optional) continue;
    const path = pathOf(w);
    const ctrl = w.ctrl !== '' ? w.ctrl : w.file.split('.')[0];
    if (path === undefined || !existsSync(path)) {
      const where = path ?? `the ${ctrl} hierarchy`;
      throw new RuntimeError(
        'INVALID_CONFIG',
        `invalid config: linux.resources.${w.field}: ${where} does not exist (the ${ctrl} controller is not available for this cgroup)`,
        { field: `linux.resources.${w.field}` },
      );
    }
  }
}

/** Run a plan's writes in order; an optional file that is absent is skipped. */
export function runPlan(plan: Write[], pathOf: (w: Write) => string): void {
  for (const w of plan) {
    const path = pathOf(w);
    if (w.optional && !existsSync(path)) continue;
    writeCgroupFile(path, w.value, w.field);
  }
}
