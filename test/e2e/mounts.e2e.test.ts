import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { OciConfig, OciMount } from '../../src/machines/spec.js';
import { ROOTFS } from '../helpers/bundle.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { MAPPED_ROOT, containerCgroups, mappedRootfs, withUserns } from '../helpers/userns.js';
import { collect } from '../helpers/streams.js';

/**
 * Mounts beyond mount(2) flags, seen from inside the container: idmapped binds (with and
 * without a user namespace), recursive attributes (rro, rnoexec) reaching a nested submount,
 * tmpcopyup, the per-mount flags of a bind, and linux.devices with their modes and owners.
 */
const f = runtimeFixture();
let src = '';
let rootfs: { path: string; cleanup(): void };

before(() => {
  // A source tree: a file owned by host uid/gid 1000, one owned by root, a symlink, a subdir.
  src = mkdtempSync('/var/tmp/berth-mounts-');
  chmodSync(src, 0o755);
  writeFileSync(join(src, 'owned-1000'), 'x');
  chownSync(join(src, 'owned-1000'), 1000, 1000);
  writeFileSync(join(src, 'owned-root'), 'secret\n');
  symlinkSync('owned-root', join(src, 'link'));
  mkdirSync(join(src, 'sub'));
  rootfs = mappedRootfs();
});
after(() => {
  rmSync(src, { recursive: true, force: true });
  rootfs.cleanup();
});

/** create, start, wait, delete, proving nothing is left: what it printed (stdout and stderr). */
async function run(id: string, script: string, edit: (c: OciConfig) => void): Promise<{ out: string; code: number | null }> {
  const before = snapshot();
  const b = f.bundle(['sh', '-c', script], edit);
  const c = await f.rt.create(id, { bundle: b.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(c.stdio.stdout);
  const err = collect(c.stdio.stderr);
  await c.start();
  const exit = await c.wait();
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
  return { out: (await out) + (await err), code: exit.code };
}

const map = (containerID: number, hostID: number, size: number) => ({ containerID, hostID, size });
const bind = (destination: string, source: string, options: string[], extra: Partial<OciMount> = {}): OciMount =>
  ({ destination, type: 'bind', source, options: ['rbind', ...options], ...extra });

test('idmapped bind: host uid/gid 1000 files show as the mapped ids, unmapped owners as the overflow id', async () => {
  const { out, code } = await run('idmap-plain', 'ls -ln /mnt/owned-1000 /mnt/owned-root', (c) => {
    c.mounts!.push(bind('/mnt', src, ['idmap'], { uidMappings: [map(1000, 5000, 1)], gidMappings: [map(1000, 6000, 1)] }));
  });
  assert.equal(code, 0, out);
  assert.match(out, /^-rw-r--r--\s+1 5000\s+6000\s+1 .* \/mnt\/owned-1000$/m);
  assert.match(out, /^-rw-r--r--\s+1 65534\s+65534\s+7 .* \/mnt\/owned-root$/m);
});

test('idmapped bind in a user namespace: host uid 1000 mapped onto the mapped root shows as root inside; idmap alone uses the container\'s maps', async () => {
  const { out, code } = await run('idmap-userns', 'id -u; ls -ln /a/owned-1000 /b/owned-root /b/owned-1000', (c) => {
    c.root = { path: rootfs.path, readonly: true };
    withUserns(c);
    c.mounts!.push(
      bind('/a', src, ['idmap'], { uidMappings: [map(1000, MAPPED_ROOT, 1)], gidMappings: [map(1000, MAPPED_ROOT, 1)] }),
      bind('/b', src, ['idmap']),
    );
  });
  assert.equal(code, 0, out);
  assert.match(out, /^0$/m);
  assert.match(out, /^-rw-r--r--\s+1 0\s+0\s+1 .* \/a\/owned-1000$/m, 'host 1000 → idmap → host 100000 → container root');
  assert.match(out, /^-rw-r--r--\s+1 0\s+0\s+7 .* \/b\/owned-root$/m, 'with the container\'s maps, host root\'s files are the container root\'s');
  assert.match(out, /^-rw-r--r--\s+1 1000\s+1000\s+1 .* \/b\/owned-1000$/m);
});

/** Runs `body` with a tmpfs mounted on the host at src/sub (a nested submount of the source). */
async function withSubmount(body: () => Promise<void>): Promise<void> {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'berth-test-sub', join(src, 'sub')]);
  try {
    await body();
  } finally {
    execFileSync('umount', [join(src, 'sub')]);
  }
}

test('rro makes a nested submount read-only too, ro only the top; rnoexec reaches it as well', async () => {
  await withSubmount(async () => {
    const script = [
      'touch /ro/sub/a 2>&1 && echo ro-sub-writable',
      'touch /rro/sub/b 2>&1 || echo rro-sub-readonly',
      'touch /rro/c 2>&1 || echo rro-top-readonly',
      'grep " /rro/sub " /proc/self/mounts',
    ].join('; ');
    const { out, code } = await run('rro', script, (c) => {
      c.mounts!.push(bind('/ro', src, ['ro']), bind('/rro', src, ['rro', 'rnoexec']));
    });
    assert.equal(code, 0, out);
    assert.match(out, /^ro-sub-writable$/m, 'ro is not recursive');
    assert.match(out, /^rro-sub-readonly$/m);
    assert.match(out, /^rro-top-readonly$/m);
    assert.match(out, /^berth-test-sub \/rro\/sub tmpfs ro,[^ ]*noexec/m);
    assert.ok(existsSync(join(src, 'sub', 'a')));
    assert.ok(!existsSync(join(src, 'sub', 'b')));
  });
});

