import assert from 'node:assert/strict';
import { test } from 'node:test';

import { hugePageSizes, statsV1, statsV2 } from '../../../src/effects/cgroups/index.js';

test('hugepage directory names → runc page size names', () => {
  assert.deepEqual(hugePageSizes(['hugepages-2048kB', 'hugepages-1048576kB', 'hugepages-64kB', 'other']), ['2MB', '1GB', '64KB']);
});

test('v1 files → runc events --stats shape', () => {
  const files: Record<string, string> = {
    'cpuacct/cpuacct.usage': '123456789\n',
    'cpuacct/cpuacct.usage_percpu': '100000000 23456789 \n',
    'cpuacct/cpuacct.stat': 'user 7\nsystem 3\n',
    'cpu/cpu.stat': 'nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n',
    'memory/memory.stat': 'cache 4096\nrss 8192\ntotal_cache 4096\n',
    'memory/memory.usage_in_bytes': '12288\n',
    'memory/memory.max_usage_in_bytes': '20480\n',
    'memory/memory.limit_in_bytes': '16777216\n',
    'memory/memory.failcnt': '3\n',
    'memory/memory.memsw.usage_in_bytes': '12288\n',
    'memory/memory.memsw.limit_in_bytes': '9223372036854771712\n',
    'memory/memory.kmem.usage_in_bytes': '1024\n',
    'pids/pids.current': '2\n',
    'pids/pids.max': 'max\n',
    'blkio/blkio.throttle.io_service_bytes_recursive': '8:0 Read 4096\n8:0 Write 512\nTotal 4608\n',
    'blkio/blkio.throttle.io_serviced_recursive': '8:0 Read 1\n8:0 Write 1\nTotal 2\n',
    'hugetlb/hugetlb.2MB.usage_in_bytes': '2097152\n',
    'hugetlb/hugetlb.2MB.max_usage_in_bytes': '4194304\n',
    'hugetlb/hugetlb.2MB.failcnt': '1\n',
  };
  const s = statsV1((c, f) => files[`${c}/${f}`], ['2MB', '1GB']);
  assert.deepEqual(s.cpu, {
    usage: { total: 123456789, percpu: [100000000, 23456789], user: 70000000, kernel: 30000000 },
    throttling: { periods: 10, throttledPeriods: 2, throttledTime: 5000 },
  });
  assert.equal(s.memory.cache, 4096);
  assert.deepEqual(s.memory.usage, { usage: 12288, max: 20480, limit: 16777216, failcnt: 3 });
  assert.deepEqual(s.memory.swap, { usage: 12288, max: 0, limit: 9223372036854771712, failcnt: 0 });
  assert.equal(s.memory.kernel.usage, 1024);
  assert.deepEqual(s.memory.raw, { cache: 4096, rss: 8192, total_cache: 4096 });
  assert.deepEqual(s.pids, { current: 2, limit: 0 });
  assert.deepEqual(s.blkio.ioServiceBytesRecursive, [{ major: 8, minor: 0, op: 'Read', value: 4096 }, { major: 8, minor: 0, op: 'Write', value: 512 }]);
  assert.equal(s.blkio.ioServicedRecursive.length, 2);
  assert.deepEqual(s.hugetlb, { '2MB': { usage: 2097152, max: 4194304, failcnt: 1 } });
});

test('v2 files → runc events --stats shape (swap reported as memory+swap, as runc)', () => {
  const files: Record<string, string> = {
    'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n',
    'memory.stat': 'anon 8192\nfile 4096\n',
    'memory.current': '12288\n',
    'memory.max': '16777216\n',
    'memory.peak': '20480\n',
    'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n',
    'memory.swap.current': '4096\n',
    'memory.swap.max': '8388608\n',
    'pids.current': '3\n',
    'pids.max': '100\n',
    'io.stat': '8:0 rbytes=4096 wbytes=512 rios=1 wios=2 dbytes=0 dios=0\n',
    'hugetlb.2MB.current': '0\n',
    'hugetlb.2MB.max': 'max\n',
    'hugetlb.2MB.events': 'max 2\n',
  };
  const s = statsV2((f) => files[f], ['2MB']);
  assert.deepEqual(s.cpu.usage, { total: 1500000, percpu: [], user: 1000000, kernel: 500000 });
  assert.deepEqual(s.cpu.throttling, { periods: 4, throttledPeriods: 1, throttledTime: 20000 });
  assert.equal(s.memory.cache, 4096);
  assert.deepEqual(s.memory.usage, { usage: 12288, limit: 16777216, max: 20480, failcnt: 5 });
  assert.deepEqual(s.memory.swap, { usage: 16384, limit: 8388608 + 16777216, max: 0, failcnt: 0 });
  assert.deepEqual(s.pids, { current: 3, limit: 100 });
  assert.deepEqual(s.blkio.ioServiceBytesRecursive, [{ major: 8, minor: 0, op: 'Read', value: 4096 }, { major: 8, minor: 0, op: 'Write', value: 512 }]);
  assert.deepEqual(s.blkio.ioServicedRecursive, [{ major: 8, minor: 0, op: 'Read', value: 1 }, { major: 8, minor: 0, op: 'Write', value: 2 }]);
  assert.deepEqual(s.hugetlb['2MB'], { usage: 0, max: 18446744073709551615, failcnt: 2 });
});

test('v2 without controllers (a hybrid host\'s cgroup2): pids counted from cgroup.procs, the rest zero', () => {
  const s = statsV2((f) => ({ 'cpu.stat': 'usage_usec 10\nuser_usec 6\nsystem_usec 4\n', 'cgroup.procs': '12\n34\n' })[f], ['2MB']);
  assert.deepEqual(s.pids, { current: 2, limit: 0 });
  assert.equal(s.cpu.usage.total, 10000);
  assert.equal(s.memory.usage.usage, 0);
  assert.deepEqual(s.hugetlb, {});
});
