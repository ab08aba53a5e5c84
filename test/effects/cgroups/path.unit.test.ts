import assert from 'node:assert/strict';
import { test } from 'node:test';

import { expandSlice, resolveCgroupsPath } from '../../../src/effects/cgroups/index.js';
import { isRuntimeError } from '../../../src/errors.js';

const plain = { systemd: false };

test('cgroupsPath resolution table', () => {
  const table: [string | undefined, { systemd: boolean; parent?: string }, string][] = [
    [undefined, plain, '/berth/web'],
    ['', plain, '/berth/web'],
    [undefined, { systemd: false, parent: '/machine' }, '/machine/berth/web'],
    ['/abs/path', plain, '/abs/path'],
    ['/abs/path', { systemd: false, parent: '/machine' }, '/abs/path'],
    ['/a//b/./c/', plain, '/a/b/c'],
    ['/a/b/../c', plain, '/a/c'],
    ['rel/x', plain, '/rel/x'],
    ['rel/x', { systemd: false, parent: '/machine' }, '/machine/rel/x'],
    ['../x', { systemd: false, parent: '/machine' }, '/x'],
    // without --systemd-cgroup the colon form is just a relative name, as in runc
    ['system.slice:berth:web', plain, '/system.slice:berth:web'],
    ['system.slice:berth:web', { systemd: true }, '/system.slice/berth-web.scope'],
    ['machine-qemu.slice:libpod:abc', { systemd: true }, '/machine.slice/machine-qemu.slice/libpod-abc.scope'],
    [':berth:web', { systemd: true }, '/system.slice/berth-web.scope'],
    ['-.slice:berth:web', { systemd: true }, '/berth-web.scope'],
    ['user.slice:x:my.slice', { systemd: true }, '/user.slice/my.slice'],
    [undefined, { systemd: true }, '/system.slice/berth-web.scope'],
  ];
  for (const [spec, opts, want] of table) {
    assert.equal(resolveCgroupsPath(spec, 'web', opts), want, `${spec} ${JSON.stringify(opts)}`);
  }
});

test('expandSlice follows systemd', () => {
  assert.equal(expandSlice('a-b-c.slice'), '/a.slice/a-b.slice/a-b-c.slice');
  assert.equal(expandSlice('system.slice'), '/system.slice');
  assert.equal(expandSlice('-.slice'), '/');
});

test('paths escaping the hierarchy, the root itself and bad systemd forms are INVALID_CONFIG on linux.cgroupsPath', () => {
  const bad: [string | undefined, { systemd: boolean; parent?: string }][] = [
    ['/../x', plain],
    ['/a/../../x', plain],
    ['../../x', { systemd: false, parent: '/machine' }],
    ['..', plain],
    ['/', plain],
    ['/a/..', plain],
    ['a\0b', plain],
    ['no-colons', { systemd: true }],
    ['a:b:c:d', { systemd: true }],
    ['notaslice:berth:web', { systemd: true }],
    ['a--b.slice:berth:web', { systemd: true }],
    ['system.slice:berth:', { systemd: true }],
    ['system.slice:berth:a/b', { systemd: true }],
  ];
  for (const [spec, opts] of bad) {
    assert.throws(
      () => resolveCgroupsPath(spec, 'web', opts),
      (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.cgroupsPath' && /^invalid config: linux\.cgroupsPath: /.test(e.message),
      JSON.stringify(spec),
    );
  }
});
