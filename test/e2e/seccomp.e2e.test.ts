/**
 * linux.seccomp, linux.personality and process.ioPriority, observed from inside busybox
 * containers; AppArmor and SELinux labels refused on a host without those LSMs. Every test
 * proves it left nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostLsm } from '../../src/effects/lsm.js';
import type { ExitInfo } from '../../src/index.js';
import type { OciConfig } from '../../src/machines/spec.js';
import type { OciSeccomp } from '../../src/machines/security.js';
import { linuxSyscalls } from '../../src/effects/linux.js';
import { berth } from '../helpers/cli.js';
import { listenConsoleSocket } from '../helpers/consoleSocket.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { collect } from '../helpers/streams.js';

const f = runtimeFixture();
const sys = linuxSyscalls();

/** Runs `args` to its end in a container with `edit` applied; stdout and stderr together. */
async function run(id: string, args: string[], edit: (c: OciConfig) => void): Promise<{ exit: ExitInfo; out: string }> {
  const before = snapshot();
  const b = f.bundle(args, edit);
  const c = await f.rt.create(id, { bundle: b.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(c.stdio.stdout);
  const err = collect(c.stdio.stderr);
  await c.start();
  const exit = await c.wait();
  const text = `${await out}${await err}`;
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
  return { exit, out: text };
}

function seccomp(profile: OciSeccomp): (c: OciConfig) => void {
  return (c) => { c.linux = { ...c.linux, seccomp: profile }; };
}

/** What busybox sh and the applets below need (strace of busybox-static), and nothing else. */
const SH_SYSCALLS = [
  'arch_prctl', 'brk', 'clone', 'close', 'execve', 'exit', 'exit_group', 'fcntl', 'fstat', 'getcwd', 'getpid', 'getppid',
  'getrandom', 'getuid', 'geteuid', 'getgid', 'getegid', 'ioctl', 'lseek', 'mmap', 'mprotect', 'munmap', 'newfstatat',
  'openat', 'prctl', 'prlimit64', 'read', 'readlink', 'rseq', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn',
  'set_robust_list', 'set_tid_address', 'stat', 'uname', 'wait4', 'write', 'writev',
];

test('a rule returns its errno, and Seccomp is 2 in /proc/self/status', async () => {
  const r = await run('sc-errno', ['sh', '-c', 'grep "^Seccomp:" /proc/self/status; mkdir /tmp/x; echo "mkdir=$?"; ls / >/dev/null && echo ls-ok'], seccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  }));
  assert.deepEqual(r.exit, { code: 0, signal: null }, r.out);
  assert.match(r.out, /^Seccomp:\t2$/m, 'a filter is installed (mode 2)');
  assert.match(r.out, /mkdir: can't create directory '\/tmp\/x': Operation not permitted/);
  assert.match(r.out, /^mkdir=1$/m);
  assert.match(r.out, /^ls-ok$/m, 'everything else is allowed');
});

test('defaultAction ERRNO with an allow-list still runs sh; what is not listed gets defaultErrnoRet', async () => {
  const r = await run('sc-allowlist', ['sh', '-c', 'echo hello; mkdir /tmp/x; exit 3'], seccomp({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38, // ENOSYS
    syscalls: [{ names: SH_SYSCALLS, action: 'SCMP_ACT_ALLOW' }],
  }));
  assert.deepEqual(r.exit, { code: 3, signal: null }, r.out);
  assert.match(r.out, /^hello$/m);
  assert.match(r.out, /mkdir: can't create directory '\/tmp\/x': Function not implemented/);
});

test('argument filters: personality(PER_LINUX32) is refused, personality(PER_LINUX) is not', async () => {
  const r = await run('sc-args', ['sh', '-c', 'linux32 uname -m; echo "linux32=$?"; linux64 uname -m; echo "linux64=$?"'], seccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
  }));
  assert.deepEqual(r.exit, { code: 0, signal: null }, r.out);
  assert.match(r.out, /personality\(0x8\): Operation not permitted/);
  assert.match(r.out, /^linux32=1$/m);
  assert.match(r.out, new RegExp(`^${arch() === 'x64' ? 'x86_64' : '\\S+'}\\nlinux64=0$`, 'm'));
});

test('the filter goes in after the exec-fifo handshake: a profile denying open and write still starts', async () => {
  const r = await run('sc-late', ['sh', '-c', 'echo unseen; cat /etc/passwd; exit 7'], seccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['open', 'openat', 'openat2', 'write', 'writev'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  }));
  assert.deepEqual(r.exit, { code: 7, signal: null }, 'the container started and ran to its own exit');
  assert.equal(r.out, '', 'its writes were refused');
});

