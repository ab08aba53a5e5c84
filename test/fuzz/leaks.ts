/**
 * The leak check of a fuzz run. As test/helpers/leaks.ts, but the mount table is compared only
 * under the paths the run owns (its root and bundles): fuzz campaigns run for minutes while
 * other work on the host mounts and unmounts its own things.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { containerProcesses, reapOrphans, type HostSnapshot } from '../helpers/leaks.js';

function mountsUnder(prefixes: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => prefixes.some((p) => mp === p || mp.startsWith(`${p}/`)))
    .sort();
}

function fds(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [`${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`];
    } catch {
      return []; // the fd readdir itself used
    }
  });
}

/** Container processes, mounts, fds and container files a run left behind (none, or it throws). */
export async function assertRunLeftNothing(before: HostSnapshot, root: string, owned: string[]): Promise<void> {
  let procs: string[] = [];
  for (let i = 0; i < 50; i++) {
    reapOrphans(before.pids);
    procs = containerProcesses(before.pids);
    if (procs.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(procs, [], 'container processes left behind');
  assert.deepEqual(mountsUnder([root, ...owned]), [], 'mounts left behind');
  const leaked = fds().filter((f) => !before.fds.includes(f));
  assert.deepEqual(leaked, [], 'fds left open');
  const dir = join(root, 'containers');
  assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], `container state left in ${dir}`);
}
