import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { shownResources } from '../../../src/effects/cgroups/readback.js';
import type { CgroupLayout } from '../../../src/effects/cgroupLayout.js';

/**
 * Reading an interrupted update back from cgroup files (a directory tree mirroring cgroupfs):
 * a group counts as in force only when every file it writes shows the value, as the kernel
 * spells it (memory in whole pages, v1's "unlimited", v2's "max").
 */

function mirror(files: Record<string, string>): { layout: (kind: 'v1' | 'v2') => CgroupLayout; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-readback-'));
  for (const [path, value] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), value);
  }
  return {
    layout: (kind): CgroupLayout => {
      if (kind === 'v2') return { kind: 'v2', v1: {}, unified: join(dir, 'unified') };
      return { kind: 'v1', v1: { memory: join(dir, 'memory'), pids: join(dir, 'pids'), cpu: join(dir, 'cpu') }, unified: null };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test('v1: memory rounded to pages and pids written count as shown; a cpu quota not yet written does not', () => {
  const m = mirror({
    'memory/c/memory.limit_in_bytes': '67104768\n', // 67108000 as the kernel keeps it: whole pages, rounded down
    'memory/c/memory.soft_limit_in_bytes': '9223372036854771712\n',
    'pids/c/pids.max': '57\n',
    'cpu/c/cpu.cfs_quota_us': '-1\n',
    'cpu/c/cpu.cfs_period_us': '100000\n',
  });
  try {
    const change = { memory: { limit: 67108000 }, pids: { limit: 57 }, cpu: { quota: 50000, period: 100000 } };
    assert.deepEqual(shownResources(m.layout('v1'), '/c', change), { memory: { limit: 67108000 }, pids: { limit: 57 } });
    assert.deepEqual(shownResources(m.layout('v1'), '/c', { memory: { reservation: -1 } }), { memory: { reservation: -1 } }, 'v1 shows -1 as LONG_MAX in pages');
    assert.deepEqual(shownResources(m.layout('v1'), '/c', { pids: { limit: 58 } }), {});
  } finally {
    m.cleanup();
  }
});

test('v2: "max" and the cpu.max pair are read as written; a missing file is not shown', () => {
  const m = mirror({
    'unified/c/memory.max': 'max\n',
    'unified/c/pids.max': 'max\n',
    'unified/c/cpu.max': '50000 100000\n',
  });
  try {
    assert.deepEqual(shownResources(m.layout('v2'), '/c', { memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: 50000, period: 100000 } }),
      { memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: 50000, period: 100000 } });
    assert.deepEqual(shownResources(m.layout('v2'), '/c', { cpu: { quota: 20000, period: 100000 } }), {});
    assert.deepEqual(shownResources(m.layout('v2'), '/other', { pids: { limit: 5 } }), {}, 'nothing to read: not shown');
  } finally {
    m.cleanup();
  }
});
