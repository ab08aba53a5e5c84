import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeMountpoint } from '../../src/effects/inRoot.js';

/** A rootfs and, beside it, a host directory that symlinks in the rootfs name. */
function dirs(t: { after(fn: () => void): void }) {
  const top = mkdtempSync(join(tmpdir(), 'berth-mountpoint-'));
  t.after(() => rmSync(top, { recursive: true, force: true }));
  const rootfs = join(top, 'rootfs');
  const host = join(top, 'host');
  mkdirSync(rootfs);
  mkdirSync(host);
  return { rootfs, host };
}

test('missing mount points are made as directories, or as an empty file for a file bind; existing ones are left', (t) => {
  const { rootfs } = dirs(t);
  makeMountpoint(rootfs, '/etc/hostname', true);
  makeMountpoint(rootfs, '/data/deep/er', false);
  assert.ok(lstatSync(join(rootfs, 'etc/hostname')).isFile());
  assert.equal(lstatSync(join(rootfs, 'etc/hostname')).size, 0);
  assert.ok(lstatSync(join(rootfs, 'data/deep/er')).isDirectory());
  writeFileSync(join(rootfs, 'etc/hosts'), 'kept');
  makeMountpoint(rootfs, '/etc/hosts', true);
  makeMountpoint(rootfs, '/data', false);
  assert.equal(lstatSync(join(rootfs, 'etc/hosts')).size, 4);
  assert.throws(() => makeMountpoint(rootfs, '/etc/hostname/x', false), { code: 'INVALID_CONFIG', field: 'mounts', message: /hostname in the rootfs is not a directory/ });
});

test('symlinks in the rootfs resolve inside it: absolute or with .., nothing is made on the host', (t) => {
  const { rootfs, host } = dirs(t);
  symlinkSync(host, join(rootfs, 'abs'));            // -> the host directory, by absolute path
  symlinkSync('../../host', join(rootfs, 'rel'));    // -> above the rootfs, by ..
  mkdirSync(join(rootfs, 'etc'));
  symlinkSync('../run/resolv.conf', join(rootfs, 'etc/resolv.conf')); // as images have it
  makeMountpoint(rootfs, '/abs/a', false);
  makeMountpoint(rootfs, '/rel/b', true);
  makeMountpoint(rootfs, '/etc/resolv.conf', true);
  assert.deepEqual(readdirSync(host), [], 'nothing on the host');
  assert.ok(lstatSync(join(rootfs, host, 'a')).isDirectory(), 'the absolute target, inside the rootfs');
  assert.ok(lstatSync(join(rootfs, 'host/b')).isFile(), '.. stops at the rootfs');
  assert.ok(lstatSync(join(rootfs, 'run/resolv.conf')).isFile(), 'a dangling symlink\'s target is made');
  symlinkSync('loop', join(rootfs, 'loop'));
  assert.throws(() => makeMountpoint(rootfs, '/loop/x', false), { code: 'INVALID_CONFIG', message: /too many symlinks/ });
  assert.equal(existsSync(join(rootfs, 'x')), false);
});
