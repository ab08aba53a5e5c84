import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readInRoot } from '../../src/effects/inRoot.js';
import { resolveUser } from '../../src/manager/users.js';

/** Users and groups resolved in a rootfs on disk, whose symlinks must never lead outside it. */
const dir = mkdtempSync(join(tmpdir(), 'berth-users-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function rootfs(name: string, passwd: string, group: string): string {
  const r = join(dir, name);
  mkdirSync(join(r, 'etc'), { recursive: true });
  writeFileSync(join(r, 'etc/passwd'), passwd);
  writeFileSync(join(r, 'etc/group'), group);
  return r;
}

const r = rootfs('plain', 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'root:x:0:\napp:x:1000:\nwheel:x:10:app,x\naudio:x:29:app\n');

test('names, numbers and groups: the user\'s supplementary groups plus the extra ones', () => {
  assert.deepEqual(resolveUser(r, 'app'), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/app' });
  assert.deepEqual(resolveUser(r, 'app:wheel', ['audio', '5']), { uid: 1000, gid: 10, additionalGids: [29, 5], home: '/home/app' });
  assert.deepEqual(resolveUser(r, '4242'), { uid: 4242, gid: 0, additionalGids: [], home: null });
  assert.deepEqual(resolveUser(r, '1000:29'), { uid: 1000, gid: 29, additionalGids: [10], home: '/home/app' });
  assert.deepEqual(resolveUser(r), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  for (const [u, g] of [['nobody', []], ['app:nogroup', []], ['app', ['nogroup']], ['a:b:c', []], ['', []], ['4294967295', []]] as const) {
    assert.throws(() => resolveUser(r, u, [...g]), { code: 'INVALID_ARGUMENT' }, u);
  }
});

test('symlinks are resolved inside the rootfs: an absolute link, a link climbing with .., a loop', () => {
  const host = join(dir, 'host-secret');
  writeFileSync(host, 'secret');
  const evil = rootfs('evil', '', '');
  mkdirSync(join(evil, 'inner'));
  writeFileSync(join(evil, 'inner/file'), 'inside');
  symlinkSync(host, join(evil, 'abs'));
  symlinkSync(`../../../../../..${host}`, join(evil, 'climb'));
  symlinkSync('/inner', join(evil, 'dirlink'));
  symlinkSync('loop', join(evil, 'loop'));
  assert.equal(readInRoot(evil, '/abs'), null, 'an absolute link is read in the rootfs');
  assert.equal(readInRoot(evil, '/climb'), null, '.. stops at the rootfs');
  assert.equal(readInRoot(evil, '/../../inner/file'), 'inside');
  assert.equal(readInRoot(evil, '/dirlink/file'), 'inside');
  assert.equal(readInRoot(evil, '/inner'), null, 'a directory is not a file');
  assert.throws(() => readInRoot(evil, '/loop'), { code: 'ELOOP' });
  rmSync(join(evil, 'etc/passwd'));
  symlinkSync('/loop', join(evil, 'etc/passwd'));
  assert.throws(() => resolveUser(evil, 'root'), { code: 'INVALID_ARGUMENT', field: 'user' });
});