test('syscall names this kernel or libseccomp does not know are skipped, as runc does', async () => {
  const r = await run('sc-unknown', ['sh', '-c', 'grep "^Seccomp:" /proc/self/status; mkdir /tmp/x'], seccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    // mseal and lsm_get_self_attr are newer than Debian's libseccomp 2.5.4
    syscalls: [{ names: ['mseal', 'lsm_get_self_attr', 'no_such_syscall', 'mkdirat', 'mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
  }));
  assert.match(r.out, /^Seccomp:\t2$/m);
  assert.match(r.out, /mkdir: can't create directory '\/tmp\/x': Permission denied/, 'the known names in the same rule apply');
  assert.deepEqual(r.exit, { code: 1, signal: null });
});

test('SCMP_ACT_KILL kills the process: berth run exits 128+SIGSYS', async (t) => {
  const before = snapshot();
  const b = f.bundle(['mkdir', '/tmp/x'], seccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL' }],
  }));
  t.after(() => berth(f.root, ['delete', '--force', 'sc-kill']));
  const r = await berth(f.root, ['run', '--bundle', b.dir, 'sc-kill']);
  assert.equal(r.status, 128 + 31, r.stderr);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('without noNewPrivileges the filter goes in before the capabilities are dropped', async () => {
  const r = await run('sc-no-nnp', ['sh', '-c', 'grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status; mkdir /tmp/x'], (c) => {
    c.process.noNewPrivileges = false;
    c.process.user = { uid: 65534, gid: 65534 };
    seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] })(c);
  });
  assert.match(r.out, /^Seccomp:\t2$/m);
  assert.match(r.out, /^NoNewPrivs:\t0$/m);
  assert.match(r.out, /^CapEff:\t0000000000000000$/m, 'installed while the helper had CAP_SYS_ADMIN, then dropped');
  assert.match(r.out, /Operation not permitted/);
});

test('personality LINUX32: uname -m says i686', { skip: arch() === 'x64' ? false : 'the i686 domain name is for x86_64 hosts' }, async () => {
  const r = await run('pers', ['uname', '-m'], (c) => { c.linux = { ...c.linux, personality: { domain: 'LINUX32' } }; });
  assert.deepEqual(r.exit, { code: 0, signal: null });
  assert.equal(r.out, 'i686\n');
});

test('ioPriority: the process runs in the configured I/O class and level', async () => {
  // real-time needs CAP_SYS_ADMIN or CAP_SYS_NICE, which the default spec does not keep:
  // set before CREDS, it still applies
  const r = await run('ioprio', ['sh', '-c', 'ionice; grep "^CapEff:" /proc/self/status'], (c) => {
    c.process.ioPriority = { class: 'IOPRIO_CLASS_RT', priority: 3 };
    c.process.user = { uid: 65534, gid: 65534 };
  });
  assert.deepEqual(r.exit, { code: 0, signal: null }, r.out);
  assert.match(r.out, /^realtime: prio 3$/m);
  assert.match(r.out, /^CapEff:\t0000000000000000$/m);
});

/** AppArmor and SELinux labels need the LSM: the refusal is observable only on a host without it. */
const lsm = hostLsm();
const refusable = (has: boolean, name: string) => (has ? `this host has ${name}: the refusal cannot be observed` : false);

for (const [what, edit, field, skip] of [
  ['an AppArmor profile', (c: OciConfig) => { c.process.apparmorProfile = 'berth-test'; }, 'process.apparmorProfile', refusable(lsm.apparmor, 'AppArmor')],
  ['an SELinux label', (c: OciConfig) => { c.process.selinuxLabel = 'system_u:system_r:container_t:s0'; }, 'process.selinuxLabel', refusable(lsm.selinux, 'SELinux')],
  ['an SELinux mount label', (c: OciConfig) => { c.linux = { ...c.linux, mountLabel: 'system_u:object_r:container_file_t:s0' }; }, 'linux.mountLabel', refusable(lsm.selinux, 'SELinux')],
] as const) {
  test(`${what} on a host without it: a coded error naming the field, nothing left`, { skip }, async () => {
    const before = snapshot();
    const b = f.bundle(['true'], edit);
    await assert.rejects(f.rt.create('lsm', { bundle: b.dir, stdio: 'ignore' }), (e: { code: string; field: string; message: string }) => {
      assert.equal(e.code, 'INVALID_CONFIG');
      assert.equal(e.field, field);
      assert.match(e.message, /is not enabled on this host/);
      return true;
    });
    await assertNoLeaks(before, f.root, { openRuntime: true });
    await assert.rejects(f.rt.state('lsm'), { code: 'NOT_EXISTS' });
  });
}

