import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  blkioWeightToIoWeight, cpuSharesToWeight, memorySwapToV2, planV1, planV2, validateResources, type PlanContext,
} from '../../../src/effects/cgroups/index.js';
import type { OciResources } from '../../../src/machines/spec.js';
import { isRuntimeError } from '../../../src/errors.js';

/** A context where every optional file exists, BFQ is absent and the current memory limit is the kernel's "unlimited". */
const ctx = (over: Partial<{ files: string[]; memoryLimit: number }> = {}): PlanContext => ({
  has: (_c, f) => (over.files ?? ['memory.memsw.limit_in_bytes']).includes(f),
  memoryLimit: () => over.memoryLimit ?? 9223372036854771712,
});

const pairs = (ws: { ctrl: string; file: string; value: string }[]) => ws.map((w) => [w.ctrl === '' ? w.file : `${w.ctrl}/${w.file}`, w.value]);

const FULL: OciResources = {
  memory: { limit: 268435456, reservation: 134217728, swap: 536870912, swappiness: 10, kernel: 1 },
  cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1', mems: '0', realtimeRuntime: 950000, realtimePeriod: 1000000 },
  pids: { limit: 100 },
  blockIO: {
    weight: 500, leafWeight: 300,
    weightDevice: [{ major: 8, minor: 0, weight: 600, leafWeight: 200 }],
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
    throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }],
    throttleReadIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
    throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 200 }],
  },
  hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
  devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rw' }],
};

test('runc conversions', () => {
  assert.deepEqual([0, 2, 1024, 262144].map(cpuSharesToWeight), [0, 1, 39, 10000]);
  assert.deepEqual([0, 10, 500, 1000].map(blkioWeightToIoWeight), [0, 1, 4950, 10000]);
  assert.equal(memorySwapToV2(0, -1), -1);
  assert.equal(memorySwapToV2(-1, 100), -1);
  assert.equal(memorySwapToV2(0, 100), 0);
  assert.equal(memorySwapToV2(300, 100), 200);
  assert.equal(memorySwapToV2(100, 100), 0);
});

test('v1: every resource → runc\'s exact writes, in runc\'s order', () => {
  assert.deepEqual(pairs(planV1(validateResources(FULL, 1), ctx())), [
    ['cpuset/cpuset.cpus', '0-1'],
    ['cpuset/cpuset.mems', '0'],
    ['devices/devices.deny', 'a'],
    ['devices/devices.allow', 'c 1:3 rwm'],
    ['devices/devices.allow', 'c 136:* rw'],
    // memsw stays below the current (unlimited) limit: memory first (fs/memory.go setMemoryAndSwap)
    ['memory/memory.limit_in_bytes', '268435456'],
    ['memory/memory.memsw.limit_in_bytes', '536870912'],
    ['memory/memory.soft_limit_in_bytes', '134217728'],
    ['memory/memory.swappiness', '10'],
    ['cpu/cpu.shares', '1024'],
    ['cpu/cpu.cfs_period_us', '100000'],
    ['cpu/cpu.cfs_quota_us', '50000'],
    ['cpu/cpu.rt_period_us', '1000000'],
    ['cpu/cpu.rt_runtime_us', '950000'],
    ['pids/pids.max', '100'],
    ['blkio/blkio.weight', '500'],
    ['blkio/blkio.leaf_weight', '300'],
    ['blkio/blkio.weight_device', '8:0 600'],
    ['blkio/blkio.leaf_weight_device', '8:0 200'],
    ['blkio/blkio.throttle.read_bps_device', '8:0 1048576'],
    ['blkio/blkio.throttle.write_bps_device', '8:0 2097152'],
    ['blkio/blkio.throttle.read_iops_device', '8:16 100'],
    ['blkio/blkio.throttle.write_iops_device', '8:16 200'],
    ['hugetlb/hugetlb.2MB.limit_in_bytes', '4194304'],
    ['hugetlb/hugetlb.2MB.rsvd.limit_in_bytes', '4194304'],
  ]);
});