test('tmpcopyup: a tmpfs over /bin holds a copy of the image\'s /bin (files, modes, owners, symlinks) and is writable', async () => {
  const script = 'grep " /bin " /proc/self/mounts; ls -ln /bin/busybox; readlink /bin/sh; touch /bin/new && echo writable; echo via-copied-shell';
  const { out, code } = await run('copyup', script, (c) => {
    c.root.readonly = true;
    c.mounts!.push({ destination: '/bin', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup', 'mode=755', 'nosuid'] });
  });
  assert.equal(code, 0, out);
  assert.match(out, /^tmpfs \/bin tmpfs rw,nosuid/m);
  assert.match(out, /^-rwxr-xr-x\s+1 0\s+0\s+\d+ .* \/bin\/busybox$/m);
  assert.match(out, /^busybox$/m);
  assert.match(out, /^writable$/m);
  assert.match(out, /^via-copied-shell$/m);
  assert.ok(!existsSync(join(ROOTFS, 'bin', 'new')), 'the image is unchanged');
});

test('bind mounts: ro, nosuid, nodev, noexec and nosymfollow are in force', async () => {
  const { out, code } = await run('bindflags', 'grep " /mnt " /proc/self/mounts; cat /mnt/link 2>&1; cat /mnt/owned-root', (c) => {
    c.mounts!.push(bind('/mnt', src, ['ro', 'nosuid', 'nodev', 'noexec', 'nosymfollow']));
  });
  assert.equal(code, 0, out);
  assert.match(out, / \/mnt \S+ ro,nosuid,nodev,noexec,(relatime,)?nosymfollow[, ]/m);
  assert.match(out, /cat: can't open '\/mnt\/link': Too many levels of symbolic links/);
  assert.match(out, /^secret$/m);
});

test('linux.devices: nodes with the given type, mode and owner', async () => {
  const { out, code } = await run('devices', 'ls -ln /dev/mydev /dev/myfifo /dev/null', (c) => {
    c.linux!.devices = [
      { type: 'c', path: '/dev/mydev', major: 1, minor: 7, fileMode: 0o640, uid: 1234, gid: 5678 },
      { type: 'p', path: '/dev/myfifo', fileMode: 0o600, uid: 1, gid: 2 },
    ];
  });
  assert.equal(code, 0, out);
  assert.match(out, /^crw-r-----\s+1 1234\s+5678\s+1,\s+7 .* \/dev\/mydev$/m);
  assert.match(out, /^prw-------\s+1 1\s+2\s+0 .* \/dev\/myfifo$/m);
  assert.match(out, /^crw-rw-rw-\s+1 0\s+0\s+1,\s+3 .* \/dev\/null$/m);
});

interface Expect { code: string; field: string; message: RegExp }

async function createFails(id: string, edit: (c: OciConfig) => void, expect: Expect): Promise<void> {
  const before = snapshot();
  const b = f.bundle(['true'], edit);
  const err = await f.rt.create(id, { bundle: b.dir, stdio: 'ignore' }).then(() => null, (e: unknown) => e as { code: string; field?: string; message: string });
  assert.ok(err, `create ${id} should have failed`);
  assert.equal(err.code, expect.code, err.message);
  assert.equal(err.field, expect.field, err.message);
  assert.match(err.message, expect.message);
  await assertNoLeaks(before, f.root, { openRuntime: true });
  assert.deepEqual(containerCgroups(f.root, id), [], 'no cgroup left');
  assert.deepEqual((await f.rt.history(id)).slice(-2).map((e) => e.type), ['CreateRequested', 'CreateFailed']);
}

test('refused: an idmapped bind of a filesystem that cannot be idmapped (sysfs) names the mount and leaves nothing (the tree made before it, user namespace holders)', async () => {
  await createFails('idmap-sysfs', (c) => {
    c.mounts!.push(
      bind('/ok', src, ['idmap'], { uidMappings: [map(1000, 5000, 1)], gidMappings: [map(1000, 5000, 1)] }),
      bind('/mnt', '/sys/kernel', ['idmap'], { uidMappings: [map(0, 5000, 10)], gidMappings: [map(0, 5000, 10)] }),
    );
  }, { code: 'INVALID_CONFIG', field: 'mounts[8]', message: /the filesystem of \/sys\/kernel does not support idmapped mounts/ });
});

test('refused: idmap on a mount that is not a bind', async () => {
  await createFails('idmap-tmpfs', (c) => {
    c.mounts!.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: ['idmap'], uidMappings: [map(0, 5000, 1)], gidMappings: [map(0, 5000, 1)] });
  }, { code: 'INVALID_CONFIG', field: 'mounts[7]', message: /only supported for bind mounts/ });
});

test('refused: idmap without mappings and without a user namespace', async () => {
  await createFails('idmap-nomap', (c) => { c.mounts!.push(bind('/mnt', src, ['idmap'])); },
    { code: 'INVALID_CONFIG', field: 'mounts[7].options', message: /needs a user namespace/ });
});

test('refused: overlapping mount mappings, and uidMappings without gidMappings', async () => {
  await createFails('idmap-overlap', (c) => {
    c.mounts!.push(bind('/mnt', src, ['idmap'], { uidMappings: [map(0, 5000, 10), map(5, 9000, 10)], gidMappings: [map(0, 5000, 10)] }));
  }, { code: 'INVALID_CONFIG', field: 'mounts[7].uidMappings[1]', message: /container ids overlap mounts\[7\]\.uidMappings\[0\]/ });
  await createFails('idmap-half', (c) => {
    c.mounts!.push(bind('/mnt', src, ['idmap'], { uidMappings: [map(0, 5000, 10)] }));
  }, { code: 'INVALID_CONFIG', field: 'mounts[7].gidMappings', message: /go together/ });
});
