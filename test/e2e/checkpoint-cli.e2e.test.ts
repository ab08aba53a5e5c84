import assert from 'node:assert/strict';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeBundle, tempRoot, type Bundle } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { QUIET_COUNTER, cgroupExists, consecutive, counts, criuProcesses, criuSkip, tempDir, untilCount } from '../helpers/criu.js';

/** `berth checkpoint` and `berth restore` as podman and containerd call them, each command its own process. */
const skip = criuSkip();
let root: string;
let cleanupRoot: () => void;
const cleanups: (() => void)[] = [];

before(() => {
  actAsShim();
  ({ root, cleanup: cleanupRoot } = tempRoot());
});
after(() => {
  for (const c of cleanups) c();
  cleanupRoot();
});

function counterBundle(): { b: Bundle; data: string } {
  const d = tempDir('berth-count-');
  const b = makeBundle(QUIET_COUNTER, (c) => {
    c.mounts!.push({ destination: '/run', type: 'bind', source: d.dir, options: ['rbind', 'rw'] });
  });
  cleanups.push(() => b.cleanup(), () => d.cleanup());
  return { b, data: d.dir };
}

async function ok(args: string[], cwd?: string) {
  const r = await berth(root, args, cwd ? { cwd } : {});
  assert.equal(r.status, 0, `berth ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

const state = async (id: string) => JSON.parse((await ok(['state', id])).stdout) as { status: string; pid: number };

test('cli: checkpoint, restore in place, checkpoint --leave-running, restore as a new id', { skip }, async (t) => {
  t.after(async () => {
    await berth(root, ['delete', '--force', 'cli-cr']);
    await berth(root, ['delete', '--force', 'cli-cr2']);
  });
  const before = snapshot();
  const { b, data } = counterBundle();
  const img = tempDir('berth-img-');
  cleanups.push(() => img.cleanup());
  await ok(['run', '--detach', '--bundle', b.dir, 'cli-cr']);
  await untilCount(data, 3);
  // Default image path: ./checkpoint of the working directory, as runc.
  await ok(['checkpoint', 'cli-cr'], img.dir);
  assert.ok(existsSync(join(img.dir, 'checkpoint', 'inventory.img')));
  assert.equal((await state('cli-cr')).status, 'stopped');
  assert.equal(cgroupExists(root, 'cli-cr'), false);
  const last = counts(data).at(-1)!;

  const pidFile = join(img.dir, 'restored.pid');
  await ok(['restore', '--detach', '--image-path', join(img.dir, 'checkpoint'), '--pid-file', pidFile, 'cli-cr']);
  const s = await state('cli-cr');
  assert.equal(s.status, 'running');
  assert.equal(Number(readFileSync(pidFile, 'utf8')), s.pid);
  assert.ok(consecutive(await untilCount(data, last + 3)), 'restored in place, it counts on');

  await ok(['checkpoint', '--leave-running', '--image-path', join(img.dir, 'second'), 'cli-cr']);
  assert.equal((await state('cli-cr')).status, 'running');
  const copy = counterBundle();
  await ok(['restore', '-d', '--bundle', copy.b.dir, '--image-path', join(img.dir, 'second'), 'cli-cr2']);
  const first = (await untilCount(copy.data, 1))[0]!;
  assert.ok(first > last, `the copy goes on from the second dump (${first} > ${last})`);
  const history = (await ok(['history', 'cli-cr'])).stdout;
  for (const e of ['CheckpointRequested', 'Checkpointed', 'RestoreRequested', 'Restored']) assert.match(history, new RegExp(e));
  await ok(['delete', '--force', 'cli-cr']);
  await ok(['delete', '--force', 'cli-cr2']);
  assert.deepEqual(criuProcesses(), []);
  await assertNoLeaks(before, root);
});

test('cli: bad checkpoint and restore input exits with the error code\'s status and names criu\'s log', { skip }, async (t) => {
  t.after(async () => { await berth(root, ['delete', '--force', 'cli-bad']); });
  const before = snapshot();
  const { b, data } = counterBundle();
  const img = tempDir('berth-img-');
  cleanups.push(() => img.cleanup());
  await ok(['create', '--bundle', b.dir, 'cli-bad']);
  let r = await berth(root, ['checkpoint', '--image-path', img.dir, 'cli-bad']);
  assert.equal(r.status, 6, r.stderr);
  assert.match(r.stderr, /checkpoint cli-bad: container not running \[ILLEGAL_STATE\]/);
  await ok(['start', 'cli-bad']);
  await untilCount(data, 2);
  r = await berth(root, ['checkpoint', '--manage-cgroups-mode', 'loose', '--image-path', img.dir, 'cli-bad']);
  assert.equal(r.status, 2, r.stderr);
  r = await berth(root, ['restore', '-d', '--bundle', b.dir, '--image-path', join(img.dir, 'none'), 'cli-new']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /image path .*none does not exist \[INVALID_ARGUMENT\]/);
  r = await berth(root, ['restore', '-d', '--bundle', b.dir, '--image-path', img.dir, 'cli-bad']);
  assert.equal(r.status, 5, r.stderr);
  r = await berth(root, ['checkpoint', '--image-path', img.dir, '--empty-ns', 'pid', 'cli-bad']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /criu can only leave the network namespace empty/);
  // Damaged images: criu itself fails, and the error names its log.
  const good = join(img.dir, 'good');
  await ok(['checkpoint', '--leave-running', '--image-path', good, 'cli-bad']);
  unlinkSync(join(good, 'pstree.img'));
  r = await berth(root, ['restore', '-d', '--bundle', b.dir, '--image-path', good, 'cli-copy']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /restore cli-copy: criu restore (exited with \d+|was killed by SIG\w+).* \(log: .*good\/restore\.log\) \[CRIU_FAILED\]/);
  assert.equal(cgroupExists(root, 'cli-copy'), false);
  assert.equal((await state('cli-bad')).status, 'running');
  await ok(['delete', '--force', 'cli-bad']);
  await assertNoLeaks(before, root);
});