test('v1 memory write order follows the current limit; -1 also lifts memsw; BFQ file names when present', () => {
  const r = (memory: Record<string, unknown>) => validateResources({ memory }, 1);
  // swap first when it grows above the current limit
  assert.deepEqual(pairs(planV1(r({ limit: 100 << 20, swap: 200 << 20 }), ctx({ memoryLimit: 50 << 20 }))), [
    ['memory/memory.memsw.limit_in_bytes', String(200 << 20)],
    ['memory/memory.limit_in_bytes', String(100 << 20)],
  ]);
  // shrinking: memory first
  assert.deepEqual(pairs(planV1(r({ limit: 100 << 20, swap: 200 << 20 }), ctx({ memoryLimit: 300 << 20 }))), [
    ['memory/memory.limit_in_bytes', String(100 << 20)],
    ['memory/memory.memsw.limit_in_bytes', String(200 << 20)],
  ]);
  assert.deepEqual(pairs(planV1(r({ limit: -1 }), ctx())), [
    ['memory/memory.memsw.limit_in_bytes', '-1'],
    ['memory/memory.limit_in_bytes', '-1'],
  ]);
  assert.deepEqual(pairs(planV1(r({ limit: -1 }), ctx({ files: [] }))), [['memory/memory.limit_in_bytes', '-1']]);
  assert.deepEqual(pairs(planV1(r({ disableOOMKiller: true }), ctx())), [['memory/memory.oom_control', '1']]);
  const bfq = planV1(validateResources({ blockIO: { weight: 100, weightDevice: [{ major: 8, minor: 0, weight: 10 }] } }, 1), ctx({ files: ['blkio.bfq.weight'] }));
  assert.deepEqual(pairs(bfq), [['blkio/blkio.bfq.weight', '100'], ['blkio/blkio.bfq.weight_device', '8:0 10']]);
  // pids: 0 and negative mean "max", as runc
  assert.deepEqual(pairs(planV1(validateResources({ pids: { limit: 0 } }, 1), ctx())), [['pids/pids.max', 'max']]);
  assert.deepEqual(pairs(planV1(validateResources({ pids: { limit: -3 } }, 1), ctx())), [['pids/pids.max', 'max']]);
});

test('v2: every resource → runc fs2\'s exact writes, in runc\'s order', () => {
  const { devices: _d, ...rest } = FULL;
  const r = { ...rest, cpu: { ...FULL.cpu, realtimeRuntime: 0, realtimePeriod: 0, idle: 1, burst: 1000 }, unified: { 'memory.high': '200000000' } };
  assert.deepEqual(pairs(planV2(validateResources(r, 2), ctx({ files: [] }))), [
    ['pids.max', '100'],
    ['memory.swap.max', '268435456'], // swap - limit
    ['memory.max', '268435456'],
    ['memory.low', '134217728'],
    ['io.weight', '4950'], // no BFQ: ConvertBlkIOToIOWeightValue; device weights dropped, as runc
    ['io.max', '8:0 rbps=1048576'],
    ['io.max', '8:0 wbps=2097152'],
    ['io.max', '8:16 riops=100'],
    ['io.max', '8:16 wiops=200'],
    ['cpu.idle', '1'],
    ['cpu.weight', '39'],
    ['cpu.max.burst', '1000'],
    ['cpu.max', '50000 100000'],
    ['cpuset.cpus', '0-1'],
    ['cpuset.mems', '0'],
    ['hugetlb.2MB.max', '4194304'],
    ['hugetlb.2MB.rsvd.max', '4194304'],
    ['memory.high', '200000000'],
  ]);
});

