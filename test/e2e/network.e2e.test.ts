import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Container } from '../../src/index.js';
import { openNetworks, type Networks, type PortMapping } from '../../src/network/index.js';
import { bridgeMac } from '../../src/network/host.js';
import { hostVethName } from '../../src/network/networks.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { assertNetworkGone, freePort, linkExists, listening, nftTable, readFrom, testNetwork, until } from '../helpers/network.js';
import { collect } from '../helpers/streams.js';

/**
 * Bridge networking on the real kernel: containers made by the runtime, attached while their
 * init waits at the exec fifo (as the container manager does), on a bridge and subnet of the
 * test's own; every test proves no veth, bridge, nft table or unreleased address is left.
 */
// Registered before the fixture's: a test that failed half way leaves no veth, rule or bridge
// (the fixture then deletes its containers).
after(async () => {
  for (const n of [nets(), tinyNets()]) for (const a of await n.attachments()) await n.detach(a.container);
});
const f = runtimeFixture();
const NET = testNetwork('n');
const TINY = testNetwork('x', 1, 30);
// Opened on first use: the fixture's runtime (and so its log) exists once its before hook ran.
let opened: Networks | undefined;
const nets = (): Networks => (opened ??= openNetworks({ log: f.rt.log, networks: [NET], stateDir: join(f.root, 'networks') }));
let openedTiny: Networks | undefined;
const tinyNets = (): Networks => (openedTiny ??= openNetworks({ log: f.rt.log, networks: [TINY], stateDir: join(f.root, 'networks') }));

const SERVE = (reply: string) => ['nc', '-ll', '-p', '80', '-e', 'echo', reply];

/** create → attach → start, as the manager does; returns the container and its attachment. */
async function attached(id: string, args: string[], ports: PortMapping[] = [], n = nets()) {
  const c = await f.rt.create(id, { bundle: f.bundle(args).dir, stdio: 'ignore' });
  const att = await n.attach({ container: id, pid: (await c.state()).pid, ports }).catch(async (e) => {
    await c.delete({ force: true });
    throw e;
  });
  await c.start();
  // A server is connected to once it listens (a readiness wait, not a timing check).
  const port = args[0] === 'nc' ? Number(args[args.indexOf('-p') + 1]) : 0;
  const pid = (await c.state()).pid!;
  if (port > 0) await until(() => listening(pid, port), `${id} listens on :${port}`);
  return { c, att };
}

/** Stop and delete, then detach (the netns is gone by then): the manager's order. */
async function remove(c: Container, n = nets()) {
  await c.delete({ force: true });
  await n.detach(c.id);
}

