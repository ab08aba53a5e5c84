import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLevelEventLog } from '../../src/store/levelEventLog.js';

/**
 * A root whose log holds one container `id` that was created, started and has exited, written
 * straight into LevelDB: its pid is past the kernel's pid_max, so nothing in the kernel is
 * probed or touched. Removed after the test.
 */
export async function stoppedRoot(t: { after(fn: () => Promise<void>): void }, prefix: string, id: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(root, { recursive: true, force: true }));
  const log = await openLevelEventLog(join(root, 'log'));
  await log.append(id, [
    { type: 'CreateRequested', data: { bundle: '/srv/b', pidFile: null, owner: '' } },
    { type: 'Created', data: { pid: 2147483000, startTime: '1', created: '2026-01-01T00:00:00.000Z', rootfs: '/srv/b/rootfs', config: { ociVersion: '1.0.2' }, cgroup: null } },
    { type: 'StartRequested', data: {} },
    { type: 'Started', data: {} },
    { type: 'Exited', data: { code: 0, signal: null } },
  ], { expectedVersion: 'no_stream' });
  await log.close();
  return root;
}
