/**
 * The runtime CVE classes (DESIGN.md "Security baseline"), one test per class, on real
 * containers: the attack is set up the way an image or a config would set it up, and the effect
 * is checked from inside the container where it can be seen there, and on the host always.
 * Every test proves it left nothing behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync,
  symlinkSync, unlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { OciConfig } from '../../src/machines/spec.js';
import { ROOTFS, busyboxRootfs } from '../helpers/bundle.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { collect } from '../helpers/streams.js';

const work = mkdtempSync(join(tmpdir(), 'berth-sec-'));
const f = runtimeFixture({ afterAll: () => rmSync(work, { recursive: true, force: true }) });
const unique = `${process.pid}-${Date.now()}`;

/** A private, writable copy of the busybox rootfs an image could have shipped. */
function imageRootfs(name: string): string {
  const dir = join(work, name);
  execFileSync('cp', ['-a', busyboxRootfs(), dir]);
  return dir;
}

/** Run `script` in a container to its end; its stdout. */
async function run(id: string, script: string, edit?: (c: OciConfig) => void): Promise<string> {
  const b = f.bundle(['sh', '-c', script], edit);
  const c = await f.rt.create(id, { bundle: b.dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const out = collect(c.stdio.stdout);
  await c.start();
  await c.wait();
  await c.delete();
  return out;
}

interface Expect { code: string; field?: string; step?: string; message: RegExp }

/** Create must fail with `expect` and leave nothing. */
async function createFails(id: string, edit: (c: OciConfig) => void, expect: Expect): Promise<void> {
  const before = snapshot();
  const b = f.bundle(['true'], edit);
  const err = await f.rt.create(id, { bundle: b.dir, stdio: 'ignore' }).then(() => null, (e: unknown) => e as Expect & { message: string });
  assert.ok(err, `create ${id} should have failed`);
  assert.equal(err.code, expect.code, err.message);
  if (expect.field) assert.equal(err.field, expect.field);
  if (expect.step) assert.equal(err.step, expect.step);
  assert.match(err.message, expect.message);
  await assertNoLeaks(before, f.root, { openRuntime: true });
  await assert.rejects(f.rt.state(id), { code: 'NOT_EXISTS' });
}

const withoutDevMounts = (c: OciConfig) => { c.mounts = c.mounts!.filter((m) => !m.destination.startsWith('/dev')); };

test('CVE-2019-5736: the runtime\'s helper is a sealed memfd no container process can open, and no one can write', async (t) => {
  t.after(() => Promise.all(['sec-victim', 'sec-attacker'].map((id) => f.rt.delete(id, true).catch(() => undefined))));
  const before = snapshot();
  const victim = await f.rt.create('sec-victim', { bundle: f.bundle(['sleep', '1000']).dir, stdio: 'ignore' });
  const { pid } = await victim.state();
  // created: its init is still berth-init, waiting on the exec fifo
  assert.match(readlinkSync(`/proc/${pid}/exe`), /^\/memfd:berth-init/, 'the helper runs from a memfd copy, not from a host file');
  assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8'), 'berth-init\n');
  assert.throws(() => openSync(`/proc/${pid}/exe`, 'r+'), /ETXTBSY|EPERM/, 'even root cannot open it for writing');

  // an attacker in another container (uid 0, the default capabilities, no pid namespace so it
  // sees the host's pids) goes for the waiting helper through /proc/<pid>/exe
  const attacker = f.bundle(['sh', '-c', [
    `ls -l /proc/${pid}/exe 2>&1`,
    `(echo x >> /proc/${pid}/exe) 2>&1 || echo write-refused`,
    `cat /proc/${pid}/exe > /dev/null 2>&1 || echo read-refused`,
    'sleep 100 & readlink /proc/$!/exe', // control: a process it may inspect
  ].join('; ')], (c) => { c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'pid'); });
  const a = await f.rt.create('sec-attacker', { bundle: attacker.dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const seen = collect(a.stdio.stdout);
  await a.start();
  await a.wait();
  const text = await seen;
  assert.match(text, new RegExp(`/proc/${pid}/exe.*Permission denied`), text);
  assert.match(text, /^write-refused$/m);
  assert.match(text, /^read-refused$/m);
  assert.match(text, /^\/bin\/busybox$/m, 'the control shows the probe itself works');
  await a.delete();

  // once nothing executes it, the runtime's own copy still refuses any change: it is sealed
  await victim.start();
  const helperFd = readdirSync('/proc/self/fd').find((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:berth-init');
    } catch {
      return false;
    }
  });
  assert.ok(helperFd, 'the runtime holds its sealed copy');
  const fd = openSync(`/proc/self/fd/${helperFd}`, 'r+');
  try {
    assert.throws(() => writeSync(fd, 'x'), { code: 'EPERM' }, 'F_SEAL_WRITE');
    assert.throws(() => ftruncateSync(fd, 0), { code: 'EPERM' }, 'F_SEAL_SHRINK');
  } finally {
    closeSync(fd);
  }
  await victim.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('CVE-2024-21626: only stdio reaches the container, and a cwd through /proc/self/fd/<N> is refused', async (t) => {
  t.after(() => f.rt.delete('sec-fd-other', true).catch(() => undefined));
  const before = snapshot();
  // another container makes the runtime hold more fds (its pidfd, its log, its helper copy)
  await f.rt.create('sec-fd-other', { bundle: f.bundle(['sleep', '1000']).dir, stdio: 'ignore' });
  const text = await run('sec-fds', 'ls /proc/$$/fd; echo end; for fd in 0 1 2; do readlink /proc/$$/fd/$fd; done');
  const [fds, links] = text.split('end\n');
  assert.equal(fds, '0\n1\n2\n', 'only stdio');
  // exactly the stdio it was given: /dev/null, the pipe we read, our own stderr (inherited)
  const [stdin, stdout, stderr] = (links ?? '').split('\n');
  assert.equal(stdin, '/dev/null');
  assert.match(stdout ?? '', /^pipe:\[\d+\]$/);
  assert.equal(stderr, readlinkSync('/proc/self/fd/2'));
  await f.rt.delete('sec-fd-other', true);
  await assertNoLeaks(before, f.root, { openRuntime: true });

  for (let n = 3; n <= 9; n++) {
    await createFails(`sec-cwd-${n}`, (c) => { c.process.cwd = `/proc/self/fd/${n}`; }, {
      code: 'INVALID_CONFIG', field: 'process.cwd', message: new RegExp(`cwd chdir /proc/self/fd/${n}: (ELOOP|ENOENT)$`),
    });
  }
});

test('CVE-2021-30465 / CVE-2024-45310: symlinks in the image cannot send a mount or a created directory outside the rootfs', async () => {
  const before = snapshot();
  const rootfs = imageRootfs('symlinks');
  symlinkSync('/', join(rootfs, 'evil'));
  symlinkSync('../../../../../../..', join(rootfs, 'evil2'));
  const names = { a: `escape-a-${unique}`, b: `escape-b-${unique}`, c: `escape-c-${unique}` };
  const src = mkdtempSync(join(work, 'bindsrc-'));
  writeFileSync(join(src, 'marker'), 'bound\n');
  const text = await run('sec-symlinks', [
    `grep -c " /${names.a} .* tmpfs " /proc/self/mountinfo`,
    `grep -c " /${names.b}/deep .* tmpfs " /proc/self/mountinfo`,
    `cat /${names.c}/marker`,
  ].join('; '), (c) => {
    c.root.path = rootfs;
    c.mounts!.push(
      { destination: `/evil/${names.a}`, type: 'tmpfs', source: 'tmpfs' },
      { destination: `/evil2/${names.b}/deep`, type: 'tmpfs', source: 'tmpfs' },
      { destination: `/evil/${names.c}`, type: 'bind', source: src, options: ['rbind', 'ro'] },
    );
  });
  assert.equal(text, '1\n1\nbound\n', 'inside, each mount is where the rootfs-confined path leads');
  for (const n of Object.values(names)) {
    assert.equal(existsSync(`/${n}`), false, `nothing made on the host at /${n}`);
    assert.ok(existsSync(join(rootfs, n)), `the directory was made inside the rootfs: ${n}`);
  }
  await assertNoLeaks(before, f.root, { openRuntime: true });

  // a dangling link to a host path: resolved inside the rootfs, where it leads nowhere
  const target = join(tmpdir(), `berth-dangle-${unique}`);
  symlinkSync(target, join(rootfs, 'dangle'));
  await createFails('sec-dangle', (c) => {
    c.root.path = rootfs;
    c.mounts!.push({ destination: '/dangle/x', type: 'tmpfs', source: 'tmpfs' });
  }, { code: 'SYSCALL', step: 'MOUNT', message: /mount resolve \/dangle\/x: ENOENT$/ });
  assert.equal(existsSync(target), false, 'the link\'s host target was not created');
});

test('CVE-2025-31133: masking needs the container\'s /dev/null to be the real 1:3 device, whatever the image or a mount put there', async () => {
  const passwd = readFileSync(join(ROOTFS, 'etc/passwd'), 'utf8');
  const cases: [string, (rootfs: string) => void][] = [
    ['a symlink', (r) => symlinkSync('/etc/passwd', join(r, 'dev/null'))],
    ['a regular file', (r) => writeFileSync(join(r, 'dev/null'), '')],
    ['another character device (1:5)', (r) => execFileSync('mknod', [join(r, 'dev/null'), 'c', '1', '5'])],
  ];
  for (const [what, plant] of cases) {
    const rootfs = imageRootfs(`devnull-${cases.findIndex((c) => c[0] === what)}`);
    plant(rootfs);
    await createFails('sec-devnull', (c) => {
      c.root.path = rootfs;
      withoutDevMounts(c); // the image's own /dev is the container's
    }, { code: 'INVALID_CONFIG', field: 'linux.maskedPaths', message: /\/dev\/null must be the character device 1:3/ });
    assert.equal(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'), passwd, what);
  }
  // a config that binds a host file over /dev/null gets the same answer, and the file is untouched
  const decoy = join(work, 'decoy-null');
  writeFileSync(decoy, 'host data\n');
  await createFails('sec-devnull-bind', (c) => { c.mounts!.push({ destination: '/dev/null', type: 'bind', source: decoy, options: ['bind'] }); }, {
    code: 'INVALID_CONFIG', field: 'linux.maskedPaths', message: /\/dev\/null must be the character device 1:3/,
  });
  assert.equal(readFileSync(decoy, 'utf8'), 'host data\n');

  // control: the image's /dev/null when it is the real device masks as usual
  const good = imageRootfs('devnull-good');
  execFileSync('mknod', ['-m', '666', join(good, 'dev/null'), 'c', '1', '3']);
  const before = snapshot();
  const text = await run('sec-devnull-ok', 'head -c 10 /proc/kcore | wc -c; test -c /dev/null && echo chr', (c) => {
    c.root.path = good;
    withoutDevMounts(c);
  });
  assert.equal(text, '0\nchr\n', '/proc/kcore masked by the verified /dev/null');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('CVE-2025-52565 / 52881 class: a fake /proc cannot take the sysctl and oom_score_adj writes', async (t) => {
  const fake = mkdtempSync(join(work, 'fakeproc-'));
  for (const d of ['sys/kernel', 'self']) mkdirSync(join(fake, d), { recursive: true });
  writeFileSync(join(fake, 'sys/kernel/domainname'), 'fake\n');
  writeFileSync(join(fake, 'self/oom_score_adj'), 'fake\n');
  const replaceProc = (m: OciConfig['mounts']) => (c: OciConfig) => {
    c.mounts = [...m!, ...c.mounts!.filter((x) => x.destination !== '/proc')];
    c.linux!.sysctl = { 'kernel.domainname': 'evil' };
  };
  // sysctls go through the container's /proc only once it is verified to be procfs
  await createFails('sec-proc-tmpfs', replaceProc([{ destination: '/proc', type: 'tmpfs', source: 'tmpfs' }]), {
    code: 'SYSCALL', step: 'SYSCTL', message: /sysctl open \/proc\/sys \(is \/proc mounted in the container\?\): ENOENT$/,
  });
  await createFails('sec-proc-bind', replaceProc([{ destination: '/proc', type: 'bind', source: fake, options: ['rbind'] }]), {
    code: 'SYSCALL', step: 'SYSCTL', message: /sysctl statfs \/proc\/sys \(not procfs\): ENODEV$/,
  });
  // the real procfs with a file bound over the sysctl: the write would cross a mount
  await createFails('sec-proc-over', (c) => {
    c.mounts!.push({ destination: '/proc/sys/kernel/domainname', type: 'bind', source: join(fake, 'sys/kernel/domainname'), options: ['bind'] });
    c.linux!.sysctl = { 'kernel.domainname': 'evil' };
  }, { code: 'SYSCALL', step: 'SYSCTL', message: /open \/proc\/sys\/kernel\/domainname: EXDEV$/ });
  assert.equal(readFileSync(join(fake, 'sys/kernel/domainname'), 'utf8'), 'fake\n', 'no sysctl write reached the decoy');

  // oom_score_adj goes through the helper's handle on the host procfs: the fake is not consulted
  t.after(() => f.rt.delete('sec-oom', true).catch(() => undefined));
  const before = snapshot();
  const b = f.bundle(['sleep', '1000'], (c) => {
    c.mounts = [{ destination: '/proc', type: 'bind', source: fake, options: ['rbind'] }, ...c.mounts!.filter((x) => x.destination !== '/proc')];
    c.process.oomScoreAdj = 123;
  });
  const c = await f.rt.create('sec-oom', { bundle: b.dir, stdio: 'ignore' });
  const { pid } = await c.state();
  assert.equal(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'), '123\n', 'the write hit the real procfs');
  assert.equal(readFileSync(join(fake, 'self/oom_score_adj'), 'utf8'), 'fake\n');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('ids and paths: bad ids refused before anything is logged; a symlinked bundle resolved; a symlinked rootfs refused (as runc)', async (t) => {
  const before = snapshot();
  const b = f.bundle(['true']);
  for (const id of ['../x', 'a/b', '/abs', '.', '..', '', 'x'.repeat(256), 'a\0b', 'white space', '-/../-']) {
    await assert.rejects(f.rt.create(id, { bundle: b.dir }), { code: 'INVALID_ID' }, JSON.stringify(id));
  }
  assert.deepEqual((await f.rt.log.streams()).filter((s) => !s.startsWith('sec-') && !s.startsWith('x'.repeat(255))), []);
  await assertNoLeaks(before, f.root, { openRuntime: true });

  // the longest id works: it is one directory name in the root and in each cgroup hierarchy
  const longest = 'x'.repeat(255);
  t.after(() => f.rt.delete(longest, true).catch(() => undefined));
  assert.equal(await run(longest, 'echo ok'), 'ok\n');

  // a bundle reached through a symlink: recorded (and shown to hooks) by its real path
  const link = join(work, `bundle-link-${unique}`);
  symlinkSync(b.dir, link);
  t.after(() => f.rt.delete('sec-bundle-link', true).catch(() => undefined));
  const c = await f.rt.create('sec-bundle-link', { bundle: link, stdio: 'ignore' });
  assert.equal((await c.state()).bundle, b.dir);
  await c.start();
  await c.wait();
  await c.delete();
  unlinkSync(link);

  // a rootfs that is a symlink to "/" (or is "/") would make the host the container's root
  const rootLink = join(work, `rootfs-link-${unique}`);
  symlinkSync('/', rootLink);
  await createFails('sec-rootfs-link', (cfg) => { cfg.root.path = rootLink; }, {
    code: 'INVALID_CONFIG', field: 'root.path', message: /root\.path .* is the host's root directory/,
  });
  await createFails('sec-rootfs-root', (cfg) => { cfg.root.path = '/'; }, {
    code: 'INVALID_CONFIG', field: 'root.path', message: /is the host's root directory/,
  });
  // runc refuses any rootfs that is not its own real path: a symlink to a real rootfs too
  const viaLink = join(work, `rootfs-via-${unique}`);
  symlinkSync(ROOTFS, viaLink);
  await createFails('sec-rootfs-via', (cfg) => { cfg.root.path = viaLink; }, {
    code: 'INVALID_CONFIG', field: 'root.path', message: /is a symlink or goes through one/,
  });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