async function run(c: Container, args: string[]) {
  const e = await c.exec({ args, cwd: '/', user: { uid: 0, gid: 0 } }, { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = collect(e.stdio.stdout);
  return { exit: await e.wait(), out: await out };
}

test('two containers on a bridge reach each other by address; eth0, lo and the default route are set; outbound NAT is in place', async () => {
  const before = snapshot();
  const a = await attached('net-a', SERVE('hello-a'));
  const b = await attached('net-b', ['sleep', '1000']);
  assert.notEqual(a.att.address, b.att.address);
  assert.equal(linkExists(NET.bridge), true);
  assert.equal(linkExists(hostVethName(NET.name, 'net-a')), true);

  const addr = await run(b.c, ['ip', '-4', '-o', 'addr']);
  assert.match(addr.out, new RegExp(`eth0\\s+inet ${b.att.address.replace(/\./g, '\\.')}/${b.att.prefixLength}`));
  assert.match(addr.out, /lo\s+inet 127\.0\.0\.1\/8/, 'lo is up');
  assert.match((await run(b.c, ['ip', 'route'])).out, new RegExp(`default via ${b.att.gateway.replace(/\./g, '\\.')} dev eth0`));
  const hello = await run(b.c, ['nc', a.att.address, '80']);
  assert.deepEqual(hello, { exit: { code: 0, signal: null }, out: 'hello-a\n' }, 'b reaches a by its address');

  const rules = nftTable(`berth-${NET.bridge}`)!;
  const outbound = rules.find((r) => r.comment === 'berth:outbound');
  assert.ok(outbound, 'the outbound rule is in the network\'s table');
  assert.equal(outbound.chain, 'postrouting');
  assert.ok(JSON.stringify(outbound.expr).includes('"masquerade"'));
  assert.ok(JSON.stringify(outbound.expr).includes(JSON.stringify(NET.subnet.split('/')[0])), 'it masquerades the subnet');

  // b knows the gateway's MAC (ping from the host's side of b's netns: the container has no
  // CAP_NET_RAW); it is the bridge's own, not its lowest port's, so it stays good as a leaves.
  const pingGateway = async () => execFileSync('nsenter', [`--net=/proc/${(await b.c.state()).pid}/ns/net`, '/bin/busybox', 'ping', '-c', '1', '-W', '1', b.att.gateway], { stdio: 'ignore' });
  await pingGateway();
  await remove(a.c);
  assert.equal(linkExists(NET.bridge), true, 'the bridge stays while b is attached');
  assert.equal(readFileSync(`/sys/class/net/${NET.bridge}/address`, 'utf8').trim(), bridgeMac(NET.bridge));
  await pingGateway();
  await remove(b.c);
  await assertNetworkGone(f.rt.log, NET, [hostVethName(NET.name, 'net-a'), hostVethName(NET.name, 'net-b')]);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a published port answers from the host\'s loopback, its other addresses and another container (hairpin); one bound to 127.0.0.1 only there', async () => {
  const before = snapshot();
  const [any, loopback] = [await freePort(), await freePort()];
  const ports: PortMapping[] = [
    { hostPort: any, containerPort: 80, protocol: 'tcp' },
    { hostPort: loopback, containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1' },
  ];
  const a = await attached('net-pub', SERVE('published'), ports);
  assert.deepEqual(a.att.ports, ports);
  assert.equal(await readFrom('127.0.0.1', any), 'published\n', 'from the loopback');
  assert.equal(await readFrom(a.att.gateway, any), 'published\n', 'from another local address (the bridge\'s)');
  assert.equal(await readFrom('127.0.0.1', loopback), 'published\n', 'the 127.0.0.1-only port from the loopback');
  await assert.rejects(readFrom(a.att.gateway, loopback), { code: 'ECONNREFUSED' }, 'the 127.0.0.1-only port is not published elsewhere');
  assert.equal(nftTable(`berth-${NET.bridge}`)!.filter((r) => r.comment === 'berth:net-pub').length, 4, 'prerouting and output, per port');
  // Hairpin: another container on the bridge reaches the published port at the host's address.
  const b = await attached('net-pub-client', ['sleep', '1000']);
  assert.deepEqual(await run(b.c, ['nc', '-w', '5', a.att.gateway, String(any)]), { exit: { code: 0, signal: null }, out: 'published\n' });
  await remove(b.c);
  await remove(a.c);
  await assertNetworkGone(f.rt.log, NET, [hostVethName(NET.name, 'net-pub'), hostVethName(NET.name, 'net-pub-client')]);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('bad input leaves nothing: a port in use on the host or already published, a pid in the host\'s netns, an exhausted subnet', async () => {
  const before = snapshot();
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const busyPort = (busy.address() as { port: number }).port;
  const published = await freePort();
  const a = await attached('net-bad-a', ['sleep', '1000'], [{ hostPort: published, containerPort: 80, protocol: 'tcp' }]);

  const c = await f.rt.create('net-bad', { bundle: f.bundle(['sleep', '1000']).dir, stdio: 'ignore' });
  const pid = (await c.state()).pid;
  await assert.rejects(nets().attach({ container: 'net-bad', pid, ports: [{ hostPort: busyPort, containerPort: 80, protocol: 'tcp' }] }), {
    code: 'INVALID_ARGUMENT', field: 'ports[0]', message: `port ${busyPort}/tcp is in use on the host`,
  });
  await assert.rejects(nets().attach({ container: 'net-bad', pid, ports: [{ hostPort: published, containerPort: 81, protocol: 'tcp' }] }), {
    code: 'INVALID_ARGUMENT', field: 'ports[0]', message: `port ${published}/tcp is already published by container net-bad-a`,
  });
  const other = await freePort();
  await assert.rejects(nets().attach({ container: 'net-bad', pid, ports: [{ hostPort: other, containerPort: 80, protocol: 'tcp', hostIp: '203.0.113.7' }] }), {
    code: 'INVALID_ARGUMENT', field: 'ports[0]', message: `port 203.0.113.7:${other}/tcp: 203.0.113.7 is not an address of this host`,
  });
  assert.equal(linkExists(hostVethName(NET.name, 'net-bad')), false);
  assert.equal(nftTable(`berth-${NET.bridge}`)!.filter((r) => r.comment === 'berth:net-bad').length, 0);
  await c.delete({ force: true });
  busy.close();

  const hostNs = await f.rt.create('net-hostns', {
    bundle: f.bundle(['sleep', '1000'], (cfg) => { cfg.linux!.namespaces = cfg.linux!.namespaces!.filter((n) => n.type !== 'network'); }).dir,
    stdio: 'ignore',
  });
  await assert.rejects(nets().attach({ container: 'net-hostns', pid: (await hostNs.state()).pid }), { code: 'INVALID_ARGUMENT', field: 'pid', message: /host's network namespace/ });
  await hostNs.delete({ force: true });
  await assert.rejects(nets().attach({ container: 'net-gone', pid: pid }), { code: 'INVALID_ARGUMENT', field: 'pid' }, 'a pid that is gone');

  const one = await attached('net-tiny-1', ['sleep', '1000'], [], tinyNets());
  const c2 = await f.rt.create('net-tiny-2', { bundle: f.bundle(['sleep', '1000']).dir, stdio: 'ignore' });
  await assert.rejects(tinyNets().attach({ container: 'net-tiny-2', pid: (await c2.state()).pid }), { code: 'INVALID_ARGUMENT', field: 'network', message: /no free address left/ });
  assert.equal(linkExists(hostVethName(TINY.name, 'net-tiny-2')), false);
  await c2.delete({ force: true });
  await remove(one.c, tinyNets());
  await remove(a.c);
  await assertNetworkGone(f.rt.log, TINY, [hostVethName(TINY.name, 'net-tiny-1'), hostVethName(TINY.name, 'net-tiny-2')]);
  await assertNetworkGone(f.rt.log, NET, [hostVethName(NET.name, 'net-bad-a'), hostVethName(NET.name, 'net-bad')]);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a process that died without detaching: the next one releases the address, the rules and the bridge; a restored container gets its address back', async () => {
  const before = snapshot();
  const ports: PortMapping[] = [{ hostPort: await freePort(), containerPort: 80, protocol: 'tcp' }];
  const a = await attached('net-crash', ['sleep', '1000'], ports);
  const veth = hostVethName(NET.name, 'net-crash');
  // The container goes, nobody detaches (the process that attached it died).
  await a.c.delete({ force: true });
  await until(() => !linkExists(veth), 'the veth dies with the netns');
  assert.equal(nftTable(`berth-${NET.bridge}`)!.filter((r) => r.comment === 'berth:net-crash').length, 2, 'its rules are still there');

  const next = openNetworks({ log: f.rt.log, networks: [NET], stateDir: join(f.root, 'networks') });
  assert.deepEqual(await next.attachments(NET.name), [], 'reconciled on first use');
  const last = (await f.rt.log.read(`net:${NET.name}`)).at(-1)!;
  assert.deepEqual([last.type, last.data], ['AddressReleased', { container: 'net-crash', address: a.att.address, reason: 'reconciled' }]);
  await assertNetworkGone(f.rt.log, NET, [veth]);

  // The same container name again with an address it asks for (a restore): it gets it.
  const again = await f.rt.create('net-crash', { bundle: f.bundle(['sleep', '1000']).dir, stdio: 'ignore' });
  const att = await next.attach({ container: 'net-crash', pid: (await again.state()).pid, address: a.att.address });
  assert.equal(att.address, a.att.address);
  await remove(again, next);
  await assertNetworkGone(f.rt.log, NET, [veth]);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('outbound traffic is masqueraded: a container reaches a server whose network has no route back to the subnet', async (t) => {
  const before = snapshot();
  // An "outside" network of the test's own: a netns behind a /30 veth from the host. It knows no
  // route to the bridge's subnet, so only a masqueraded connection (source: the host's end) can
  // be answered.
  const outside = `berth-out-${process.pid}`;
  const hostEnd = `bto${process.pid}`.slice(0, 15);
  const [hostIp, outsideIp] = [`10.213.${process.pid % 250}.249`, `10.213.${process.pid % 250}.250`];
  execFileSync('ip', ['netns', 'add', outside]);
  const removeOutside = () => { try { execFileSync('ip', ['netns', 'del', outside], { stdio: 'ignore' }); } catch { /* gone */ } };
  t.after(removeOutside);
  execFileSync('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
  execFileSync('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostEnd]);
  execFileSync('ip', ['link', 'set', hostEnd, 'up']);
  execFileSync('ip', ['-n', outside, 'addr', 'add', `${outsideIp}/30`, 'dev', 'eth0']);
  execFileSync('ip', ['-n', outside, 'link', 'set', 'eth0', 'up']);
  const server = spawn('ip', ['netns', 'exec', outside, 'busybox', 'nc', '-ll', '-p', '80', '-e', 'echo', 'outside'], { stdio: 'ignore' });
  const serverGone = new Promise((r) => server.once('exit', r));
  t.after(() => server.kill('SIGKILL'));

  const a = await attached('net-out', ['sleep', '1000']);
  // The server may not listen yet: the container retries (a readiness wait, not a timing check).
  const r = await run(a.c, ['sh', '-c', `for i in $(seq 20); do nc -w 2 ${outsideIp} 80 && exit 0; sleep 0.1; done; exit 1`]);
  assert.deepEqual(r, { exit: { code: 0, signal: null }, out: 'outside\n' }, 'answered through the host\'s NAT');

  await remove(a.c);
  server.kill('SIGKILL');
  await serverGone;
  removeOutside();
  await until(() => !linkExists(hostEnd), 'the outside veth goes with its netns');
  await assertNetworkGone(f.rt.log, NET, [hostVethName(NET.name, 'net-out')]);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
