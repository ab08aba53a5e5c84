import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { delegateCgroup, delegatedFiles } from '../../src/effects/cgroupOwner.js';

/**
 * Cgroup delegation (runtime-spec "Cgroup ownership") on a directory tree shaped like a cgroup2
 * directory: this host's cgroup2 is controller-less and the rule never applies to a hybrid
 * host, so the chown is checked on a mirror; the kernel's list is read from this host.
 */
const skip = process.getuid?.() !== 0 ? 'requires root (chown)' : undefined;

test('the cgroup directory and the listed files that exist are chowned, the group kept, nothing else touched', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-delegate-'));
  try {
    const cg = join(dir, 'ctr');
    mkdirSync(cg);
    for (const f of ['cgroup.procs', 'cgroup.threads', 'memory.max', 'cgroup.subtree_control']) writeFileSync(join(cg, f), '');
    delegateCgroup(cg, 101000, ['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control', 'memory.reclaim']);
    const owner = (f: string) => { const s = statSync(join(cg, f)); return [s.uid, s.gid]; };
    assert.deepEqual(owner('.'), [101000, 0]);
    assert.deepEqual(owner('cgroup.procs'), [101000, 0]);
    assert.deepEqual(owner('cgroup.threads'), [101000, 0]);
    assert.deepEqual(owner('cgroup.subtree_control'), [101000, 0]);
    assert.deepEqual(owner('memory.max'), [0, 0], 'a resource file is never handed over');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the delegatable files are the kernel\'s list, or cgroups(7)\'s three without it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-delegate-'));
  try {
    writeFileSync(join(dir, 'delegate'), 'cgroup.procs\ncgroup.threads\n../escape\nmemory.oom.group\n');
    assert.deepEqual(delegatedFiles(join(dir, 'delegate')), ['cgroup.procs', 'cgroup.threads', 'memory.oom.group']);
    assert.deepEqual(delegatedFiles(join(dir, 'missing')), ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']);
    assert.ok(delegatedFiles().includes('cgroup.procs'), 'this kernel\'s /sys/kernel/cgroup/delegate');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
