import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ContainerOptions } from '../../src/index.js';
import { hostVethName } from '../../src/network/networks.js';
import { busyboxRootfs } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot, type HostSnapshot } from '../helpers/leaks.js';
import { assertNetworkGone, freePort, listening, readFrom, testNetwork, until } from '../helpers/network.js';
import { collect } from '../helpers/streams.js';

/**
 * The manager on a real bridge (the runtime's own networks, on a test bridge and subnet):
 * containers reach each other by address and by the names /etc/hosts gives them, a published
 * port answers from the host's loopback, and nothing of the network is left afterwards.
 */
const NET = testNetwork('mb');
const f = runtimeFixture({ runtime: { networks: [NET] } });

const rootfs = mkdtempSync(join(tmpdir(), 'berth-mgrnet-rootfs-'));
execFileSync('cp', ['-a', `${busyboxRootfs()}/.`, rootfs]);
after(() => rmSync(rootfs, { recursive: true, force: true }));

/** The network went with its last container (no bridge, veth, nft table, unreleased address), and nothing else is left. */
async function assertLeftNothing(before: HostSnapshot, containers: string[]): Promise<void> {
  await until(() => !existsSync(`/sys/class/net/${NET.bridge}`), 'bridge removed');
  await assertNetworkGone(f.rt.log, NET, containers.map((c) => hostVethName(NET.name, c)));
  await assertNoLeaks(before, f.root, { openRuntime: true });
}

/** Connects until the server (just started) listens. */
const REACH_POD = 'grep -w mbp /etc/hosts; for i in $(seq 50); do nc 127.0.0.1 80 && break; sleep 0.1; done';

const opts = (name: string, command: string[], extra: Partial<ContainerOptions> = {}): ContainerOptions => ({ name, rootfs, command, network: 'bridge', ...extra });

