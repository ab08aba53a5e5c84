import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { OciConfig } from '../../src/machines/spec.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { MAPPED_ROOT, containerCgroups, mappedRootfs, statusIds, withUserns } from '../helpers/userns.js';
import { collect } from '../helpers/streams.js';

/**
 * User namespaces: maps written from the host before the init runs, the container's root is
 * an unprivileged host uid, the default spec's mounts and /dev work inside, and every bad
 * mapping is refused with a coded error naming the field, leaving nothing behind.
 */
const f = runtimeFixture();
let rootfs: { path: string; cleanup(): void };
before(() => { rootfs = mappedRootfs(); });
after(() => rootfs.cleanup());

/** A bundle in a user namespace, on the rootfs owned by the mapped root. */
function usernsBundle(args: string[], edit: (c: OciConfig) => void = () => undefined) {
  return f.bundle(args, (c) => {
    c.root = { path: rootfs.path, readonly: true };
    withUserns(c);
    edit(c);
  });
}

/** Resolve once the stream has shown text matching `re`, with everything seen so far. */
function until(stream: NodeJS.ReadableStream | null, re: RegExp): Promise<string> {
  return new Promise((resolve) => {
    let seen = '';
    const on = (d: string | Buffer) => {
      seen += String(d);
      if (re.test(seen)) {
        stream?.off('data', on);
        resolve(seen);
      }
    };
    stream?.on('data', on);
  });
}

