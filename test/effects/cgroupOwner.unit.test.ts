import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CgroupLayout } from '../../src/effects/cgroupLayout.js';
import { cgroupOwner } from '../../src/effects/cgroupOwner.js';
import { defaultConfig, validateConfig } from '../../src/machines/spec.js';

type Json = Record<string, any>;
const V2: CgroupLayout = { kind: 'v2', v1: {}, unified: '/sys/fs/cgroup' };
const HYBRID: CgroupLayout = { kind: 'hybrid', v1: { memory: '/sys/fs/cgroup/memory' }, unified: '/sys/fs/cgroup/unified' };

/**
 * The runtime-spec's conditions, all needed: cgroup v2, a new cgroup namespace, a writable
 * `cgroup` mount at /sys/fs/cgroup, and (runc) a user namespace mapping the process's uid.
 */
function delegating(edit: (c: Json) => void = () => {}) {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  c.linux.namespaces.push({ type: 'user' }, { type: 'cgroup' });
  c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  c.mounts[6].options = ['nosuid', 'noexec', 'nodev', 'relatime', 'rw'];
  c.process.user = { uid: 1000, gid: 1000 };
  edit(c);
  return validateConfig(c);
}

test('cgroup ownership goes to the host uid of process.user.uid when every condition holds', () => {
  assert.equal(cgroupOwner(delegating(), V2), 101000);
  assert.equal(cgroupOwner(delegating((c) => (c.mounts[6].destination = '/sys/fs/cgroup/')), V2), 101000);
});

test('cgroup ownership stays root\'s when one condition is missing', () => {
  assert.equal(cgroupOwner(delegating(), HYBRID), null, 'cgroup v1 is in use');
  assert.equal(cgroupOwner(delegating((c) => c.mounts[6].options.push('ro')), V2), null, 'the cgroup mount is read-only');
  assert.equal(cgroupOwner(delegating((c) => (c.mounts[6].source = 'cgroup2')), V2), null, 'the mount\'s source is not "cgroup"');
  assert.equal(cgroupOwner(delegating((c) => c.mounts.splice(6, 1)), V2), null, 'no cgroup mount');
  assert.equal(cgroupOwner(delegating((c) => (c.linux.namespaces = c.linux.namespaces.filter((n: Json) => n.type !== 'cgroup'))), V2), null, 'no cgroup namespace');
  const noUserns = delegating((c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n: Json) => n.type !== 'user');
    delete c.linux.uidMappings;
    delete c.linux.gidMappings;
  });
  assert.equal(cgroupOwner(noUserns, V2), null, 'no user namespace (runc: the uid does not map through uidMappings)');
});
