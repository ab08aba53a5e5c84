/** Shared by the cgroup integration tests: skip reasons, children, leak checks. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { readCgroupLayout, type CgroupLayout } from '../../src/effects/cgroupLayout.js';

export const layout: CgroupLayout = readCgroupLayout();
export const rootSkip = process.getuid?.() === 0 ? undefined : 'requires root (cgroupfs writes)';
/** Every test's cgroups live under this top-level name, removed (and checked gone) at the end. */
export const TOP = `berth-test-${process.pid}`;

/** Every hierarchy root of the host (v1 mountpoints and cgroup2). */
export function hierarchyRoots(): string[] {
  return [...new Set([...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])])];
}

/** Remove TOP from every hierarchy and return the directories that remained (must be none). */
export function cleanupTop(): string[] {
  const left: string[] = [];
  for (const root of hierarchyRoots()) {
    const dir = join(root, TOP);
    if (!existsSync(dir)) continue;
    try {
      rmdirSync(dir);
    } catch {
      left.push(dir);
    }
    for (const d of readdirSync(root)) if (d.startsWith(TOP) && existsSync(join(root, d))) left.push(join(root, d));
  }
  return left;
}

export function start(cmd: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  return spawn(cmd, args, { stdio: [stdin, 'ignore', 'ignore'] });
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Does the file keep growing over `ms`? */
export async function grows(path: string, ms = 150): Promise<boolean> {
  const a = fileSize(path);
  await sleep(ms);
  return fileSize(path) > a;
}

export const read = (path: string) => readFileSync(path, 'utf8').trim();