test('a profile libseccomp refuses (an architecture of the other byte order) fails create, naming the field', async () => {
  const before = snapshot();
  const b = f.bundle(['true'], seccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_S390X'] }));
  await assert.rejects(f.rt.create('sc-arch', { bundle: b.dir, stdio: 'ignore' }), (e: { code: string; field: string; message: string }) => {
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.equal(e.field, 'linux.seccomp.architectures');
    assert.match(e.message, /seccomp_arch_add s390x: EDOM/);
    return true;
  });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('an invalid profile is refused by validation, naming the field, nothing left', async () => {
  const before = snapshot();
  const b = f.bundle(['true'], seccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }, { names: ['read'], action: 'SCMP_ACT_EXPLODE' as 'SCMP_ACT_LOG' }],
  }));
  await assert.rejects(f.rt.create('sc-bad', { bundle: b.dir, stdio: 'ignore' }), {
    code: 'INVALID_CONFIG', field: 'linux.seccomp.syscalls[1].action',
  });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

// --- SCMP_ACT_NOTIFY: the listener goes to linux.seccomp.listenerPath (runc's seccomp notify) ---

const notifyMkdir = (listenerPath: string, extra: Partial<OciSeccomp> = {}) => seccomp({
  defaultAction: 'SCMP_ACT_ALLOW',
  listenerPath,
  listenerMetadata: 'agent-meta',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
  ...extra,
});

test('SCMP_ACT_NOTIFY: the agent at listenerPath gets the process state and a seccomp notify fd; the syscall waits on it, ENOSYS once it is closed', async () => {
  const before = snapshot();
  const dir = mkdtempSync(join(tmpdir(), 'berth-agent-'));
  const agent = await listenConsoleSocket(sys, dir, 'agent.sock');
  try {
    const b = f.bundle(['sh', '-c', 'echo start; mkdir /tmp/x; echo "mkdir=$?"'], notifyMkdir(agent.path));
    const c = await f.rt.create('sc-notify', { bundle: b.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const got = await agent.received;
    const msg = JSON.parse(got.name);
    const initPid = (await c.state()).pid;
    assert.deepEqual({ ...msg, state: undefined }, { ociVersion: msg.state.ociVersion, fds: ['seccompFd'], pid: initPid, metadata: 'agent-meta', state: undefined });
    assert.equal(msg.state.id, 'sc-notify');
    assert.equal(msg.state.pid, initPid);
    assert.equal(readlinkSync(`/proc/self/fd/${got.fd}`), 'anon_inode:seccomp notify', 'a seccomp notification listener');
    const out = collect(c.stdio.stdout);
    const err = collect(c.stdio.stderr);
    await c.start();
    // The container's mkdir is now a notification nobody answers: it waits until the listener goes.
    sys.close(got.fd);
    assert.deepEqual(await c.wait(), { code: 0, signal: null });
    const text = `${await out}${await err}`;
    assert.match(text, /Function not implemented/, 'a closed listener fails the syscall with ENOSYS');
    assert.match(text, /^mkdir=1$/m);
    await c.delete();
  } finally {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('SCMP_ACT_NOTIFY: a listenerPath nobody listens on is INVALID_CONFIG naming it, and nothing is left', async () => {
  const before = snapshot();
  const b = f.bundle(['true'], notifyMkdir('/nonexistent/agent.sock'));
  await assert.rejects(f.rt.create('sc-notify-bad', { bundle: b.dir, stdio: 'ignore' }),
    { code: 'INVALID_CONFIG', field: 'linux.seccomp.listenerPath', message: /agent\.sock: ENOENT/ });
  const noPath = f.bundle(['true'], notifyMkdir('', { listenerPath: undefined }));
  await assert.rejects(f.rt.create('sc-notify-bad2', { bundle: noPath.dir, stdio: 'ignore' }), { code: 'INVALID_CONFIG', field: 'linux.seccomp.listenerPath' });
  await assert.rejects(f.rt.state('sc-notify-bad'), { code: 'NOT_EXISTS' });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('SCMP_ACT_NOTIFY binds exec\'d processes too: the agent gets the exec\'d process\'s pid and the running container\'s state', async () => {
  const before = snapshot();
  const dir = mkdtempSync(join(tmpdir(), 'berth-agent-'));
  let agent = await listenConsoleSocket(sys, dir, 'agent.sock');
  try {
    const b = f.bundle(['sleep', '1000'], notifyMkdir(agent.path));
    const c = await f.rt.create('sc-notify-exec', { bundle: b.dir, stdio: 'ignore' });
    sys.close((await agent.received).fd);
    await agent.close();
    rmSync(agent.path, { force: true });
    agent = await listenConsoleSocket(sys, dir, 'agent.sock');
    await c.start();
    const e = await c.exec({ args: ['sh', '-c', 'mkdir /tmp/y; echo "mkdir=$?"'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: ['ignore', 'pipe', 'pipe'] });
    const got = await agent.received;
    const msg = JSON.parse(got.name);
    assert.equal(msg.pid, e.pid, 'the exec\'d process');
    assert.equal(msg.state.status, 'running');
    assert.equal(msg.state.pid, (await c.state()).pid, 'the container\'s init');
    assert.equal(readlinkSync(`/proc/self/fd/${got.fd}`), 'anon_inode:seccomp notify');
    const out = collect(e.stdio.stdout);
    sys.close(got.fd);
    assert.deepEqual(await e.wait(), { code: 0, signal: null });
    assert.match(await out, /^mkdir=1$/m);
    // no agent any more: the exec is refused naming the field, before anything is started
    await agent.close();
    rmSync(agent.path, { force: true });
    const pids = await c.ps();
    await assert.rejects(c.exec({ args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } }), { code: 'INVALID_CONFIG', field: 'linux.seccomp.listenerPath' });
    assert.deepEqual(await c.ps(), pids);
    await c.delete({ force: true });
  } finally {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
