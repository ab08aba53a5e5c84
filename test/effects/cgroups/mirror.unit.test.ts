/**
 * The backends against plain directory trees that mirror cgroupfs (`fsRoot`): the controller
 * files this project's hybrid host lacks on its cgroup2 (memory.max, cpu.max, io.max ...) hold
 * exactly what runc writes for the same spec. Also: which backend each layout gets.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';

import { cgroupManager } from '../../../src/effects/cgroups/index.js';
import type { CgroupLayout } from '../../../src/effects/cgroupLayout.js';
import { isRuntimeError } from '../../../src/errors.js';

const V2: CgroupLayout = { kind: 'v2', v1: {}, unified: '/sys/fs/cgroup' };
const V1: CgroupLayout = { kind: 'v1', v1: { cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids', freezer: '/sys/fs/cgroup/freezer', cpuset: '/sys/fs/cgroup/cpuset' }, unified: null };
const HYBRID: CgroupLayout = { kind: 'hybrid', v1: { cpu: '/sys/fs/cgroup/cpu', memory: '/sys/fs/cgroup/memory' }, unified: '/sys/fs/cgroup/unified' };

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-cgmirror-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const V2_LEAF = [
  'cgroup.procs', 'cgroup.freeze', 'cgroup.kill', 'memory.max', 'memory.swap.max', 'memory.low', 'memory.high', 'memory.events',
  'pids.max', 'cpu.max', 'cpu.weight', 'cpu.idle', 'cpu.max.burst', 'io.max', 'io.weight', 'cpuset.cpus', 'cpuset.mems',
  'hugetlb.2MB.max', 'hugetlb.2MB.rsvd.max',
];

function v2Tree(leaf = '/berth/web', extra: Record<string, string> = {}): string {
  const files: Record<string, string> = {
    'sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids\n',
    'sys/fs/cgroup/cgroup.subtree_control': '',
    'sys/fs/cgroup/berth/cgroup.controllers': 'cpuset cpu io memory hugetlb pids\n',
    'sys/fs/cgroup/berth/cgroup.subtree_control': '',
    ...extra,
  };
  for (const f of V2_LEAF) files[`sys/fs/cgroup${leaf}/${f}`] = '';
  files[`sys/fs/cgroup${leaf}/cgroup.events`] = 'populated 0\nfrozen 0\n';
  return tree(files);
}

test('each layout gets its backend: v1 and hybrid → v1 (hybrid adds its cgroup2 dir), v2 → v2', () => {
  const v2 = cgroupManager(V2, '/berth/web');
  assert.equal(v2.version, 2);
  assert.deepEqual(v2.paths, ['/sys/fs/cgroup/berth/web']);
  const v1 = cgroupManager(V1, '/berth/web');
  assert.equal(v1.version, 1);
  assert.deepEqual(v1.paths, ['cpu,cpuacct', 'memory', 'pids', 'freezer', 'cpuset'].map((c) => `/sys/fs/cgroup/${c}/berth/web`));
  assert.equal(v1.openForSpawn(), null);
  const hy = cgroupManager(HYBRID, '/berth/web', { fsRoot: '/x' });
  assert.equal(hy.version, 1);
  assert.deepEqual(hy.paths, ['/x/sys/fs/cgroup/cpu/berth/web', '/x/sys/fs/cgroup/memory/berth/web', '/x/sys/fs/cgroup/unified/berth/web']);
});

test('v2 writer on a mirror tree: the exact values runc writes, controllers enabled on the way down', () => {
  const root = v2Tree();
  const m = cgroupManager(V2, '/berth/web', { fsRoot: root, hugepagesDir: join(root, 'none') });
  m.create({
    memory: { limit: 1073741824, swap: 2147483648, reservation: 536870912, swappiness: 30 },
    cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1', mems: '0', idle: 0, burst: 0 },
    pids: { limit: 100 },
    blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
    hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
    unified: { 'memory.high': '900000000' },
  });
  const dir = join(root, 'sys/fs/cgroup/berth/web');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  assert.deepEqual(Object.fromEntries(V2_LEAF.filter((f) => !f.startsWith('cgroup.') && f !== 'memory.events').map((f) => [f, read(f)])), {
    'memory.max': '1073741824',
    'memory.swap.max': '1073741824',
    'memory.low': '536870912',
    'memory.high': '900000000',
    'pids.max': '100',
    'cpu.max': '50000 100000',
    'cpu.weight': '39',
    'cpu.idle': '0',
    'cpu.max.burst': '0',
    'io.max': '8:0 rbps=1048576',
    'io.weight': '4950',
    'cpuset.cpus': '0-1',
    'cpuset.mems': '0',
    'hugetlb.2MB.max': '0',
    'hugetlb.2MB.rsvd.max': '0',
  });
  const enabled = '+cpuset +cpu +io +memory +hugetlb +pids';
  assert.equal(readFileSync(join(root, 'sys/fs/cgroup/cgroup.subtree_control'), 'utf8'), enabled);
  assert.equal(readFileSync(join(root, 'sys/fs/cgroup/berth/cgroup.subtree_control'), 'utf8'), enabled);
  // update
  m.apply({ memory: { limit: -1 }, pids: { limit: 0 }, cpu: { quota: -1 } });
  assert.deepEqual(['memory.max', 'memory.swap.max', 'pids.max', 'cpu.max'].map(read), ['max', 'max', 'max', 'max']);
  assert.equal(m.oomKills(), 0);
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n');
  assert.equal(m.oomKills(), 2);
});

test('v2: a unified key or controller file the cgroup lacks is INVALID_CONFIG before anything is written', () => {
  const root = v2Tree();
  const m = cgroupManager(V2, '/berth/web', { fsRoot: root });
  const dir = join(root, 'sys/fs/cgroup/berth/web');
  assert.throws(
    () => m.apply({ memory: { limit: 1048576 }, unified: { 'memory.oom.group': '1' } }),
    (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.unified.memory.oom.group' && e.message.includes('memory.oom.group does not exist'),
  );
  assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), '');
  assert.throws(() => m.apply({ cpu: { realtimeRuntime: 5 } }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.cpu.realtimeRuntime');
});

test('v2 create: makes the missing levels, refuses a cgroup holding processes, removes what it made on failure', () => {
  const root = v2Tree('/other/x');
  const m = cgroupManager(V2, '/berth/new/leaf', { fsRoot: root });
  assert.throws(() => m.create({ pids: { limit: 5 } }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.pids.limit');
  assert.equal(existsSync(join(root, 'sys/fs/cgroup/berth/new')), false);
  assert.equal(existsSync(join(root, 'sys/fs/cgroup/berth')), true); // it was there before
  m.create(undefined);
  assert.equal(m.exists(), true);
  writeFileSync(join(root, 'sys/fs/cgroup/other/x/cgroup.procs'), '4242\n');
  const busy = cgroupManager(V2, '/other/x', { fsRoot: root });
  assert.throws(() => busy.create(undefined), (e) => isRuntimeError(e, 'ILLEGAL_STATE') && e.message.includes('/other/x already exists and holds processes'));
  assert.deepEqual(busy.pids(), [4242]);
});

test('v1 writer on a mirror tree: memory, cpu, pids, cpuset copied down from the parents', () => {
  const files: Record<string, string> = {
    'sys/fs/cgroup/cpuset/cpuset.cpus': '0-3\n', 'sys/fs/cgroup/cpuset/cpuset.mems': '0\n',
    'sys/fs/cgroup/cpuset/berth/cpuset.cpus': '', 'sys/fs/cgroup/cpuset/berth/cpuset.mems': '',
  };
  const leaf: Record<string, string[]> = {
    'cpu,cpuacct': ['cpu.shares', 'cpu.cfs_quota_us', 'cpu.cfs_period_us'],
    memory: ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.swappiness', 'memory.oom_control'],
    pids: ['pids.max'],
    freezer: ['freezer.state'],
    cpuset: ['cpuset.cpus', 'cpuset.mems'],
  };
  for (const [c, fs] of Object.entries(leaf)) for (const f of ['cgroup.procs', ...fs]) files[`sys/fs/cgroup/${c}/berth/web/${f}`] = '';
  files['sys/fs/cgroup/memory/berth/web/memory.limit_in_bytes'] = '9223372036854771712\n';
  const root = tree(files);
  const m = cgroupManager(V1, '/berth/web', { fsRoot: root });
  m.create({ memory: { limit: 16777216, swap: 16777216, reservation: 8388608, swappiness: 0, disableOOMKiller: true }, cpu: { shares: 512, quota: 20000, period: 100000 }, pids: { limit: 10 } });
  const read = (c: string, f: string) => readFileSync(join(root, 'sys/fs/cgroup', c, 'berth/web', f), 'utf8');
  assert.equal(read('memory', 'memory.limit_in_bytes'), '16777216');
  assert.equal(read('memory', 'memory.memsw.limit_in_bytes'), '16777216');
  assert.equal(read('memory', 'memory.soft_limit_in_bytes'), '8388608');
  assert.equal(read('memory', 'memory.swappiness'), '0');
  assert.equal(read('memory', 'memory.oom_control'), '1');
  assert.equal(read('cpu,cpuacct', 'cpu.shares'), '512');
  assert.equal(read('cpu,cpuacct', 'cpu.cfs_quota_us'), '20000');
  assert.equal(read('cpu,cpuacct', 'cpu.cfs_period_us'), '100000');
  assert.equal(read('pids', 'pids.max'), '10');
  assert.equal(read('cpuset', 'cpuset.cpus'), '0-3');
  assert.equal(read('cpuset', 'cpuset.mems'), '0');
  assert.equal(readFileSync(join(root, 'sys/fs/cgroup/cpuset/berth/cpuset.cpus'), 'utf8'), '0-3');
  // hugetlb is not mounted in this layout: refused naming the field, nothing written
  assert.throws(() => m.apply({ pids: { limit: 20 }, hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.hugepageLimits[0]');
  assert.equal(read('pids', 'pids.max'), '10');
  assert.throws(() => m.apply({ unified: { 'memory.high': '1' } }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.unified');
});
