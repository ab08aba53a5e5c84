import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeNetHost, openNetworks, type Networks } from '../../src/network/index.js';
import { createMemoryEventLog } from '../../src/store/memoryEventLog.js';
import type { EventLog } from '../../src/store/eventLog.js';

const NET = { name: 'tnet', bridge: 'bt0', subnet: '10.9.0.0/29' };
const TABLE = 'berth-bt0';

function world(subnet = NET.subnet) {
  const log = createMemoryEventLog();
  const host = new FakeNetHost();
  const open = (h: FakeNetHost = host, l: EventLog = log): Networks => openNetworks({ log: l, host: h, networks: [{ ...NET, subnet }] });
  return { log, host, nets: open(), open };
}

const types = async (log: EventLog) => (await log.read('net:tnet')).map((e) => `${e.type}${e.data.address ? ` ${String(e.data.address)}` : ''}${e.data.reason ? ` ${String(e.data.reason)}` : ''}`);

/** Nothing of the network on the fake host: no link, no table. */
function assertHostClean(host: FakeNetHost) {
  assert.deepEqual([...host.links.keys()], [], 'no bridge or veth left');
  assert.deepEqual([...host.tables.keys()], [], 'no nft table left');
}

test('attach: an address from the log, the bridge, a veth into the pid\'s netns, tagged DNAT rules', async () => {
  const { log, host, nets } = world();
  host.addProcess(100).addProcess(101);
  const a = await nets.attach({ container: 'web', pid: 100, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  const b = await nets.attach({ container: 'db', pid: 101 });
  assert.deepEqual(a, { container: 'web', network: 'tnet', address: '10.9.0.2', prefixLength: 29, gateway: '10.9.0.1', ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  assert.equal(b.address, '10.9.0.3');
  assert.deepEqual(await types(log), ['NetworkCreated', 'AddressAllocated 10.9.0.2', 'AddressAllocated 10.9.0.3']);
  const allocated = (await log.read('net:tnet'))[1]!;
  assert.equal(allocated.schema, 1);
  assert.deepEqual({ ...allocated.data, hostVeth: typeof allocated.data.hostVeth }, {
    container: 'web', address: '10.9.0.2', hostVeth: 'string', pid: 100, start: 's100', ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  });
  const veth = host.links.get(String(allocated.data.hostVeth));
  assert.deepEqual(veth, { kind: 'veth', pid: 100, bridge: 'bt0', address: '10.9.0.2' });
  assert.deepEqual(host.links.get('bt0'), { kind: 'bridge' });
  assert.deepEqual(host.tables.get(TABLE), ['berth:web', 'berth:web'], 'prerouting and output');
  assert.deepEqual((await nets.attachments()).map((x) => x.container), ['web', 'db']);
  assert.deepEqual(await nets.attachments('tnet'), await nets.attachments());
});

test('detach: veth and rules go, the address is released, the last one takes bridge and table; detach again does nothing', async () => {
  const { log, host, nets } = world();
  host.addProcess(100).addProcess(101);
  await nets.attach({ container: 'web', pid: 100, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  await nets.attach({ container: 'db', pid: 101 });
  await nets.detach('web');
  assert.deepEqual(host.tables.get(TABLE), [], 'web\'s rules are gone, the table stays for db');
  assert.ok(host.links.has('bt0'));
  host.exit(101); // stopped first: its veth died with its netns
  await nets.detach('db');
  assertHostClean(host);
  await nets.detach('db');
  await nets.detach('never-attached');
  assert.deepEqual(await types(log), [
    'NetworkCreated', 'AddressAllocated 10.9.0.2', 'AddressAllocated 10.9.0.3', 'AddressReleased 10.9.0.2 detached', 'AddressReleased 10.9.0.3 detached',
  ]);
  assert.deepEqual(await nets.attachments(), []);
});

test('an exhausted subnet is INVALID_ARGUMENT naming the network; nothing is appended or made', async () => {
  const { log, host, nets } = world('10.9.0.0/30');
  host.addProcess(100).addProcess(101);
  await nets.attach({ container: 'a', pid: 100 });
  const before = { events: await types(log), links: [...host.links.keys()] };
  await assert.rejects(nets.attach({ container: 'b', pid: 101 }), { code: 'INVALID_ARGUMENT', field: 'network', message: /no free address left in 10\.9\.0\.0\/30/ });
  assert.deepEqual(await types(log), before.events);
  assert.deepEqual([...host.links.keys()], before.links);
  await nets.detach('a');
  assert.equal((await nets.attach({ container: 'b', pid: 101 })).address, '10.9.0.2', 'a released address is handed out again');
  await nets.detach('b');
  assertHostClean(host);
});

test('a port published by another attachment, or in use on the host, is refused naming the port', async () => {
  const { log, host, nets } = world();
  host.addProcess(100).addProcess(101);
  await nets.attach({ container: 'a', pid: 100, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  const before = { events: await types(log), links: [...host.links.keys()], rules: [...host.tables.get(TABLE)!] };
  await assert.rejects(
    nets.attach({ container: 'b', pid: 101, ports: [{ hostPort: 9, containerPort: 9, protocol: 'udp' }, { hostPort: 8080, containerPort: 81, protocol: 'tcp', hostIp: '127.0.0.1' }] }),
    { code: 'INVALID_ARGUMENT', field: 'ports[1]', message: 'port 127.0.0.1:8080/tcp is already published by container a' },
  );
  host.busyPorts.add('5353/udp');
  await assert.rejects(nets.attach({ container: 'b', pid: 101, ports: [{ hostPort: 5353, containerPort: 53, protocol: 'udp' }] }), {
    code: 'INVALID_ARGUMENT', field: 'ports[0]', message: 'port 5353/udp is in use on the host',
  });
  assert.deepEqual({ events: await types(log), links: [...host.links.keys()], rules: host.tables.get(TABLE) }, before, 'nothing appended or made');
  assert.equal((await nets.attach({ container: 'b', pid: 101, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'udp' }] })).address, '10.9.0.3', 'same port, other protocol');
  await nets.detach('a');
  await nets.detach('b');
  assertHostClean(host);
});

test('a pid without a netns of its own is refused naming the pid', async () => {
  const { log, host, nets } = world();
  host.addProcess(100, 'host').addProcess(101, null);
  await assert.rejects(nets.attach({ container: 'a', pid: 100 }), { code: 'INVALID_ARGUMENT', field: 'pid', message: /host's network namespace/ });
  await assert.rejects(nets.attach({ container: 'a', pid: 101 }), { code: 'INVALID_ARGUMENT', field: 'pid', message: /no network namespace/ });
  await assert.rejects(nets.attach({ container: 'a', pid: 999 }), { code: 'INVALID_ARGUMENT', field: 'pid' });
  await assert.rejects(nets.attach({ container: 'a', pid: -1 }), { code: 'INVALID_ARGUMENT', field: 'pid' });
  await assert.rejects(nets.attach({ container: 'a/b', pid: 100 }), { code: 'INVALID_ID' });
  await assert.rejects(nets.attach({ container: 'a', pid: 100, network: 'nope' }), { code: 'INVALID_ARGUMENT', field: 'pid' });
  host.addProcess(102);
  await assert.rejects(nets.attach({ container: 'a', pid: 102, network: 'nope' }), { code: 'NOT_EXISTS', field: 'network' });
  await assert.rejects(nets.attach({ container: 'a', pid: 102, address: '10.10.0.2' }), { code: 'INVALID_ARGUMENT', field: 'address' });
  await assert.rejects(nets.attach({ container: 'a', pid: 102, address: 'ten' }), { code: 'INVALID_ARGUMENT', field: 'address' });
  assert.deepEqual(await types(log), ['NetworkCreated'], 'no address was allocated');
  assertHostClean(host);
});

test('a host step that fails undoes the attach: veth, rules and bridge removed, the address released', async () => {
  for (const step of ['setUpNetwork', 'addVeth', 'addPortRules'] as const) {
    const { log, host, nets } = world();
    host.addProcess(100).failNext(step);
    await assert.rejects(nets.attach({ container: 'a', pid: 100, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }), { code: 'SYSCALL', step });
    assert.deepEqual(await types(log), ['NetworkCreated', 'AddressAllocated 10.9.0.2', 'AddressReleased 10.9.0.2 failed'], step);
    assertHostClean(host);
    assert.equal((await nets.attach({ container: 'a', pid: 100 })).address, '10.9.0.2', `${step}: the address is free again`);
  }
});

test('a container already attached with a live init is refused; one whose init is gone gets its old address back', async () => {
  const { log, host, nets } = world();
  host.addProcess(100).addProcess(101).addProcess(102);
  await nets.attach({ container: 'a', pid: 100 });
  const b = await nets.attach({ container: 'b', pid: 101 });
  await assert.rejects(nets.attach({ container: 'b', pid: 102 }), { code: 'INVALID_ARGUMENT', field: 'container', message: /already attached/ });
  host.exit(101); // checkpointed, or the runtime died without a detach
  await nets.detach('a');
  const again = await nets.attach({ container: 'b', pid: 102 });
  assert.equal(again.address, b.address, 'the restored container has its address again');
  assert.deepEqual((await types(log)).slice(-2), ['AddressReleased 10.9.0.3 replaced', 'AddressAllocated 10.9.0.3']);
  host.addProcess(103);
  assert.equal((await nets.attach({ container: 'c', pid: 103, address: '10.9.0.6' })).address, '10.9.0.6', 'an asked-for free address');
});

test('on open, an allocation whose init and veth are gone is released; one whose veth remains is kept', async () => {
  const { log, host, nets, open } = world();
  host.addProcess(100).addProcess(101).addProcess(102);
  await nets.attach({ container: 'a', pid: 100, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  await nets.attach({ container: 'b', pid: 101 });
  await nets.attach({ container: 'c', pid: 102 });
  // The process that attached them dies without detaching; a's init dies too, b's init dies
  // but its netns (and so its veth) is held by something else.
  host.exit(100);
  const bVeth = [...host.links].find(([, l]) => l.kind === 'veth' && l.pid === 101)![0];
  host.procs.delete(101);
  const next = open();
  assert.deepEqual((await next.attachments()).map((x) => x.container), ['b', 'c']);
  assert.deepEqual((await types(log)).at(-1), 'AddressReleased 10.9.0.2 reconciled');
  assert.deepEqual(host.tables.get(TABLE), [], 'a\'s rules are gone');
  assert.ok(host.links.has(bVeth));
  await next.reconcile();
  assert.equal((await log.read('net:tnet')).length, 5, 'reconciling again changes nothing');
});

test('two processes on one log never hand out one address: a lost append is decided again', async () => {
  const { log, host, open } = world();
  const hostB = new FakeNetHost();
  for (let pid = 100; pid < 105; pid++) (pid % 2 === 0 ? host : hostB).addProcess(pid);
  const p1 = open(host);
  const p2 = open(hostB);
  const got = await Promise.all([100, 101, 102, 103, 104].map((pid) => (pid % 2 === 0 ? p1 : p2).attach({ container: `c${pid}`, pid })));
  const addresses = got.map((a) => a.address);
  assert.deepEqual(addresses.slice().sort(), ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6'], 'the whole /29, each address once');
  assert.equal((await log.read('net:tnet')).filter((e) => e.type === 'NetworkCreated').length, 1, 'one of them created the network');
});

test('network definitions are checked', () => {
  const log = createMemoryEventLog();
  assert.throws(() => openNetworks({ log, networks: [{ name: 'x', bridge: 'a-very-long-bridge', subnet: '10.0.0.0/24' }] }), { code: 'INVALID_ARGUMENT', field: 'networks[0].bridge' });
  assert.throws(() => openNetworks({ log, networks: [{ name: 'x', subnet: '10.0.0.0/31' }] }), { code: 'INVALID_ARGUMENT', field: 'networks[0].subnet' });
  assert.throws(() => openNetworks({ log, networks: [{ name: 'a:b', subnet: '10.0.0.0/24' }] }), { code: 'INVALID_ID' });
});

test('a network already in the log with another subnet is refused', async () => {
  const { log, host, nets } = world();
  host.addProcess(100);
  await nets.attach({ container: 'a', pid: 100 });
  const other = openNetworks({ log, host, networks: [{ ...NET, subnet: '10.9.1.0/29' }] });
  await assert.rejects(other.attach({ container: 'b', pid: 100 }), { code: 'INVALID_ARGUMENT', field: 'networks', message: /exists with bridge bt0 and subnet 10\.9\.0\.0\/29/ });
  const reader = openNetworks({ log, host, networks: [] });
  assert.deepEqual((await reader.attachments('tnet')).map((x) => x.address), ['10.9.0.2'], 'a network known only from the log');
});

test('a subnet overlapping another interface\'s route is refused naming the subnet; the bridge\'s own route is not a conflict', async () => {
  const { log, host, nets } = world();
  host.addProcess(100);
  host.otherRoutes.push({ dst: '10.9.0.4', dev: 'tun0' });
  await assert.rejects(nets.attach({ container: 'a', pid: 100 }), { code: 'INVALID_ARGUMENT', field: 'subnet', message: 'network tnet: subnet 10.9.0.0/29 overlaps the route to 10.9.0.4 on tun0' });
  host.otherRoutes.splice(-1, 1, { dst: '10.0.0.0/8', dev: 'wg0' });
  await assert.rejects(nets.attach({ container: 'a', pid: 100 }), { code: 'INVALID_ARGUMENT', field: 'subnet', message: /overlaps the route to 10\.0\.0\.0\/8 on wg0/ });
  host.otherRoutes.splice(-1, 1, { dst: '10.9.0.0/29', dev: 'bt0' }, { dst: '10.9.0.8/29', dev: 'eth1' });
  assert.equal((await nets.attach({ container: 'a', pid: 100 })).address, '10.9.0.2');
  assert.deepEqual(await types(log), ['NetworkCreated', 'AddressAllocated 10.9.0.2']);
});

test('a network name that cannot name a stream is INVALID_ID', async () => {
  const { host, nets } = world();
  host.addProcess(100);
  await assert.rejects(nets.attach({ container: 'a', pid: 100, network: 'net:x' }), { code: 'INVALID_ID', message: /network name/ });
  await assert.rejects(nets.attach({ container: 'a', pid: 100, network: '' }), { code: 'INVALID_ID' });
});

test('the bridge\'s lock is held while the bridge is set up, the veth and rules added, and the bridge removed; a release that leaves others takes none', async () => {
  const { host, nets } = world();
  host.addProcess(100).addProcess(101);
  const seen: string[] = [];
  for (const m of ['setUpNetwork', 'addVeth', 'addPortRules', 'tearDownNetwork'] as const) {
    const real = host[m].bind(host) as (...a: unknown[]) => Promise<void>;
    Object.assign(host, { [m]: (...a: unknown[]) => { seen.push(`${m} ${host.held.has('bt0') ? 'locked' : 'UNLOCKED'}`); return real(...a); } });
  }
  const locks = () => host.calls.filter((c) => c.method === 'lock').length;
  await nets.attach({ container: 'web', pid: 100, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
  await nets.attach({ container: 'db', pid: 101 });
  assert.equal(locks(), 2);
  await nets.detach('web');
  assert.equal(locks(), 2, 'db is still attached: no lock, no teardown');
  await nets.detach('db');
  assert.equal(locks(), 3);
  assert.deepEqual(seen, [
    'setUpNetwork locked', 'addVeth locked', 'addPortRules locked',
    'setUpNetwork locked', 'addVeth locked', 'addPortRules locked',
    'tearDownNetwork locked',
  ]);
  assert.equal(host.held.size, 0, 'every lock given back');
  assertHostClean(host);
});
