/**
 * berth-init's SECCOMP_*, PERSONALITY, IOPRIO and LSM label operations against the real kernel,
 * with hand-built plans in a busybox rootfs (the full path through create is in
 * test/e2e/seccomp.e2e.test.ts). Each run reaps the helper and closes every fd; the host's
 * mount table is unchanged after each test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeSync,
} from 'node:fs';
import { constants as fsc } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { hostLsm } from '../../src/effects/lsm.js';
import { initHelperPath, linuxSyscalls } from '../../src/effects/linux.js';
import { encodePlan, type PlanOp, type PlanOpName } from '../../src/effects/planWire.js';
import { drain, exited } from '../helpers/spawn.js';

const CLONE_NEWNS = 0x00020000, CLONE_NEWPID = 0x20000000, CLONE_NEWUTS = 0x04000000;
const MS_SLAVE = 1 << 19, MS_REC = 16384;
const O_PATH = 0o10000000;
const BUSYBOX = '/bin/busybox';
const ALLOW = 0x7fff0000, ERRNO = 0x00050000;

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

function plan(middle: PlanOp[], script: string): PlanOp[] {
  return [
    op('SETSID'), op('PROPAGATION', MS_REC | MS_SLAVE), op('ROOTFS', rootfs),
    op('MOUNT', 'proc', '/proc', 'proc', 0, '-'), op('PIVOT_ROOT'),
    ...middle,
    op('CWD', '/'), op('ENV', 'PATH=/bin'), op('ARG', 'sh'), op('ARG', '-c'), op('ARG', script),
  ];
}

/**
 * The helper's one status line. A blocking read: the helper writes it within the plan's few
 * operations, and after READY keeps the pipe open (it is close-on-exec) while it waits on the
 * fifo, so reading to EOF would wait for a start that never comes.
 */
function statusLine(fd: number): string {
  const buf = Buffer.alloc(1024);
  let line = '';
  while (!line.includes('\n')) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    line += buf.toString('utf8', 0, n);
  }
  return line;
}

interface Run { status: string; fifo: string | null; code: number | null; signal: number | null; stdout: string; stderr: string }

/**
 * Spawns the helper with fds [stdin, stdout, stderr, plan, status, fifo], reads its status
 * line, opens the fifo when it is READY, and collects everything once it exits.
 */
async function runInit(ops: PlanOp[]): Promise<Run> {
  const fifoPath = join(dir, 'exec.fifo');
  sys.mkfifo(fifoPath, 0o622);
  chmodSync(fifoPath, 0o622);
  const exe = sys.sealedCopy(initHelperPath());
  const planFd = sys.memfdCreate('berth-plan');
  const bytes = encodePlan(ops);
  assert.equal(writeSync(planFd, bytes), bytes.length);
  const stdin = openSync('/dev/null', 'r');
  const fifoFd = openSync(fifoPath, O_PATH);
  const [outR, outW] = sys.pipe();
  const [errR, errW] = sys.pipe();
  const [stR, stW] = sys.pipe();
  let child: { pid: number; pidfd: number };
  try {
    child = sys.spawn({ exe, argv: ['berth-init'], env: [], flags: CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS, fds: [stdin, outW, errW, planFd, stW, fifoFd], cgroupFd: -1 });
  } finally {
    for (const fd of [exe, planFd, outW, errW, stW]) sys.close(fd);
    closeSync(stdin);
    closeSync(fifoFd);
  }
  const exit = exited(sys, child.pidfd);
  const status = statusLine(stR);
  sys.close(stR);
  let fifo: string | null = null;
  if (status === 'READY\n') {
    const r = openSync(fifoPath, fsc.O_RDONLY | fsc.O_NONBLOCK);
    fifo = await new Promise<string>((resolve) => {
      sys.watchFd(r, () => {
        const b = Buffer.alloc(8);
        resolve(b.toString('utf8', 0, readSync(r, b, 0, 8, null)));
      });
    });
    closeSync(r);
  }
  const ws = await exit;
  sys.close(child.pidfd);
  rmSync(fifoPath);
  const stdout = drain(outR);
  const stderr = drain(errR);
  sys.close(outR);
  sys.close(errR);
  return { status, fifo, code: ws?.code ?? null, signal: ws?.signal ?? null, stdout, stderr };
}

