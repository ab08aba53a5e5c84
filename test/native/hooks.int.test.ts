/**
 * berth-init's hook operations (HOOKS_SYNC, HOOK_ARG, HOOK_ENV, HOOK) and the CVE-class checks
 * of CWD and SYSCTL, against the real kernel: the helper spawned from a sealed copy into new
 * namespaces on a busybox rootfs, with hand-built plans. Each test reads the status lines and
 * the exec fifo as the runtime would, and leaves no mount, process or fd.
 */
import assert from 'node:assert/strict';
import {
  chmodSync, closeSync, constants as fsc, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync,
  readlinkSync, readSync, rmSync, symlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { initHelperPath, linuxSyscalls } from '../../src/effects/linux.js';
import { encodePlan, type PlanOp, type PlanOpName } from '../../src/effects/planWire.js';
import { statusLines, type StatusLines } from '../../src/effects/statusLines.js';
import type { WaitStatus } from '../../src/effects/syscalls.js';
import { drain, exited } from '../helpers/spawn.js';

const NS = 0x00020000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000; // mnt uts ipc pid net
const MS_BIND = 4096, MS_REC = 16384, MS_SLAVE = 1 << 19;
const S_IFCHR = 0o020000;
const O_PATH = 0o10000000;
const BUSYBOX = '/bin/busybox';

function missingFeature(): string | undefined {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  if (major < 5 || (major === 5 && minor < 11)) return 'requires Linux >= 5.11 (clone3, openat2, close_range)';
  if (process.getuid?.() !== 0) return 'requires root (mount and pid namespaces)';
  if (!existsSync(BUSYBOX)) return 'requires /bin/busybox (the busybox-static package)';
  return undefined;
}
const skip = missingFeature();
const sys = skip ? undefined! : linuxSyscalls();
const op = (name: PlanOpName, ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });

let dir = '';
let rootfs = '';
let mountsBefore = '';

function setup(): PlanOp[] {
  return [
    op('SETSID'), op('PROPAGATION', MS_REC | MS_SLAVE), op('ROOTFS', rootfs),
    op('MOUNT', 'proc', '/proc', 'proc', 0, '-'),
    op('MOUNT', 'tmpfs', '/dev', 'tmpfs', 0, 'mode=755'),
    op('MKNOD', '/dev/null', S_IFCHR | 0o666, 1, 3, 0, 0),
    op('MOUNT', 'tmpfs', '/run', 'tmpfs', 0, 'mode=1777'),
  ];
}
const command = (script: string) => [op('CWD', '/'), op('ENV', 'PATH=/bin'), op('ARG', 'sh'), op('ARG', '-c'), op('ARG', script), op('EXEC')];
/** A HOOK op with its args: busybox's sh running `script`. */
const hook = (stage: string, i: number, script: string, timeout = 0, env: string[] = []) => [
  op('HOOK_ARG', 'sh'), op('HOOK_ARG', '-c'), op('HOOK_ARG', script), ...env.map((e) => op('HOOK_ENV', e)),
  op('HOOK', stage, `hooks.${stage}[${i}]`, '/bin/busybox', timeout, `"id":"t","status":"${stage === 'startContainer' ? 'created' : 'creating'}"}`),
];

interface Run {
  pid: number;
  pidfd: number;
  status: StatusLines;
  goAhead: number;
  fifoPath: string;
  outR: number;
  errR: number;
}
const live = new Set<Run>();

function start(plan: PlanOp[]): Run {
  const fifoPath = join(dir, 'exec.fifo');
  sys.mkfifo(fifoPath, 0o622);
  chmodSync(fifoPath, 0o622);
  const exe = sys.sealedCopy(initHelperPath());
  const planFd = sys.memfdCreate('berth-plan');
  const bytes = encodePlan(plan);
  assert.equal(writeSync(planFd, bytes), bytes.length);
  const stdin = openSync('/dev/null', 'r');
  const fifoFd = openSync(fifoPath, O_PATH);
  const [outR, outW] = sys.pipe();
  const [errR, errW] = sys.pipe();
  const [stR, stW] = sys.pipe();
  const [goR, goW] = sys.pipe();
  let child: { pid: number; pidfd: number };
  try {
    // as create.ts: the go-ahead pipe at fd 7, a copy holding fd 6 (reserved)
    child = sys.spawn({ exe, argv: ['berth-init'], env: [], flags: NS, fds: [stdin, outW, errW, planFd, stW, fifoFd, goR, goR], cgroupFd: -1 });
  } finally {
    for (const fd of [exe, planFd, outW, errW, stW, goR]) sys.close(fd);
    closeSync(stdin);
    closeSync(fifoFd);
  }
  const r = { ...child, status: statusLines(stR), goAhead: goW, fifoPath, outR, errR };
  live.add(r);
  return r;
}