async function execOut(name: string, args: string[]): Promise<{ exit: number | null; out: string }> {
  const e = await f.rt.exec(name, { args, cwd: '/', user: { uid: 0, gid: 0 } }, { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = collect(e.stdio.stdout);
  const exit = await e.wait();
  return { exit: exit.code, out: await out };
}

test('two bridge containers reach each other by name; each /etc/hosts names every member; a published port answers from the host\'s loopback', async () => {
  const before = snapshot();
  const port = await freePort();
  const a = await f.rt.containers.create(opts('mb-a', ['nc', '-ll', '-p', '80', '-e', 'echo', 'hello-a'], { ports: [`${port}:80/tcp`] }));
  const b = await f.rt.containers.create(opts('mb-b', ['sleep', '1000']));
  try {
    await a.start();
    await b.start();
    const pa = (await a.inspect()).state!.pid!;
    await until(() => listening(pa, 80), 'mb-a listens on :80');
    const [att] = (await f.rt.networks.attachments(NET.name)).filter((x) => x.container === 'mb-a');
    assert.ok(att, 'mb-a is attached');
    // mb-a was attached first: its /etc/hosts was rewritten in place when mb-b joined.
    const hostsA = await execOut('mb-a', ['cat', '/etc/hosts']);
    assert.match(hostsA.out, /\tmb-b\n/);
    const byName = await execOut('mb-b', ['sh', '-c', 'grep -w mb-a /etc/hosts | cut -f1; nc mb-a 80']);
    assert.equal(byName.exit, 0);
    assert.deepEqual(byName.out.trim().split('\n'), [att.address, 'hello-a']);
    assert.equal(await readFrom('127.0.0.1', port), 'hello-a\n', 'the published port from the host loopback');

    // The same port again: refused naming the option, and nothing of the second one is left.
    await assert.rejects(f.rt.containers.create(opts('mb-c', ['sleep', '1'], { ports: [`${port}:80/tcp`] })), (e: { code: string; field?: string }) => e.code === 'INVALID_ARGUMENT' && /^ports/.test(e.field ?? ''));
    assert.equal(existsSync(join(f.root, 'manager', 'mb-c')), false);
    assert.deepEqual((await f.rt.networks.attachments(NET.name)).map((x) => x.container).sort(), ['mb-a', 'mb-b']);
  } finally {
    await b.remove({ force: true });
    // mb-b left: mb-a's /etc/hosts no longer names it.
    assert.doesNotMatch((await execOut('mb-a', ['cat', '/etc/hosts'])).out, /mb-b/);
    await a.remove({ force: true });
  }
  await assertLeftNothing(before, ['mb-a', 'mb-b']);
});

test('a pod on the bridge: members share its address and published port; a bridge container reaches it by name; stop releases the address; rm leaves nothing', async () => {
  const before = snapshot();
  const port = await freePort();
  await f.rt.pods.create({ name: 'mbp', rootfs, network: 'bridge', ports: [`${port}:80/tcp`] });
  const member = (name: string, command: string[], extra: Partial<ContainerOptions> = {}): ContainerOptions => ({ name, rootfs, command, pod: 'mbp', ...extra });
  await f.rt.containers.create(member('mbp-srv', ['nc', '-ll', '-p', '80', '-e', 'echo', 'hello-pod']));
  await f.rt.containers.create(member('mbp-cli', ['sleep', '1000']));
  const other = await f.rt.containers.create(opts('mb-other', ['sleep', '1000']));
  try {
    // A member asks for a network or ports of its own: refused naming the field, nothing written.
    const bad: Array<[Partial<ContainerOptions>, string]> = [[{ ports: ['9999:80'] }, 'ports'], [{ network: 'bridge' }, 'network'], [{ share: { net: 'mb-other' } }, 'share.net']];
    for (const [extra, field] of bad) {
      await assert.rejects(f.rt.containers.create(member('mbp-bad', ['true'], extra)), (e: { code: string; field?: string }) => e.code === 'INVALID_ARGUMENT' && e.field === field);
      assert.equal(existsSync(join(f.root, 'manager', 'mbp-bad')), false);
    }
    await f.rt.pods.start('mbp');
    await other.start();
    const att = (await f.rt.networks.attachments(NET.name)).find((x) => x.container === 'mbp.pod');
    assert.ok(att, 'the pod\'s holder is attached');
    assert.deepEqual((await f.rt.networks.attachments(NET.name)).map((x) => x.container).sort(), ['mb-other', 'mbp.pod'], 'members have no attachment of their own');
    assert.deepEqual((await f.rt.pods.inspect('mbp')).network, att, 'the pod shows its address and ports');

    const inPod = await execOut('mbp-cli', ['sh', '-c', REACH_POD]);
    assert.equal(inPod.exit, 0);
    const [line, reply] = inPod.out.trim().split('\n');
    assert.deepEqual(line!.split(/\s+/), [att.address, 'mbp', 'mbp.pod', 'mbp-srv', 'mbp-cli'], 'a member names the pod and its members at the pod\'s address');
    assert.equal(reply, 'hello-pod', 'a member reaches another over the pod\'s loopback');
    assert.match((await execOut('mbp-cli', ['ip', '-4', '-o', 'addr', 'show', 'eth0'])).out, new RegExp(`inet ${att.address.replace(/\./g, '\\.')}/`), 'the pod\'s eth0');
    const byName = await execOut('mb-other', ['sh', '-c', 'grep -w mbp /etc/hosts | cut -f1; nc mbp 80']);
    assert.deepEqual(byName.out.trim().split('\n'), [att.address, 'hello-pod'], 'a bridge container reaches the pod by name');
    assert.match((await execOut('mbp-srv', ['cat', '/etc/hosts'])).out, /\tmb-other\n/, 'members see the other bridge containers');
    assert.equal(await readFrom('127.0.0.1', port), 'hello-pod\n', 'the pod\'s published port from the host loopback');
    // Another pod asking for the same port: refused naming it, and no pod, holder or attachment is left.
    await assert.rejects(f.rt.pods.create({ name: 'mbp2', rootfs, network: 'bridge', ports: [`${port}:80/tcp`] }), (e: { code: string; field?: string }) => e.code === 'INVALID_ARGUMENT' && e.field === 'ports[0]');
    await assert.rejects(f.rt.pods.create({ name: 'mbp2', rootfs, network: 'container:mb-other' }), { code: 'INVALID_ARGUMENT', field: 'network' });
    assert.deepEqual((await f.rt.pods.list()).map((p) => p.name), ['mbp']);
    assert.equal(existsSync(join(f.root, 'manager', 'mbp2.pod')), false);
    assert.deepEqual((await f.rt.networks.attachments(NET.name)).map((x) => x.container).sort(), ['mb-other', 'mbp.pod']);

    await f.rt.pods.stop('mbp', { timeout: 0 });
    const released = (await f.rt.log.read(`net:${NET.name}`)).filter((e) => e.type === 'AddressReleased' && e.data.container === 'mbp.pod');
    assert.deepEqual(released.map((e) => [e.data.address, e.data.reason]), [[att.address, 'detached']], 'stop gives the pod\'s address back');
    assert.doesNotMatch((await execOut('mb-other', ['cat', '/etc/hosts'])).out, /mbp/, 'the pod left the others\' /etc/hosts');
    assert.equal((await f.rt.pods.inspect('mbp')).network, null);

    // Started again: the holder is attached anew (the lowest free address: its old one here), members recreated in its namespaces.
    await f.rt.pods.start('mbp');
    const again = await execOut('mbp-cli', ['sh', '-c', REACH_POD]);
    assert.deepEqual(again.out.trim().split('\n').map((l) => l.split(/\s+/)), [[att.address, 'mbp', 'mbp.pod', 'mbp-srv', 'mbp-cli'], ['hello-pod']]);
  } finally {
    await f.rt.pods.remove('mbp', { force: true });
    await other.remove({ force: true });
  }
  await assertLeftNothing(before, ['mbp.pod', 'mb-other']);
});

test('a bridge pod whose port was taken while it was stopped: start is refused naming the port; once free, start makes the holder anew; rm leaves nothing', async () => {
  const before = snapshot();
  const port = await freePort();
  await f.rt.pods.create({ name: 'mbq', rootfs, network: 'bridge', ports: [`${port}:80/tcp`] });
  await f.rt.pods.start('mbq');
  await f.rt.pods.stop('mbq', { timeout: 0 });
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(port, '0.0.0.0', r));
  try {
    await assert.rejects(f.rt.pods.start('mbq'), (e: { code: string; field?: string }) => e.code === 'INVALID_ARGUMENT' && e.field === 'ports[0]');
    assert.deepEqual((await f.rt.pods.list()).map((p) => [p.name, p.holder, p.network]), [['mbq', null, null]], 'the pod without its holder');
    await new Promise((r) => squatter.close(r));
    await f.rt.pods.start('mbq');
    const pod = await f.rt.pods.inspect('mbq');
    assert.equal(pod.holder?.state?.status, 'running');
    assert.deepEqual(pod.network?.ports, [{ hostPort: port, containerPort: 80, protocol: 'tcp' }]);
  } finally {
    squatter.close();
    await f.rt.pods.remove('mbq', { force: true });
  }
  assert.deepEqual(await f.rt.pods.list(), []);
  await assertLeftNothing(before, ['mbq.pod']);
});

test('berth pod create --network bridge:<network> -p: the CLI puts a pod on the bridge; pod ls shows its address; pod rm -f leaves nothing', async () => {
  const before = snapshot();
  const port = await freePort();
  const cli = async (args: string[]) => {
    const r = await berth(f.root, args);
    assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // A library bridge container first: the network is then in the log, where the CLI finds it.
  const other = await f.rt.containers.create(opts('mb-lib', ['sleep', '1000']));
  try {
    await other.start();
    await cli(['pod', 'create', '--rootfs', rootfs, '--network', `bridge:${NET.name}`, '-p', `${port}:80`, 'mbc']);
    await cli(['container', 'create', '--rootfs', rootfs, '--pod', 'mbc', 'mbc-srv', 'nc', '-ll', '-p', '80', '-e', 'echo', 'hello-cli-pod']);
    await cli(['pod', 'start', 'mbc']);
    const [pod] = JSON.parse(await cli(['pod', 'ls', '--format', 'json'])) as Array<{ name: string; network: { address: string } | null }>;
    assert.equal(pod?.name, 'mbc');
    const att = (await f.rt.networks.attachments(NET.name)).find((a) => a.container === 'mbc.pod');
    assert.equal(pod?.network?.address, att?.address, 'pod ls shows the pod\'s address');
    assert.match(await cli(['pod', 'ls']), new RegExp(`mbc\\s+running\\s+${att!.address.replace(/\./g, '\\.')}\\s+mbc-srv`));
    const reply = await execOut('mb-lib', ['sh', '-c', 'for i in $(seq 50); do nc mbc 80 && break; sleep 0.1; done']);
    assert.equal(reply.out, 'hello-cli-pod\n', 'the library container reaches the CLI\'s pod by name');
    assert.equal(await readFrom('127.0.0.1', port), 'hello-cli-pod\n', 'the pod\'s published port');
  } finally {
    await berth(f.root, ['pod', 'rm', '-f', 'mbc']);
    await other.remove({ force: true });
  }
  await assertLeftNothing(before, ['mbc.pod', 'mb-lib']);
});
