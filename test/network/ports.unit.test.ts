import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bridgeMac, containerMac, networkRuleset, portRuleset } from '../../src/network/host.js';
import { parsePorts, validatePorts } from '../../src/network/index.js';
import { parseSubnet, pickAddress } from '../../src/network/subnet.js';

test('parsePorts reads podman -p forms', () => {
  assert.deepEqual(parsePorts(['8080:80/tcp', '127.0.0.1:8081:80', '53:53/udp', '9000:9001']), [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8081, containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1' },
    { hostPort: 53, containerPort: 53, protocol: 'udp' },
    { hostPort: 9000, containerPort: 9001, protocol: 'tcp' },
  ]);
  assert.deepEqual(parsePorts(['53:53/tcp', '53:53/udp']).map((p) => p.protocol), ['tcp', 'udp'], 'one port, two protocols');
});

test('a bad port spec is INVALID_ARGUMENT naming its index', () => {
  const cases: Array<[string[], string, RegExp]> = [
    [['80'], 'ports[0]', /expected \[ip:\]hostPort:containerPort/],
    [['8080:80', '8080:80/sctp'], 'ports[1]', /protocol sctp/],
    [['0:80'], 'ports[0]', /port 0 is not/],
    [['8080:65536'], 'ports[0]', /port 65536/],
    [['8080:http'], 'ports[0]', /port http/],
    [['1.2.3:8080:80'], 'ports[0]', /1\.2\.3 is not an IPv4/],
    [['::1:8080:80'], 'ports[0]', /expected/],
    [['8080:80', '127.0.0.1:8080:81'], 'ports[1]', /8080\/tcp is also ports\[0\]/],
  ];
  for (const [specs, field, message] of cases) {
    assert.throws(() => parsePorts(specs), (e: { code: string; field: string; message: string }) => {
      assert.equal(e.code, 'INVALID_ARGUMENT', specs.join(' '));
      assert.equal(e.field, field, specs.join(' '));
      assert.match(e.message, message);
      return true;
    });
  }
  assert.deepEqual(parsePorts(['127.0.0.1:8080:80', '127.0.0.2:8080:80']).length, 2, 'one port on two host addresses');
});

test('validatePorts checks the library\'s objects the same way', () => {
  assert.throws(() => validatePorts([{ hostPort: 80, containerPort: 80, protocol: 'icmp' }]), { code: 'INVALID_ARGUMENT', field: 'ports[0]' });
  assert.throws(() => validatePorts([{ hostPort: 1.5, containerPort: 80, protocol: 'tcp' }]), { code: 'INVALID_ARGUMENT', field: 'ports[0]' });
  assert.throws(() => validatePorts([null]), { code: 'INVALID_ARGUMENT', field: 'ports[0]' });
  assert.throws(() => validatePorts('8080:80'), { code: 'INVALID_ARGUMENT', field: 'ports' });
  assert.deepEqual(validatePorts([{ hostPort: 80, containerPort: 8, protocol: 'udp', extra: 1 }]), [{ hostPort: 80, containerPort: 8, protocol: 'udp' }]);
});

test('subnets: host bits cleared, /30 is the smallest, the gateway and taken addresses are skipped', () => {
  assert.equal(parseSubnet('10.88.7.9/16').cidr, '10.88.0.0/16');
  for (const bad of ['10.88.0.0', '10.88.0.0/31', '10.88.0.0/0', '10.256.0.0/16', '10.88.0.0/16/1', '010.1.0.0/16']) {
    assert.throws(() => parseSubnet(bad), { code: 'INVALID_ARGUMENT', field: 'subnet' }, bad);
  }
  const n30 = parseSubnet('10.9.0.0/30');
  assert.equal(pickAddress(n30, new Set(['10.9.0.1'])), '10.9.0.2');
  assert.equal(pickAddress(n30, new Set(['10.9.0.1', '10.9.0.2'])), undefined, '/30: the gateway and one container');
  const n29 = parseSubnet('10.9.0.0/29');
  assert.equal(pickAddress(n29, new Set(['10.9.0.1']), '10.9.0.5'), '10.9.0.5', 'a free preferred address');
  assert.equal(pickAddress(n29, new Set(['10.9.0.1', '10.9.0.5']), '10.9.0.5'), '10.9.0.2', 'a taken one falls back to the lowest free');
  assert.equal(pickAddress(n29, new Set(['10.9.0.1']), '10.9.0.7'), '10.9.0.2', 'the broadcast address is never handed out');
});

test('nft rules: the network\'s base rules and a container\'s DNAT rules, tagged', () => {
  const b = { bridge: 'bt0', subnet: '10.9.0.0/29', gateway: '10.9.0.1', prefixLength: 29, table: 'berth-bt0' };
  assert.deepEqual(networkRuleset(b).trim().split('\n'), [
    'add table ip berth-bt0',
    'add chain ip berth-bt0 prerouting { type nat hook prerouting priority dstnat; policy accept; }',
    'add chain ip berth-bt0 output { type nat hook output priority -100; policy accept; }',
    'add chain ip berth-bt0 postrouting { type nat hook postrouting priority srcnat; policy accept; }',
    'flush chain ip berth-bt0 postrouting',
    'add rule ip berth-bt0 postrouting ip saddr 10.9.0.0/29 ip daddr != 10.9.0.0/29 masquerade comment "berth:outbound"',
    'add rule ip berth-bt0 postrouting oifname "bt0" ip saddr 127.0.0.0/8 ct status dnat masquerade comment "berth:loopback"',
    'add rule ip berth-bt0 postrouting oifname "bt0" ip saddr 10.9.0.0/29 ct status dnat masquerade comment "berth:hairpin"',
  ]);
  assert.deepEqual(portRuleset('berth-bt0', 'web', '10.9.0.2', parsePorts(['8080:80', '127.0.0.1:53:5353/udp'])).trim().split('\n'), [
    'add rule ip berth-bt0 prerouting fib daddr type local tcp dport 8080 dnat to 10.9.0.2:80 comment "berth:web"',
    'add rule ip berth-bt0 output fib daddr type local tcp dport 8080 dnat to 10.9.0.2:80 comment "berth:web"',
    'add rule ip berth-bt0 prerouting ip daddr 127.0.0.1 udp dport 53 dnat to 10.9.0.2:5353 comment "berth:web"',
    'add rule ip berth-bt0 output ip daddr 127.0.0.1 udp dport 53 dnat to 10.9.0.2:5353 comment "berth:web"',
  ]);
  assert.equal(portRuleset('berth-bt0', 'web', '10.9.0.2', []), '', 'no ports, no rules');
});

test('a bridge\'s own MAC: locally administered unicast, stable per bridge name, different between bridges', () => {
  const mac = bridgeMac('berth0');
  assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
  assert.equal(bridgeMac('berth0'), mac);
  assert.notEqual(bridgeMac('berth1'), mac);
});

test('a container\'s MAC follows its address, so a restore with the same address keeps it', () => {
  assert.equal(containerMac('10.89.0.2'), '02:42:0a:59:00:02');
  assert.equal(containerMac('10.89.255.254'), '02:42:0a:59:ff:fe');
  assert.notEqual(containerMac('10.89.0.3'), containerMac('10.89.0.2'));
});