/** create, start, wait, delete: what it printed and how it exited. */
async function run(id: string, dir: string): Promise<{ out: string; exit: unknown }> {
  const c = await f.rt.create(id, { bundle: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(c.stdio.stdout);
  const err = collect(c.stdio.stderr);
  await c.start();
  const exit = await c.wait();
  await c.delete();
  return { out: (await out) + (await err), exit };
}

test('userns: the maps are in place, id is 0 inside while the host sees the mapped uid, tmpfs files belong to the mapped root', async () => {
  const before = snapshot();
  const b = usernsBundle(['sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map; touch /dev/shm/made-inside; ls -ln /dev/shm; echo ready; exec sleep 1000']);
  const c = await f.rt.create('userns-basic', { bundle: b.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const err = collect(c.stdio.stderr);
  const pid = (await c.state()).pid;
  await c.start();
  const text = await until(c.stdio.stdout, /ready/);
  assert.match(text, /^uid=0\(root\) gid=0\(root\)/m);
  assert.match(text, new RegExp(`^\\s+0\\s+${MAPPED_ROOT}\\s+65536\\n\\s+0\\s+${MAPPED_ROOT}\\s+65536$`, 'm'), 'uid_map and gid_map show the mapping');
  assert.match(text, /^-rw-r--r--\s+1 0\s+0\s+0 .* made-inside$/m, 'inside, the file is root\'s');
  assert.deepEqual(statusIds(pid, 'Uid'), [MAPPED_ROOT, MAPPED_ROOT, MAPPED_ROOT, MAPPED_ROOT], 'the host sees the mapped uid');
  assert.deepEqual(statusIds(pid, 'Gid'), [MAPPED_ROOT, MAPPED_ROOT, MAPPED_ROOT, MAPPED_ROOT]);
  const made = statSync(`/proc/${pid}/root/dev/shm/made-inside`);
  assert.deepEqual([made.uid, made.gid], [MAPPED_ROOT, MAPPED_ROOT], 'on the host, the tmpfs file belongs to the mapped root');
  assert.ok(containerCgroups(f.root, 'userns-basic').length > 0, 'it has its cgroups (the leak checks look for them)');
  await c.kill('KILL');
  await c.wait();
  await c.delete();
  assert.equal(await err, '');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('userns: a non-root process user is mapped too, with its groups', async () => {
  const before = snapshot();
  const b = usernsBundle(['sh', '-c', 'id; grep -E "^(Uid|Gid|Groups):" /proc/self/status'], (c) => {
    c.process.user = { uid: 1000, gid: 1000, additionalGids: [5] };
  });
  const { out, exit } = await run('userns-user', b.dir);
  assert.deepEqual(exit, { code: 0, signal: null }, out);
  assert.match(out, /^uid=1000 gid=1000 groups=5$/m);
  assert.match(out, /^Uid:\t1000\t1000\t1000\t1000$/m);
  assert.match(out, /^Groups:\t5 $/m);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('userns: the default mounts work (proc, sysfs with its own netns, devpts, mqueue, cgroup) and /dev nodes are the host\'s', async () => {
  const before = snapshot();
  const b = usernsBundle(['sh', '-c', [
    'awk \'{ print $2, $3 }\' /proc/self/mounts',
    'ls -ln /dev/null /dev/zero',
    'echo hi > /dev/null && head -c 3 /dev/zero | wc -c',
  ].join('; ')]);
  const { out, exit } = await run('userns-mounts', b.dir);
  assert.deepEqual(exit, { code: 0, signal: null }, out);
  for (const line of ['/proc proc', '/sys sysfs', '/dev/pts devpts', '/dev/mqueue mqueue', '/sys/fs/cgroup/memory cgroup', '/sys/fs/cgroup tmpfs']) {
    assert.match(out, new RegExp(`^${line}$`, 'm'));
  }
  // mknod is EPERM in a user namespace: the host's node is bound, its owner (host root) unmapped
  assert.match(out, /^crw-rw-rw-\s+1 65534\s+65534\s+1,\s+3 .* \/dev\/null$/m);
  assert.match(out, /^3$/m, 'the bound /dev/zero works');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('userns: without a network namespace, /sys is the host\'s bound read-only (sysfs is refused there)', async () => {
  const before = snapshot();
  const b = usernsBundle(['sh', '-c', 'grep " /sys sysfs " /proc/self/mounts; ls /sys/class/net | tr "\\n" " "; echo; touch /sys/x 2>&1'], (c) => {
    c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'network');
  });
  const { out, exit } = await run('userns-nonet', b.dir);
  assert.equal((exit as { code: number }).code, 1, out);
  assert.match(out, /^sysfs \/sys sysfs ro,nosuid,nodev,noexec,relatime 0 0$/m);
  assert.match(out, new RegExp(`^${readdirSync('/sys/class/net').sort().join(' ')} $`, 'm'), 'the host\'s network devices: the host\'s /sys');
  assert.match(out, /Read-only file system/);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('userns: a spec device is the host\'s node bound in, as runc does (mknod is not allowed)', async () => {
  const before = snapshot();
  const host = statSync('/dev/kmsg');
  const b = usernsBundle(['ls', '-ln', '/dev/kmsg', '/dev/myfifo'], (c) => {
    c.linux!.devices = [
      { type: 'c', path: '/dev/kmsg', major: 1, minor: 11, fileMode: 0o600, uid: 7, gid: 7 },
      { type: 'p', path: '/dev/myfifo', fileMode: 0o640, uid: 1000, gid: 1001 },
    ];
  });
  const { out, exit } = await run('userns-dev', b.dir);
  assert.deepEqual(exit, { code: 0, signal: null }, out);
  // the bound node keeps the host's mode and owner (host root, seen as the overflow id 65534):
  // uid, gid and fileMode cannot be applied to a node the container does not own
  assert.equal(host.uid, 0);
  assert.match(out, new RegExp(`^${lsMode(host.mode)}\\s+1 65534\\s+65534\\s+1,\\s+11 .* /dev/kmsg$`, 'm'));
  // a FIFO needs no privilege: made there, with the given mode and owner (ids of the namespace)
  assert.match(out, /^prw-r-----\s+1 1000\s+1001\s+0 .* \/dev\/myfifo$/m);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/** `ls -l`'s mode column of a character device. */
function lsMode(mode: number): string {
  const bits = 'rwxrwxrwx';
  return 'c' + [...bits].map((ch, i) => ((mode >> (8 - i)) & 1 ? ch : '-')).join('');
}

interface Expect { code: string; field?: string; message: RegExp }

/** create fails with `expect`, logs the attempt, and leaves no process (user namespace holders included), cgroup or mount. */
async function createFails(id: string, dir: string, expect: Expect): Promise<void> {
  const before = snapshot();
  const err = await f.rt.create(id, { bundle: dir, stdio: 'ignore' }).then(() => null, (e: unknown) => e as { code: string; field?: string; message: string });
  assert.ok(err, `create ${id} should have failed`);
  assert.equal(err.code, expect.code, err.message);
  assert.equal(err.field, expect.field, err.message);
  assert.match(err.message, expect.message);
  await assertNoLeaks(before, f.root, { openRuntime: true });
  assert.deepEqual(containerCgroups(f.root, id), [], 'no cgroup left');
  await assert.rejects(f.rt.state(id), { code: 'NOT_EXISTS' });
  const history = await f.rt.history(id);
  assert.deepEqual(history.slice(-2).map((e) => e.type), ['CreateRequested', 'CreateFailed']);
}

const map = (containerID: number, hostID: number, size: number) => ({ containerID, hostID, size });

const BAD_MAPPINGS: [string, (c: OciConfig) => void, string, RegExp][] = [
  ['overlapping container ids', (c) => { c.linux!.uidMappings = [map(0, 100000, 1000), map(500, 300000, 10)]; }, 'linux.uidMappings[1]', /container ids overlap linux\.uidMappings\[0\]/],
  ['overlapping host ids', (c) => { c.linux!.gidMappings = [map(0, 100000, 1000), map(5000, 100500, 10)]; }, 'linux.gidMappings[1]', /host ids overlap linux\.gidMappings\[0\]/],
  ['more than 340 lines', (c) => { c.linux!.uidMappings = Array.from({ length: 341 }, (_, i) => map(i, 100000 + i, 1)); }, 'linux.uidMappings', /341 mappings, the kernel takes at most 340/],
  ['size 0', (c) => { c.linux!.uidMappings = [map(0, 100000, 0)]; }, 'linux.uidMappings[0].size', /an integer from 1/],
  ['ids beyond 2^32-1', (c) => { c.linux!.uidMappings = [map(0, 100000, 65536), map(4294967000, 200000, 1000)]; }, 'linux.uidMappings[1]', /goes beyond id 4294967294/],
  ['a user namespace without mappings', (c) => { delete c.linux!.uidMappings; }, 'linux.uidMappings', /a user namespace needs uid mappings/],
  ['mappings without a user namespace', (c) => { c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'user'); }, 'linux.uidMappings', /need a user namespace/],
  ['container root unmapped', (c) => { c.linux!.uidMappings = [map(1, 100001, 100)]; c.process.user.uid = 1; }, 'linux.uidMappings', /container uid 0 must be mapped/],
  ['the process uid unmapped', (c) => { c.process.user.uid = 70000; }, 'process.user.uid', /70000 is not mapped in linux\.uidMappings/],
  ['devpts gid= unmapped', (c) => { c.linux!.gidMappings = [map(0, 100000, 1)]; }, 'mounts[2].options[5]', /5 is not mapped in linux\.gidMappings/],
  ['a FIFO device owned by an unmapped uid', (c) => { c.linux!.devices = [{ type: 'p', path: '/dev/f', uid: 70000 }]; }, 'linux.devices[0].uid', /70000 is not mapped/],
  ['a device the host has no node for', (c) => { c.linux!.devices = [{ type: 'c', path: '/dev/berth-no-such-node', major: 10, minor: 229 }]; }, 'linux.devices[0]', /bound from the host, which has no \/dev\/berth-no-such-node/],
  ['a device whose host node is another one', (c) => { c.linux!.devices = [{ type: 'b', path: '/dev/null', major: 1, minor: 3 }]; }, 'linux.devices[0]', /the host's \/dev\/null is not b 1:3/],
];

for (const [what, edit, field, message] of BAD_MAPPINGS) {
  test(`userns refused: ${what} (${field})`, async () => {
    const b = usernsBundle(['true'], edit);
    await createFails(`bad-map-${BAD_MAPPINGS.findIndex((r) => r[0] === what)}`, b.dir, { code: 'INVALID_CONFIG', field, message });
  });
}

test('userns: a mount the kernel refuses inside the user namespace kills the waiting init and undoes everything', async () => {
  const b = usernsBundle(['true'], (c) => { c.mounts!.push({ destination: '/mnt', type: 'nosuchfs', source: 'none' }); });
  await createFails('userns-badmount', b.dir, { code: 'SYSCALL', message: /mount .*\/mnt.*ENODEV/ });
});

test('userns: the mapping reaches the kernel as given (two ranges)', async () => {
  const before = snapshot();
  const b = usernsBundle(['cat', '/proc/self/uid_map'], (c) => {
    c.linux!.uidMappings = [map(0, MAPPED_ROOT, 1000), map(1000, 300000, 64536)];
  });
  const { out, exit } = await run('userns-two', b.dir);
  assert.deepEqual(exit, { code: 0, signal: null }, out);
  assert.match(out, new RegExp(`^\\s+0\\s+${MAPPED_ROOT}\\s+1000\\n\\s+1000\\s+300000\\s+64536$`, 'm'));
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
