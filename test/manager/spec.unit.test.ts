import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostsFile, resolvConf } from '../../src/manager/files.js';
import { ANNOTATIONS, generateSpec, isSystemd, parseSize, sortMounts, stopSignalOf, type SpecInputs } from '../../src/manager/spec.js';
import type { OciMount } from '../../src/machines/spec.js';

const inputs = (opts: Partial<SpecInputs['opts']> = {}): SpecInputs => ({
  opts: { name: 'web', rootfs: '/r', command: ['sh'], ...opts },
  rootfs: '/r',
  user: { uid: 65534, gid: 65534, additionalGids: [100], home: '/home/n' },
  files: { hosts: '/d/hosts', resolvConf: '/d/resolv.conf', hostname: '/d/hostname' },
  namespaces: [{ type: 'pid' }],
  created: '2026-01-01T00:00:00.000Z',
});

test('mounts are sorted parents first, stable otherwise, and a later mount of a destination replaces the earlier', () => {
  const m = (destination: string, source = 'x'): OciMount => ({ destination, source, type: 'bind' });
  const sorted = sortMounts([m('/a/b/c'), m('/dev/shm'), m('/a'), m('/dev'), m('/a/b'), m('/dev/shm', 'mine')]);
  assert.deepEqual(sorted.map((x) => `${x.destination}:${x.source}`), ['/a:x', '/dev:x', '/a/b:x', '/dev/shm:mine', '/a/b/c:x']);
});

test('the spec: defaults plus user, env (HOSTNAME, container, HOME; the caller wins), annotations, cgroup path', () => {
  const c = generateSpec(inputs({ env: { HOSTNAME: 'mine', A: '1' }, stopTimeout: 3, cgroupParent: 'pods/p1' }));
  assert.deepEqual(c.process.user, { uid: 65534, gid: 65534, additionalGids: [100] });
  assert.deepEqual(c.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm', 'HOME=/home/n', 'HOSTNAME=mine', 'container=berth', 'A=1']);
  assert.deepEqual(c.annotations, { [ANNOTATIONS.name]: 'web', [ANNOTATIONS.created]: '2026-01-01T00:00:00.000Z', [ANNOTATIONS.stopSignal]: 'SIGTERM', [ANNOTATIONS.stopTimeout]: '3' });
  assert.equal(c.linux?.cgroupsPath, '/pods/p1/web');
  assert.equal(generateSpec(inputs({})).linux?.cgroupsPath, undefined, 'no parent: the runtime\'s default for the root');
  assert.throws(() => generateSpec(inputs({ cgroupParent: 'a/../b' })), { code: 'INVALID_ARGUMENT', field: 'cgroupParent' });
  assert.equal(c.hostname, 'web');
  const byDest = new Map(c.mounts!.map((m) => [m.destination, m]));
  assert.equal(byDest.get('/etc/hosts')?.source, '/d/hosts');
  assert.ok(byDest.get('/dev/shm')?.options?.includes('size=67108864'));
  assert.equal(byDest.has('/run'), false, 'no systemd tmpfs unless asked');
});

test('systemd mode is automatic for systemd and init, with SIGRTMIN+3 and its tmpfs mounts', () => {
  assert.equal(isSystemd({ name: 'a', rootfs: '/r', command: ['/sbin/init'] }), true);
  assert.equal(isSystemd({ name: 'a', rootfs: '/r', command: ['/lib/systemd/systemd'] }), true);
  assert.equal(isSystemd({ name: 'a', rootfs: '/r', command: ['/sbin/init'], systemd: false }), false);
  assert.equal(stopSignalOf({ name: 'a', rootfs: '/r', command: ['init'] }), 37);
  const c = generateSpec(inputs({ command: ['/usr/lib/systemd/systemd'] }));
  assert.deepEqual(c.mounts!.filter((m) => m.type === 'tmpfs' && m.source === 'tmpfs' && m.destination !== '/dev').map((m) => m.destination), ['/run', '/tmp', '/run/lock', '/var/log/journal']);
});

test('sizes and bad mounts are refused naming the option', () => {
  assert.equal(parseSize('shmSize', '1g'), 1024 ** 3);
  assert.equal(parseSize('shmSize', 4096), 4096);
  for (const bad of ['0', '-1m', '1t', 'm']) assert.throws(() => parseSize('shmSize', bad), { code: 'INVALID_ARGUMENT', field: 'shmSize' });
  const mounts = (destination: string) => generateSpec(inputs({ mounts: [{ source: '/s', destination }] }));
  for (const d of ['/proc', '/proc/sys/kernel', 'rel', '/', '/x/../y']) assert.throws(() => mounts(d), { code: 'INVALID_ARGUMENT', field: 'mounts[0].destination' }, d);
  assert.throws(() => generateSpec(inputs({ mounts: [{ source: '/s', destination: '/m' }, { source: '/t', destination: '/m/' }] })), { field: 'mounts[1].destination' });
});

test('resolv.conf drops loopback nameservers in the container\'s own network namespace; overrides replace', () => {
  const host = '# comment\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\nsearch corp\noptions edns0\n';
  assert.equal(resolvConf(host), 'search corp\nnameserver 10.0.0.2\noptions edns0\n');
  assert.equal(resolvConf('nameserver 127.0.0.53\n'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(resolvConf('nameserver 127.0.0.53\n', {}, false), 'nameserver 127.0.0.53\n');
  assert.equal(resolvConf(host, { nameservers: ['1.1.1.1'], search: [] }), 'nameserver 1.1.1.1\noptions edns0\n');
  assert.equal(hostsFile({ address: '10.1.0.2', names: ['web', 'web'] }, [{ address: '10.1.0.3', names: ['db'] }]),
    '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.0.2\tweb\n10.1.0.3\tdb\n');
});