describe('berth-init security operations', { skip, timeout: 60_000 }, () => {
  beforeEach(() => {
    mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8');
    dir = mkdtempSync(join(tmpdir(), 'berth-sec-'));
    rootfs = join(dir, 'rootfs');
    for (const d of ['bin', 'proc', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    for (const a of ['sh', 'grep', 'uname', 'ionice', 'linux32', 'linux64']) symlinkSync('busybox', join(rootfs, 'bin', a));
  });
  afterEach(() => {
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8'), mountsBefore, 'the host has no new mount');
    rmSync(dir, { recursive: true, force: true });
  });

  test('--print=libseccomp-version names the statically linked libseccomp', () => {
    const v = execFileSync(initHelperPath(), ['--print=libseccomp-version'], { encoding: 'utf8' });
    assert.match(v, /^2\.\d+\.\d+\n$/);
  });

  test('a deferred filter goes in after the fifo byte: a profile refusing write still reaches the command', async () => {
    const r = await runInit([
      ...plan([], 'echo unseen; exit 5'),
      op('SECCOMP_INIT', ALLOW, 0), op('SECCOMP_RULE', 'write', ERRNO | 1), op('SECCOMP_LOAD', 1), op('EXEC'),
    ]);
    assert.deepEqual([r.status, r.fifo, r.code, r.stdout], ['READY\n', '0', 5, '']);
  });

  test('an immediate filter is in force for the helper\'s next steps and for the command, argument conditions included', async () => {
    // personality(persona) with persona & 0xff == PER_LINUX32 (8) is refused with EACCES
    const r = await runInit([
      ...plan([op('SECCOMP_INIT', ALLOW, 0), op('SECCOMP_ARG', 0, 7, 0xff, 8), op('SECCOMP_RULE', 'personality', ERRNO | 13), op('SECCOMP_LOAD', 0)],
        'grep ^Seccomp: /proc/self/status; linux32 uname -m; linux64 uname -m && echo linux64-ok'),
      op('EXEC'),
    ]);
    assert.equal(r.status, 'READY\n');
    assert.match(r.stdout, /^Seccomp:\t2$/m);
    assert.match(r.stderr, /personality\(0x8\): Permission denied/, 'the masked argument matched');
    assert.match(r.stdout, /^linux64-ok$/m, 'another persona did not');
    const chdir = await runInit([...plan([op('SECCOMP_INIT', ALLOW, 0), op('SECCOMP_RULE', 'fchdir', ERRNO | 1), op('SECCOMP_LOAD', 0)], 'exit 0'), op('EXEC')]);
    // CWD enters the directory it resolved inside the root by fd
    assert.equal(chdir.status, 'ERR CWD 1 chdir /\n', 'installed before CWD, the filter refuses the helper\'s own fchdir');
  });

  test('unknown syscall names are skipped; bad arch names, missing SECCOMP_INIT and refused flags fail before READY', async () => {
    const ok = await runInit([...plan([], 'exit 0'), op('SECCOMP_INIT', ALLOW, 0), op('SECCOMP_RULE', 'no_such_syscall', ERRNO | 1), op('SECCOMP_LOAD', 1), op('EXEC')]);
    assert.deepEqual([ok.status, ok.code], ['READY\n', 0]);
    const cases: [PlanOp[], RegExp][] = [
      [[op('SECCOMP_INIT', ALLOW, 0), op('SECCOMP_ARCH', 'z80')], /^ERR SECCOMP_ARCH 22 seccomp_arch_resolve_name z80\n$/],
      [[op('SECCOMP_INIT', ALLOW, 0), op('SECCOMP_ARCH', 's390x')], /^ERR SECCOMP_ARCH 33 seccomp_arch_add s390x\n$/],
      [[op('SECCOMP_RULE', 'read', ALLOW)], /^ERR SECCOMP_RULE 22 seccomp_rule_add \(no SECCOMP_INIT\)\n$/],
      [[op('SECCOMP_INIT', ALLOW, 0), op('SECCOMP_RULE', 'read', ALLOW)], /^ERR SECCOMP_RULE 13 seccomp_rule_add read\n$/],
      [[op('SECCOMP_INIT', ALLOW, 128), op('SECCOMP_LOAD', 0)], /^ERR SECCOMP_LOAD 22 seccomp SECCOMP_SET_MODE_FILTER\n$/],
    ];
    for (const [middle, line] of cases) {
      const r = await runInit([...plan(middle, 'exit 0'), op('EXEC')]);
      assert.match(r.status, line);
      assert.equal(r.code, 1);
    }
  });

  test('a deferred filter the kernel refuses: READY is spent, so stderr says so and the exit is 127', async () => {
    const r = await runInit([...plan([], 'exit 0'), op('SECCOMP_INIT', ALLOW, 128), op('SECCOMP_LOAD', 1), op('EXEC')]);
    assert.deepEqual([r.status, r.fifo, r.code], ['READY\n', '0', 127]);
    assert.equal(r.stderr, 'ERR SECCOMP_LOAD 22 seccomp SECCOMP_SET_MODE_FILTER\n');
  });

  test('PERSONALITY and IOPRIO apply to the command; an invalid I/O class fails before READY', async () => {
    const r = await runInit([...plan([op('PERSONALITY', 8), op('IOPRIO', (2 << 13) | 6)], 'uname -m; ionice'), op('EXEC')]);
    assert.equal(r.status, 'READY\n');
    if (process.arch === 'x64') assert.match(r.stdout, /^i686$/m);
    assert.match(r.stdout, /^best-effort: prio 6$/m);
    const bad = await runInit([...plan([op('IOPRIO', 7 << 13)], 'exit 0'), op('EXEC')]);
    assert.equal(bad.status, `ERR IOPRIO 22 ioprio_set ${7 << 13}\n`);
  });

  const lsm = skip ? { apparmor: false, selinux: false } : hostLsm();
  test('APPARMOR_EXEC and SELINUX_EXEC write through the host procfs handle: refused by a kernel without the LSM', {
    skip: lsm.apparmor || lsm.selinux ? 'this host has an LSM that would accept the label' : false,
  }, async () => {
    const aa = await runInit([...plan([op('APPARMOR_EXEC', 'berth-test')], 'exit 0'), op('EXEC')]);
    assert.equal(aa.status, 'ERR APPARMOR_EXEC 22 write thread-self/attr/exec\n', 'no attr/apparmor: the shared attr file, which refuses');
    const se = await runInit([...plan([op('SELINUX_EXEC', 'system_u:system_r:container_t:s0')], 'exit 0'), op('EXEC')]);
    assert.equal(se.status, 'ERR SELINUX_EXEC 22 write thread-self/attr/exec\n');
  });
});