/** Open the exec fifo as `berth start` does and read it until end of file (or the init died). */
async function openFifo(r: Run): Promise<string> {
  const fd = openSync(r.fifoPath, fsc.O_RDONLY | fsc.O_NONBLOCK);
  let text = '';
  try {
    for (;;) {
      await new Promise<void>((resolve) => {
        const stops = [fd, r.pidfd].map((f) => sys.watchFd(f, () => { for (const s of stops) s(); resolve(); }));
      });
      const buf = Buffer.alloc(4096);
      let n = -1;
      try {
        while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) text += buf.toString('utf8', 0, n);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (n === 0 || sys.waitid(r.pidfd) !== null || existsSync(`/proc/${r.pid}`) === false) return text;
    }
  } finally {
    closeSync(fd);
  }
}

async function finish(r: Run): Promise<{ exit: WaitStatus | null; stdout: string; stderr: string }> {
  live.delete(r);
  const exit = await exited(sys, r.pidfd);
  sys.close(r.pidfd);
  r.status.close();
  try {
    sys.close(r.goAhead);
  } catch {
    // closed by the test
  }
  const out = { exit, stdout: drain(r.outR), stderr: drain(r.errR) };
  sys.close(r.outR);
  sys.close(r.errR);
  rmSync(r.fifoPath, { force: true });
  return out;
}

