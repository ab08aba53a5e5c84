import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { openRuntime, type Runtime } from '../../src/index.js';
import { hostVethName } from '../../src/network/networks.js';
import { busyboxRootfs, tempRoot } from '../helpers/bundle.js';
import { criuSkip } from '../helpers/criu.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { assertNetworkGone, testNetwork } from '../helpers/network.js';

/**
 * Checkpoint archives: a managed container exported on one root (the fixture's) and imported
 * on a second root goes on counting in memory, a bridge container keeps its address (or gets
 * another when it is taken); in place, checkpoint then restore goes on counting too; bad
 * imports leave nothing on the target.
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

/** The count read after a restore goes on from the last one seen before, and never starts again at 1. */
async function assertCountGoesOn(rt: Runtime, name: string, seen: number[]): Promise<void> {
  const all = await numbers(rt, name, seen.length + 20);
  const restored = all.slice(all.lastIndexOf(seen.at(-1)!) + 1);
  assert.ok(restored.length > 0 && restored.every((n) => n > seen.at(-1)!), `the count goes on: ${restored.join(' ')}`);
  assert.equal(all.filter((n) => n === 1).length, 1, 'the count did not start again at 1');
}

/** A failed test's containers go, so the file still ends (and shows its failure) with nothing running. */
async function removeAll(rt: Runtime, names: string[]): Promise<void> {
  for (const n of names) await rt.containers.remove(n, { force: true }).catch(() => undefined);
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
    await assertCountGoesOn(rtB, 'arch-count', seen);
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

test('in place: checkpoint then restore on the same root goes on counting', { skip }, async () => {
  const before = snapshot();
  const c = await f.rt.containers.create({ name: 'arch-here', rootfs, command: COUNT });
  await c.start();
  const seen = await numbers(f.rt, 'arch-here', 10);
  await c.checkpoint();
  assert.equal((await f.rt.state('arch-here')).status, 'stopped');
  const r = await f.rt.containers.restore('arch-here');
  assert.equal((await f.rt.state('arch-here')).status, 'running');
  await assertCountGoesOn(f.rt, 'arch-here', seen);
  const history = await f.rt.containers.history('arch-here');
  assert.deepEqual(history.map((e) => e.type), ['ContainerDefined', 'ContainerCheckpointed', 'ContainerRestored']);
  assert.deepEqual(history[2]!.data, { archive: null, sourceRoot: null, sourceVersions: null, network: null });
  await r.remove({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/**
 * Whether the container's network namespace answers an echo request from the host (through the
 * bridge). Its kernel answers, not a process: criu 4.1 cannot dump an inet socket on this
 * kernel (6.18 refuses SO_PASSCRED on one, which criu reads), so the container holds none.
 */
function answersPing(address: string): boolean {
  try {
    execFileSync(join(rootfs, 'bin/busybox'), ['ping', '-c', '1', '-W', '5', address], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a bridge container keeps its address on the second root and still answers there; a second import of it gets another', { skip }, async () => {
  const before = snapshot();
  const archive = join(work, 'bridge.tar');
  // root B's network: the same subnet as A's, on a bridge of its own
  const netA = testNetwork('ar');
  const netB = { ...netA, name: `${netA.name}b`, bridge: `${netA.bridge}b`.slice(0, 15) };
  const a = tempRoot();
  const rtA = await openRuntime({ root: a.root, networks: [netA] });
  let address: string;
  let seen: number[];
  try {
    const c = await rtA.containers.create({ name: 'arch-net', rootfs, command: COUNT, network: 'bridge' });
    await c.start();
    seen = await numbers(rtA, 'arch-net', 5);
    address = (await rtA.networks.attachments(netA.name)).find((x) => x.container === 'arch-net')!.address;
    assert.ok(answersPing(address));
    await c.checkpoint({ export: archive });
    assert.deepEqual((await rtA.containers.history('arch-net')).at(-1)!.data.network, { network: netA.name, address });
    assert.deepEqual(await rtA.networks.attachments(netA.name), [], 'the checkpointed container holds no address');
    await c.remove();
    await assertNetworkGone(rtA.log, netA, [hostVethName(netA.name, 'arch-net')]);
  } catch (e) {
    await removeAll(rtA, ['arch-net']);
    throw e;
  } finally {
    await rtA.close();
  }

  const b = tempRoot();
  const rtB = await openRuntime({ root: b.root, networks: [netB] });
  try {
    const r = await rtB.containers.restore({ import: archive });
    const restored = (await rtB.containers.history('arch-net')).at(-1)!;
    assert.deepEqual(restored.data.network, { network: netB.name, address, requested: address });
    assert.ok(answersPing(address), 'it answers at its old address on the new bridge');
    await assertCountGoesOn(rtB, 'arch-net', seen);
    // the same archive again under another name: the address is taken, so another one
    const twin = await rtB.containers.restore({ import: archive, name: 'arch-net2' });
    const got = (await rtB.containers.history('arch-net2')).at(-1)!.data.network as { address: string; requested: string };
    assert.equal(got.requested, address);
    assert.notEqual(got.address, address);
    assert.ok(answersPing(got.address));
    // in place on root B: the address it had is asked for again, and it is free
    await r.checkpoint();
    assert.deepEqual((await rtB.networks.attachments(netB.name)).map((x) => x.container), ['arch-net2']);
    await rtB.containers.restore('arch-net');
    assert.deepEqual((await rtB.containers.history('arch-net')).at(-1)!.data.network, { network: netB.name, address, requested: address });
    assert.ok(answersPing(address));
    await twin.remove({ force: true });
    await r.remove({ force: true });
    await assertNetworkGone(rtB.log, netB, ['arch-net', 'arch-net2'].map((n) => hostVethName(netB.name, n)));
  } catch (e) {
    await removeAll(rtB, ['arch-net', 'arch-net2']);
    throw e;
  } finally {
    await rtB.close();
  }
  await assertNoLeaks(before, a.root);
  await assertNoLeaks(before, b.root);
  a.cleanup();
  b.cleanup();
});
