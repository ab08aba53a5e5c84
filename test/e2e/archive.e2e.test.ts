import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { openRuntime, type Runtime } from '../../src/index.js';
import { busyboxRootfs, tempRoot } from '../helpers/bundle.js';
import { criuSkip } from '../helpers/criu.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * Checkpoint archives: a managed container exported on one root (the fixture's) and imported
 * on a second root goes on counting in memory; bad imports leave nothing on the target.
 */
const skip = criuSkip();
const f = runtimeFixture();
const rootfs = mkdtempSync(join(tmpdir(), 'berth-arch-rootfs-'));
execFileSync('cp', ['-a', `${busyboxRootfs()}/.`, rootfs]);
const work = mkdtempSync(join(tmpdir(), 'berth-arch-'));
after(() => {
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const COUNT = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done'];

async function numbers(rt: Runtime, name: string, atLeast: number): Promise<number[]> {
  const lines = await firstValueFrom(rt.containers.logs$(name, { follow: true }).pipe(filter((l) => l.stream === 'stdout'), take(atLeast), toArray()));
  return lines.map((l) => Number(l.line));
}

/** Root B with nothing on it: no manager directory, no manager event, no runtime state. */
async function assertNothing(rt: Runtime, root: string, name: string): Promise<void> {
  assert.deepEqual(await rt.containers.history(name), [], 'no manager event');
  await assert.rejects(rt.state(name), { code: 'NOT_EXISTS' });
  const mgr = join(root, 'manager');
  assert.deepEqual(existsSync(mgr) ? readdirSync(mgr) : [], [], 'no manager directory');
}

test('export/import of a checkpoint restores on a second root', { skip }, async () => {
  const before = snapshot();
  const archive = join(work, 'counter.tar');
  const c = await f.rt.containers.create({ name: 'arch-count', rootfs, command: COUNT });
  await c.start();
  const seen = await numbers(f.rt, 'arch-count', 10);
  await c.checkpoint({ export: archive });
  assert.equal((await f.rt.state('arch-count')).status, 'stopped');
  const srcEvents = await f.rt.containers.history('arch-count');
  assert.equal(srcEvents.at(-1)?.type, 'ContainerCheckpointed');
  assert.equal(srcEvents.at(-1)?.data.export, archive);
  await c.remove();

  const b = tempRoot();
  const rtB = await openRuntime({ root: b.root });
  try {
    const r = await rtB.containers.restore({ import: archive });
    assert.equal(r.name, 'arch-count');
    assert.equal((await rtB.state('arch-count')).status, 'running');
    // the log file came along: its lines before the checkpoint, then the restored ones
    const all = await numbers(rtB, 'arch-count', seen.length + 20);
    const restored = all.slice(all.indexOf(seen.at(-1)!) + 1);
    assert.ok(restored.length > 0 && restored.every((n) => n > seen.at(-1)!), `the count goes on: ${restored.join(' ')}`);
    assert.equal(all.filter((n) => n === 1).length, 1, 'the count did not start again at 1');
    const history = await rtB.containers.history('arch-count');
    assert.deepEqual(history.map((e) => e.type), ['ContainerDefined', 'ContainerRestored']);
    assert.equal(history[1]!.data.archive, archive);
    assert.equal(history[1]!.data.sourceRoot, f.root);
    assert.equal((history[1]!.data.sourceVersions as { manager: number }).manager, srcEvents.at(-1)!.version);
    await r.remove({ force: true });
    assert.equal(existsSync(join(b.root, 'manager', 'arch-count')), false);
  } finally {
    await rtB.close();
  }
  await assertNoLeaks(before, b.root, { openRuntime: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
  b.cleanup();
});

test('bad imports are refused and leave nothing on the target root', { skip }, async () => {
  const before = snapshot();
  const archive = join(work, 'once.tar');
  const c = await f.rt.containers.create({ name: 'arch-bad', rootfs, command: COUNT });
  await c.start();
  await numbers(f.rt, 'arch-bad', 3);
  await c.checkpoint({ export: archive });
  await c.remove();

  const b = tempRoot();
  const rtB = await openRuntime({ root: b.root });
  try {
    await assert.rejects(rtB.containers.restore({ import: join(work, 'missing.tar') }), { code: 'INVALID_ARGUMENT', field: 'import', message: /not an existing file/ });
    const junk = join(work, 'junk.tar');
    writeFileSync(junk, 'not a tar\n');
    await assert.rejects(rtB.containers.restore({ import: junk }), { code: 'INVALID_ARGUMENT', field: 'import', message: /not a berth checkpoint archive/ });
    await assertNothing(rtB, b.root, 'arch-bad');

    renameSync(rootfs, `${rootfs}.away`);
    try {
      await assert.rejects(rtB.containers.restore({ import: archive }), { code: 'INVALID_ARGUMENT', field: 'rootfs', message: /not an existing directory/ });
    } finally {
      renameSync(`${rootfs}.away`, rootfs);
    }
    await assertNothing(rtB, b.root, 'arch-bad');

    const inUse = await rtB.containers.create({ name: 'arch-bad', rootfs, command: ['true'] });
    await assert.rejects(rtB.containers.restore({ import: archive }), { code: 'ID_IN_USE' });
    await inUse.remove();
    assert.deepEqual(readdirSync(join(b.root, 'manager')), [], 'the refused import left no directory');
  } finally {
    await rtB.close();
  }
  await assertNoLeaks(before, b.root, { openRuntime: true });
  b.cleanup();
});
