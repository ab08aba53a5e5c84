import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { busyboxRootfs, tempRoot } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
import { criuSkip } from '../helpers/criu.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * Checkpoint archives through the CLI, one command per process as a shell runs them:
 * `container checkpoint --export` on root A, `container restore --import --name` on root B, and
 * bad imports refused with the status of their code, naming the field, leaving nothing on B.
 */
const skip = criuSkip();
let a = { root: '', cleanup: () => undefined as void };
let b = { root: '', cleanup: () => undefined as void };
const rootfs = mkdtempSync(join(tmpdir(), 'berth-arch-cli-rootfs-'));
const work = mkdtempSync(join(tmpdir(), 'berth-arch-cli-'));
before(() => {
  actAsShim();
  a = tempRoot();
  b = tempRoot();
  execFileSync('cp', ['-a', `${busyboxRootfs()}/.`, rootfs]);
});
after(() => {
  a.cleanup();
  b.cleanup();
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const COUNT = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done'];

const ok = async (root: string, args: string[]) => {
  const r = await berth(root, args);
  assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** The container's counted numbers once there are at least `n` (`container logs`, polled). */
async function counted(root: string, name: string, n: number): Promise<number[]> {
  let lines: number[] = [];
  for (let i = 0; i < 600 && lines.length < n; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 50));
    lines = (await ok(root, ['container', 'logs', name])).split('\n').filter(Boolean).map(Number);
  }
  assert.ok(lines.length >= n, `${name} counted ${lines.length} lines, not ${n}`);
  return lines;
}

/** A counter run on root A, exported to `file` and removed there. */
async function exportCounter(name: string, file: string): Promise<number[]> {
  await ok(a.root, ['container', 'run', '-d', '--rootfs', rootfs, name, ...COUNT]);
  const seen = await counted(a.root, name, 5);
  await ok(a.root, ['container', 'checkpoint', '--export', file, name]);
  assert.equal(JSON.parse(await ok(a.root, ['container', 'inspect', name])).state.status, 'stopped');
  await ok(a.root, ['container', 'rm', name]);
  return seen;
}

function managerDirs(root: string): string[] {
  return existsSync(join(root, 'manager')) ? readdirSync(join(root, 'manager')) : [];
}

test('container checkpoint --export on one root, container restore --import --name on another: the count goes on', { skip }, async (t) => {
  const at = snapshot();
  const file = join(work, 'count.tar');
  t.after(() => berth(b.root, ['container', 'rm', '-f', 'ac-moved']));
  const seen = await exportCounter('ac', file);
  await ok(b.root, ['container', 'restore', '--import', file, '--name', 'ac-moved']);
  assert.equal(JSON.parse(await ok(b.root, ['container', 'inspect', 'ac-moved'])).state.status, 'running');
  const all = await counted(b.root, 'ac-moved', seen.length + 20);
  const after = all.slice(all.lastIndexOf(seen.at(-1)!) + 1);
  assert.ok(after.length > 0 && after.every((n) => n > seen.at(-1)!), `the count goes on: ${after.join(' ')}`);
  assert.equal(all.filter((n) => n === 1).length, 1, 'the count did not start again at 1');
  await ok(b.root, ['container', 'rm', '-f', 'ac-moved']);
  assert.deepEqual(managerDirs(b.root), []);
  await assertNoLeaks(at, a.root);
  await assertNoLeaks(at, b.root);
});

test('bad imports: the status of their code, the field named, nothing left on the target root', { skip }, async () => {
  const at = snapshot();
  const file = join(work, 'bad.tar');
  await exportCounter('acb', file);
  const refused = async (args: string[], status: number, message: RegExp) => {
    const r = await berth(b.root, ['container', 'restore', ...args]);
    assert.equal(r.status, status, `restore ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(await ok(b.root, ['container', 'ls', '--format', 'json']), '[]\n');
    assert.deepEqual(managerDirs(b.root), [], 'no manager directory');
  };
  await refused(['--import', join(work, 'missing.tar')], 2, /import: .*is not an existing file \[INVALID_ARGUMENT\]/);
  const junk = join(work, 'junk.tar');
  writeFileSync(junk, 'not a tar\n');
  await refused(['--import', junk], 2, /import: .*is not a berth checkpoint archive \[INVALID_ARGUMENT\]/);
  renameSync(rootfs, `${rootfs}.away`);
  try {
    await refused(['--import', file], 2, /rootfs: .*is not an existing directory/);
  } finally {
    renameSync(`${rootfs}.away`, rootfs);
  }
  await ok(b.root, ['container', 'create', '--rootfs', rootfs, 'acb', 'true']);
  const inUse = await berth(b.root, ['container', 'restore', '--import', file]);
  assert.equal(inUse.status, 5, inUse.stderr);
  assert.match(inUse.stderr, /acb already exists \[ID_IN_USE\]/);
  await ok(b.root, ['container', 'rm', 'acb']);
  assert.deepEqual(managerDirs(b.root), []);
  assert.equal((await berth(b.root, ['container', 'restore', 'nosuch'])).status, 4, 'in place, a name that is not defined');
  await assertNoLeaks(at, a.root);
  await assertNoLeaks(at, b.root);
});