test('v2 special values: max, swap == limit, quota or period alone, BFQ weights', () => {
  const plan = (r: OciResources, files: string[] = []) => pairs(planV2(validateResources(r, 2), ctx({ files })));
  assert.deepEqual(plan({ memory: { limit: -1 } }), [['memory.swap.max', 'max'], ['memory.max', 'max']]);
  assert.deepEqual(plan({ memory: { limit: 100, swap: 100 } }), [['memory.swap.max', '0'], ['memory.max', '100']]);
  assert.deepEqual(plan({ memory: { limit: 100, swap: -1 } }), [['memory.swap.max', 'max'], ['memory.max', '100']]);
  assert.deepEqual(plan({ cpu: { quota: -1 } }), [['cpu.max', 'max']]);
  assert.deepEqual(plan({ cpu: { quota: 20000 } }), [['cpu.max', '20000']]);
  assert.deepEqual(plan({ cpu: { period: 50000 } }), [['cpu.max', 'max 50000']]);
  assert.deepEqual(plan({ pids: { limit: 0 } }), [['pids.max', 'max']]);
  assert.deepEqual(plan({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 300 }] } }, ['io.bfq.weight']), [
    ['io.bfq.weight', '500'], ['io.bfq.weight', '8:0 300'],
  ]);
  // swap.max is optional only for "max" and "0" (no swap accounting then means the same)
  const w = planV2(validateResources({ memory: { limit: 100, swap: 300 } }, 2), ctx({ files: [] }));
  assert.equal(w[0]!.optional, undefined);
  assert.equal(planV2(validateResources({ memory: { limit: 100, swap: 100 } }, 2), ctx({ files: [] }))[0]!.optional, true);
});

test('bad resources are INVALID_CONFIG naming the field, before any write', () => {
  const cases: [OciResources, 1 | 2, string][] = [
    [{ memory: { limit: -5 } }, 1, 'linux.resources.memory.limit'],
    [{ memory: { limit: 1.5 } }, 1, 'linux.resources.memory.limit'],
    [{ memory: { limit: '1G' } }, 2, 'linux.resources.memory.limit'],
    [{ memory: { limit: 100, swap: 50 } }, 1, 'linux.resources.memory.swap'],
    [{ memory: { limit: 100, reservation: 200 } }, 2, 'linux.resources.memory.reservation'],
    [{ memory: { swap: 200 } }, 2, 'linux.resources.memory.swap'],
    [{ memory: { swappiness: 101 } }, 1, 'linux.resources.memory.swappiness'],
    [{ memory: { disableOOMKiller: true } }, 2, 'linux.resources.memory.disableOOMKiller'],
    [{ cpu: { shares: -1 } }, 1, 'linux.resources.cpu.shares'],
    [{ cpu: { shares: 1 } }, 2, 'linux.resources.cpu.shares'],
    [{ cpu: { shares: 300000 } }, 1, 'linux.resources.cpu.shares'],
    [{ cpu: { quota: -2 } }, 1, 'linux.resources.cpu.quota'],
    [{ cpu: { cpus: '0;1' } }, 1, 'linux.resources.cpu.cpus'],
    [{ cpu: { realtimeRuntime: 1000 } }, 2, 'linux.resources.cpu.realtimeRuntime'],
    [{ blockIO: { weight: 5 } }, 1, 'linux.resources.blockIO.weight'],
    [{ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -1 }] } }, 2, 'linux.resources.blockIO.throttleReadBpsDevice[0].rate'],
    [{ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, 1, 'linux.resources.hugepageLimits[0].pageSize'],
    [{ devices: [{ allow: true, type: 'x' }] }, 1, 'linux.resources.devices[0].type'],
    [{ devices: [{ allow: true, access: 'rwx' }] }, 1, 'linux.resources.devices[0].access'],
    [{ unified: { 'memory.max': '1' } }, 1, 'linux.resources.unified'],
    [{ unified: { '../memory.max': '1' } }, 2, 'linux.resources.unified.../memory.max'],
    [{ unified: { 'a/b': '1' } }, 2, 'linux.resources.unified.a/b'],
    [{ unified: { nodot: '1' } }, 2, 'linux.resources.unified.nodot'],
    [{ rdma: { mlx5_0: { hcaHandles: 1 } } }, 2, 'linux.resources.rdma'],
  ];
  for (const [r, version, field] of cases) {
    assert.throws(() => validateResources(r, version), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === field && e.message.startsWith(`invalid config: ${field}`), `${JSON.stringify(r)} v${version}`);
  }
});

test('absent and empty resources plan nothing; swappiness and kernel memory are ignored on v2, as runc', () => {
  assert.deepEqual(planV1(validateResources(undefined, 1), ctx()), []);
  assert.deepEqual(planV2(validateResources({}, 2), ctx()), []);
  assert.deepEqual(planV2(validateResources({ memory: { swappiness: 60, kernel: 1 }, network: {} }, 2), ctx()), []);
});