describe('berth-init hooks', { skip }, () => {
  beforeEach(() => {
    mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8');
    dir = mkdtempSync(join(tmpdir(), 'berth-inithooks-'));
    rootfs = join(dir, 'rootfs');
    for (const d of ['bin', 'proc', 'dev', 'tmp', 'run', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const a of ['sh', 'cat', 'ls', 'readlink', 'echo', 'pwd', 'true']) symlinkSync('busybox', join(rootfs, 'bin', a));
  });
  afterEach(async () => {
    for (const r of live) {
      sys.pidfdSendSignal(r.pidfd, 9);
      await finish(r);
    }
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8'), mountsBefore, 'the host has no new mount');
    rmSync(dir, { recursive: true, force: true });
  });

  test('HOOKS_SYNC stops before pivot_root until the runtime says go; createContainer hooks then run in the container\'s mount namespace, in the rootfs', async () => {
    const r = start([
      ...setup(),
      op('HOOKS_SYNC'),
      ...hook('createContainer', 0, 'cat > run/state; pwd > run/pwd; readlink /proc/self/ns/mnt > run/mnt; echo "$0 $FOO" > run/argv', 0, ['FOO=bar']),
      op('PIVOT_ROOT'),
      ...command('cat /run/state; echo; cat /run/pwd /run/mnt /run/argv; readlink /proc/self/ns/mnt'),
    ]);
    assert.equal(await r.status.next(10_000), 'HOOKS');
    // stopped before pivot_root: its root is still the host's tree
    assert.equal(readlinkSync(`/proc/${r.pid}/root`), '/');
    writeSync(r.goAhead, 'C');
    assert.equal(await r.status.next(10_000), 'READY');
    assert.equal(await openFifo(r), '0');
    const { exit, stdout, stderr } = await finish(r);
    assert.equal(exit?.code, 0, stderr);
    const [state, pwd, hookMnt, argv, ownMnt] = stdout.split('\n');
    assert.deepEqual(JSON.parse(state ?? ''), { pid: r.pid, id: 't', status: 'creating' }, 'the state, with the helper\'s host pid');
    assert.equal(pwd, rootfs, 'cwd: the rootfs (as runc)');
    assert.equal(hookMnt, ownMnt, 'the container\'s mount namespace');
    assert.notEqual(hookMnt, readlinkSync('/proc/self/ns/mnt'));
    assert.equal(argv, 'sh bar', 'args[0] is argv[0]; env as given');
  });

  test('HOOKS_SYNC: end of file on the go-ahead pipe aborts the helper', async () => {
    const r = start([...setup(), op('HOOKS_SYNC'), op('PIVOT_ROOT'), ...command('true')]);
    assert.equal(await r.status.next(10_000), 'HOOKS');
    sys.close(r.goAhead);
    assert.equal(await r.status.next(10_000), 'ERR HOOKS_SYNC 125 wait runtime hooks');
    assert.equal((await finish(r)).exit?.code, 1);
  });

  test('a failing createContainer hook is reported with its status and stderr; one past its timeout is killed', async () => {
    let r = start([...setup(), ...hook('createContainer', 0, 'true'), ...hook('createContainer', 1, 'echo no >&2; exit 3'), op('PIVOT_ROOT'), ...command('true')]);
    assert.equal(await r.status.next(10_000), 'ERR HOOK 0 hooks.createContainer[1] exited with status 3: no');
    assert.equal((await finish(r)).exit?.code, 1);
    r = start([...setup(), ...hook('createContainer', 0, 'echo slow >&2; exec sleep 60', 1), op('PIVOT_ROOT'), ...command('true')]);
    assert.equal(await r.status.next(10_000), 'ERR HOOK 110 hooks.createContainer[0] timed out after 1s: slow');
    await finish(r); // the helper was pid 1 of the hook's pid namespace: nothing of it is left
    r = start([...setup(), op('HOOK', 'createContainer', 'hooks.createContainer[0]', '/no/such/hook', 0, '}'), op('PIVOT_ROOT'), ...command('true')]);
    assert.equal(await r.status.next(10_000), 'ERR HOOK 2 hooks.createContainer[0] exec /no/such/hook');
    await finish(r);
  });

  test('startContainer hooks run after the fifo handshake, before execve, with the container\'s credentials', async () => {
    const r = start([
      ...setup(), op('PIVOT_ROOT'),
      op('CREDS', 65534, 65534, '-', '0', '0', '0', '0', '0'),
      ...hook('startContainer', 0, 'cat > /run/state; id -u > /run/uid'),
      ...command('cat /run/state; echo; cat /run/uid'),
    ]);
    assert.equal(await r.status.next(10_000), 'READY');
    assert.equal(await openFifo(r), '0');
    const { exit, stdout, stderr } = await finish(r);
    assert.equal(exit?.code, 0, stderr);
    const [state, uid] = stdout.split('\n');
    assert.deepEqual(JSON.parse(state ?? ''), { pid: r.pid, id: 't', status: 'created' });
    assert.equal(uid, '65534');
  });

  test('a failing startContainer hook is reported in the exec fifo and the command never runs', async () => {
    const r = start([
      ...setup(), op('PIVOT_ROOT'),
      ...hook('startContainer', 0, 'true'),
      ...hook('startContainer', 1, 'echo "it broke" >&2; exit 9'),
      ...command('echo RAN'),
    ]);
    assert.equal(await r.status.next(10_000), 'READY');
    assert.equal(await openFifo(r), 'ERR HOOK 0 hooks.startContainer[1] exited with status 9: it broke\n');
    const { exit, stdout } = await finish(r);
    assert.equal(exit?.code, 1);
    assert.equal(stdout, '', 'the user process never ran');
  });

  test('CVE-2024-21626: a cwd through /proc/self/fd/<N> is refused for every fd the helper holds', async () => {
    for (let n = 0; n <= 9; n++) {
      const r = start([...setup(), op('PIVOT_ROOT'), op('CWD', `/proc/self/fd/${n}`), op('ARG', 'true'), op('EXEC')]);
      const line = await r.status.next(10_000);
      // ELOOP: the magic link is not followed; ENOENT: no such fd
      assert.match(line ?? '', new RegExp(`^ERR CWD (40|2) chdir /proc/self/fd/${n}$`), `fd ${n}`);
      await finish(r);
    }
  });

  test('CVE-2025-52881 class: a file bound over a sysctl cannot take its write (EXDEV)', async () => {
    const decoy = join(dir, 'decoy');
    writeFileSync(decoy, 'untouched\n');
    const r = start([
      ...setup(), op('BIND', decoy, '/proc/sys/kernel/domainname', MS_BIND), op('PIVOT_ROOT'),
      op('SYSCTL', 'kernel.domainname', 'evil'), ...command('true'),
    ]);
    assert.equal(await r.status.next(10_000), 'ERR SYSCTL 18 open /proc/sys/kernel/domainname');
    await finish(r);
    assert.equal(readFileSync(decoy, 'utf8'), 'untouched\n');
  });
});
