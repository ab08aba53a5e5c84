/**
 * berth-init against the real kernel, spawned through the addon into new namespaces on a
 * busybox rootfs, with plans built by encodePlan. Each test checks the helper's one status
 * line, what the container's command saw, and that the host is left as it was: no new mount,
 * no process, no fd.
 */
import assert from 'node:assert/strict';
import {
  chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync,
  readSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { constants as fsc } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';

import { initHelperPath, linuxSyscalls } from '../../src/effects/linux.js';
import { encodePlan, type PlanOp, type PlanOpName } from '../../src/effects/planWire.js';
import type { WaitStatus } from '../../src/effects/syscalls.js';
import { readPty } from '../helpers/pty.js';
import { drain } from '../helpers/spawn.js';

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const NS = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET;
const MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_BIND = 4096, MS_REC = 16384;
const MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20;
const S_IFCHR = 0o020000;
const OPEN_TREE_CLONE = 1;
const MOUNT_ATTR_IDMAP = 0x100000;
const O_PATH = 0o10000000;
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'cat', 'ls', 'hostname', 'echo', 'pwd', 'id', 'grep', 'head', 'wc', 'touch', 'sleep', 'true'];

function missingFeature(): string | undefined {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  if (major < 5 || (major === 5 && minor < 11)) return 'requires Linux >= 5.11 (clone3, openat2 RESOLVE_IN_ROOT, close_range)';
  if (process.getuid?.() !== 0) return 'requires root (CAP_SYS_ADMIN for mount, pid, uts, ipc and net namespaces)';
  if (!existsSync(BUSYBOX)) return 'requires /bin/busybox (the busybox-static package)';
  return undefined;
}
const skip = missingFeature();
const sys = skip ? undefined! : linuxSyscalls();
/** Every capability this process may hold (its bounding set: a sandbox may lack some). */
const ALL_CAPS = skip ? '0' : BigInt('0x' + (/^CapBnd:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0')).toString();

/** A non-empty /proc file to mask: /proc/kcore when the kernel has it (not every kernel does). */
const MASKED_FILE = ['/proc/kcore', '/proc/timer_list', '/proc/keys'].find((f) => existsSync(f)) ?? '/proc/kcore';

const op = (name: PlanOpName, ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });

let dir = '';
let rootfs = '';
let mountsBefore = '';

/** A busybox rootfs: bin/busybox plus applet symlinks, and empty proc, dev, sys, tmp, etc. */
function makeRootfs(): void {
  dir = mkdtempSync(join(tmpdir(), 'berth-init-'));
  rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
}

/** The usual start of a plan: session, private propagation, rootfs, /proc, a tmpfs /dev with null. */
function setup(): PlanOp[] {
  return [
    op('SETSID'),
    op('PROPAGATION', MS_REC | MS_SLAVE),
    op('ROOTFS', rootfs),
    op('MOUNT', 'proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, '-'),
    op('MOUNT', 'tmpfs', '/dev', 'tmpfs', MS_NOSUID, 'mode=755,size=1m'),
    op('MKNOD', '/dev/null', S_IFCHR | 0o666, 1, 3, 0, 0),
  ];
}

function command(script: string): PlanOp[] {
  return [op('CWD', '/'), op('ENV', 'PATH=/bin'), op('ARG', 'sh'), op('ARG', '-c'), op('ARG', script), op('EXEC')];
}

function readable(fd: number): Promise<void> {
  return new Promise((resolve) => { sys.watchFd(fd, resolve); });
}

/** Reads from a non-blocking fd (watchFd made it so) until the first newline or EOF. */
async function readLine(fd: number): Promise<string> {
  const buf = Buffer.alloc(1024);
  let line = '';
  for (;;) {
    await readable(fd);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0) return line;
    line += buf.toString('utf8', 0, n);
    if (line.includes('\n')) return line;
  }
}

interface Started {
  pid: number;
  pidfd: number;
  status: string;
  fifoPath: string;
  outR: number;
  errR: number;
}

interface InitRun {
  status: string;
  /** The byte read from the exec fifo once the helper was READY, else null. */
  fifo: string | null;
  exit: WaitStatus | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawns berth-init from a sealed copy into new namespaces with fds [stdin, stdout, stderr,
 * plan, status, fifo, ...extra] (extra[0] lands on fd 6, the control socket), the detached
 * mounts of MOVE_MOUNT from fd 8, and reads its status line.
 */
/** Helpers started and not yet finished: a failed assertion must not leave one blocked. */
const live = new Set<Started>();

async function startInit(plan: Buffer | PlanOp[], extra: number[] = [], mountFds: number[] = []): Promise<Started> {
  // 0622 like runc's: a container whose user is not root must be able to open it for writing
  const fifoPath = join(dir, 'exec.fifo');
  sys.mkfifo(fifoPath, 0o622);
  chmodSync(fifoPath, 0o622); // whatever the umask
  const exe = sys.sealedCopy(initHelperPath());
  const planFd = sys.memfdCreate('berth-plan');
  const bytes = Buffer.isBuffer(plan) ? plan : encodePlan(plan);
  assert.equal(writeSync(planFd, bytes), bytes.length);
  const stdin = openSync('/dev/null', 'r');
  const fifoPathFd = openSync(fifoPath, O_PATH);
  const [outR, outW] = sys.pipe();
  const [errR, errW] = sys.pipe();
  const [stR, stW] = sys.pipe();
  let child: { pid: number; pidfd: number };
  try {
    // MOVE_MOUNT's fds start at 8 (fds 6 and 7 stay empty unless given)
    const above = mountFds.length > 0 ? [...extra, -1, -1].slice(0, 2).concat(mountFds) : extra;
    child = sys.spawn({ exe, argv: ['berth-init'], env: [], flags: NS, fds: [stdin, outW, errW, planFd, stW, fifoPathFd, ...above], cgroupFd: -1 });
  } finally {
    for (const fd of [exe, planFd, outW, errW, stW]) sys.close(fd);
    closeSync(stdin);
    closeSync(fifoPathFd);
  }
  const started = { ...child, status: '', fifoPath, outR, errR };
  live.add(started);
  started.status = await readLine(stR);
  sys.close(stR);
  return started;
}

/**
 * Opens the exec fifo if the helper is READY and reads its byte (unless the helper dies first:
 * then no writer ever comes), waits for the exit, closes and reaps everything.
 */
async function finish(s: Started): Promise<InitRun> {
  live.delete(s);
  const exited = new Promise<WaitStatus | null>((resolve) => {
    sys.watchFd(s.pidfd, () => resolve(sys.waitid(s.pidfd)));
  });
  let fifo: string | null = null;
  if (s.status === 'READY\n') {
    const fifoR = openSync(s.fifoPath, fsc.O_RDONLY | fsc.O_NONBLOCK);
    let stop = () => undefined as void;
    const byte = new Promise<string | null>((resolve) => {
      stop = sys.watchFd(fifoR, () => {
        const b = Buffer.alloc(8);
        resolve(b.toString('utf8', 0, readSync(fifoR, b, 0, 8, null)));
      });
    });
    fifo = await Promise.race([byte, exited.then(() => null)]);
    stop();
    // a command that exits at once may be reaped before the fifo's watch fires: the byte is
    // still in the fifo, which we hold open
    if (fifo === null) {
      const b = Buffer.alloc(8);
      try {
        fifo = b.toString('utf8', 0, readSync(fifoR, b, 0, 8, null)) || null;
      } catch {
        fifo = null; // EAGAIN: nothing was written
      }
    }
    closeSync(fifoR);
  }
  const exit = await exited;
  assert.notEqual(exit, null, 'the helper was reaped');
  sys.close(s.pidfd);
  // it was pid 1 of its pid namespace: with it, every process of the container is gone
  assert.equal(existsSync(`/proc/${s.pid}`), false, 'no process is left');
  const stdout = drain(s.outR);
  const stderr = drain(s.errR);
  sys.close(s.outR);
  sys.close(s.errR);
  rmSync(s.fifoPath);
  return { status: s.status, fifo, exit, stdout, stderr };
}

async function runInit(plan: Buffer | PlanOp[], mountFds: number[] = []): Promise<InitRun> {
  return finish(await startInit(plan, [], mountFds));
}

/** Output lines "key=value" as a record. */
function fields(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** A user namespace fd with these maps, from a holder process that is killed and reaped. */
async function usernsWith(uidMap: string, gidMap: string): Promise<number> {
  const holder = sys.spawnUsernsHolder();
  try {
    writeFileSync(`/proc/${holder.pid}/uid_map`, uidMap);
    writeFileSync(`/proc/${holder.pid}/setgroups`, 'deny');
    writeFileSync(`/proc/${holder.pid}/gid_map`, gidMap);
    return openSync(`/proc/${holder.pid}/ns/user`, 'r');
  } finally {
    sys.pidfdSendSignal(holder.pidfd, 9);
    await new Promise<void>((resolve) => { sys.watchFd(holder.pidfd, resolve); });
    sys.waitid(holder.pidfd);
    sys.close(holder.pidfd);
  }
}

describe('berth-init', { skip }, () => {
  beforeEach(() => {
    mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8');
    makeRootfs();
  });
  afterEach(async () => {
    for (const s of live) {
      // a test failed half-way: kill and reap what it left, then report the mounts anyway
      sys.pidfdSendSignal(s.pidfd, 9);
      await finish(s);
    }
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8'), mountsBefore, 'the host has no new mount');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a full plan reports READY, waits on the fifo, then runs the command as configured', async () => {
    writeFileSync(join(rootfs, 'tmp/host-marker'), 'x');
    const script = [
      // first, and with no redirection: the shell keeps fds of its own for those
      'ls /proc/$$/fd; echo fds-end',
      'echo "hostname=$(hostname)"',
      'echo "pid=$$"',
      `echo "masked=$(head -c 16 ${MASKED_FILE} | wc -c)"`,
      `echo "masked_exists=$(test -e ${MASKED_FILE} && echo yes)"`,
      'echo "fw=$(ls -A /sys/firmware | wc -l)"',
      'echo "sysw=$( (echo x > /proc/sys/kernel/domainname) 2>&1)"',
      'echo "cwd=$(pwd)"',
      'echo "null=$(test -c /dev/null && echo chr)"',
      'echo "fd=$(ls -l /dev/fd | grep -o "> .*")"',
      'echo "env=$PATH|$HOME"',
      'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status | while read k v; do echo "${k%:}=$v"; done',
      'exit 7',
    ].join('\n');
    const r = await runInit([
      ...setup(),
      op('MOUNT', 'sysfs', '/sys', 'sysfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, '-'),
      op('SYMLINK', '/proc/self/fd', '/dev/fd'),
      op('PIVOT_ROOT'),
      op('MASK', '/proc/kcore'),
      op('MASK', MASKED_FILE),
      op('MASK', '/sys/firmware'),
      op('MASK', '/proc/does-not-exist'),
      op('READONLY', '/proc/sys'),
      op('HOSTNAME', 'berth-test'),
      op('CREDS', 0, 0, '-', ALL_CAPS, ALL_CAPS, ALL_CAPS, 0, '-'),
      op('CWD', '/tmp'),
      op('ENV', 'PATH=/bin'),
      op('ENV', 'HOME=/root'),
      op('ARG', 'sh'), op('ARG', '-c'), op('ARG', script),
      op('EXEC'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.equal(r.fifo, '0');
    assert.deepEqual(r.exit?.code, 7, r.stderr);
    const f = fields(r.stdout);
    assert.equal(f.hostname, 'berth-test');
    assert.equal(f.pid, '1');
    assert.equal(f.masked_exists, 'yes');
    assert.equal(f.masked, '0', `${MASKED_FILE} is masked`);
    assert.equal(f.fw, '0', '/sys/firmware is an empty tmpfs');
    assert.match(f.sysw ?? '', /Read-only file system/);
    assert.equal(f.cwd, '/tmp');
    assert.ok(r.stdout.startsWith('0\n1\n2\nfds-end\n'), `only stdio reaches the command: ${r.stdout}`);
    assert.equal(f.null, 'chr');
    assert.equal(f.fd, '> /proc/self/fd');
    assert.equal(f.env, '/bin|/root');
    const hex = BigInt(ALL_CAPS).toString(16).padStart(16, '0');
    assert.equal(f.CapEff, hex);
    assert.equal(f.CapPrm, hex);
    assert.equal(f.CapBnd, hex);
    assert.equal(f.CapInh, '0'.repeat(16));
    assert.equal(f.CapAmb, '0'.repeat(16));
  });

  test('the helper blocks on the exec fifo until it is opened for reading', async () => {
    const started = await startInit([...setup(), op('PIVOT_ROOT'), ...command('echo ran > /tmp/ran; echo ran')]);
    assert.equal(started.status, 'READY\n');
    // CVE-2019-5736: it runs from the sealed memfd, not from the host binary
    assert.match(readlinkSync(`/proc/${started.pid}/exe`), /^\/memfd:berth-init/);
    assert.equal(readFileSync(`/proc/${started.pid}/comm`, 'utf8'), 'berth-init\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sys.waitid(started.pidfd), null, 'still waiting');
    assert.equal(existsSync(join(rootfs, 'tmp/ran')), false, 'the command has not run');
    const r = await finish(started);
    assert.equal(r.fifo, '0');
    assert.equal(r.stdout, 'ran\n');
    assert.equal(existsSync(join(rootfs, 'tmp/ran')), true);
  });

  test('CREDS switches user and groups and keeps exactly the requested capability sets', async () => {
    const CHOWN = 1n << 0n, KILL = 1n << 5n, NET_BIND = 1n << 10n;
    const set = (CHOWN | KILL | NET_BIND).toString();
    const r = await runInit([
      ...setup(),
      op('PIVOT_ROOT'),
      op('CREDS', 1000, 1000, '1000,1001', set, set, set, NET_BIND.toString(), NET_BIND.toString()),
      op('NO_NEW_PRIVS'),
      ...command('id; grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs)" /proc/self/status'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.equal(r.exit?.code, 0, r.stderr);
    assert.match(r.stdout, /^uid=1000 gid=1000 groups=1000,1001$/m);
    const hex = (n: bigint) => n.toString(16).padStart(16, '0');
    // after execve as non-root: permitted and effective are the ambient set
    assert.match(r.stdout, new RegExp(`^CapInh:\\s+${hex(NET_BIND)}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^CapPrm:\\s+${hex(NET_BIND)}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^CapEff:\\s+${hex(NET_BIND)}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^CapBnd:\\s+${hex(CHOWN | KILL | NET_BIND)}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^CapAmb:\\s+${hex(NET_BIND)}$`, 'm'));
    assert.match(r.stdout, /^NoNewPrivs:\s+1$/m);
  });

  test('BIND with MS_RDONLY mounts a host directory read-only inside the rootfs', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'hello'), 'from host\n');
    const r = await runInit([
      ...setup(),
      op('BIND', shared, '/mnt/shared', MS_BIND | MS_REC | MS_RDONLY),
      op('BIND', join(shared, 'hello'), '/etc/hello', MS_BIND),
      op('PROPAGATE', '/mnt/shared', MS_SHARED),
      op('PIVOT_ROOT'),
      ...command('cat /mnt/shared/hello /etc/hello; touch /mnt/shared/new 2>&1; echo rc=$?; grep " /mnt/shared " /proc/self/mountinfo'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.match(r.stdout, /^from host\nfrom host\n/);
    assert.match(r.stdout, /Read-only file system/);
    assert.match(r.stdout, /^rc=1$/m);
    assert.match(r.stdout, / \/mnt\/shared ro,[^ ]* shared:\d+ /, 'read-only and shared');
    assert.equal(existsSync(join(shared, 'new')), false);
  });

  test('SYSCTL writes the container\'s own namespaced sysctl', async () => {
    const host = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const value = host.trim() === '1' ? '0' : '1';
    const r = await runInit([
      ...setup(), op('PIVOT_ROOT'), op('SYSCTL', 'net.ipv4.ip_forward', value), op('READONLY', '/proc/sys'),
      ...command('cat /proc/sys/net/ipv4/ip_forward'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.equal(r.stdout, `${value}\n`);
    assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), host);
  });

  test('SYSCTL after READONLY /proc/sys fails with EROFS (initPlan must order it first)', async () => {
    const r = await runInit([
      ...setup(), op('PIVOT_ROOT'), op('READONLY', '/proc/sys'), op('SYSCTL', 'net.ipv4.ip_forward', '1'),
      ...command('true'),
    ]);
    assert.equal(r.status, 'ERR SYSCTL 30 open /proc/sys/net/ipv4/ip_forward\n');
  });

  test('a symlink in the rootfs cannot send a mount outside it', async () => {
    const name = `berth-escape-${process.pid}-${Date.now()}`;
    symlinkSync('/', join(rootfs, 'evil'));
    symlinkSync('../../../../../..', join(rootfs, 'evil2'));
    writeFileSync(join(rootfs, 'tmp/host-marker'), 'x');
    const r = await runInit([
      ...setup(),
      op('MOUNT', 'tmpfs', '/evil/tmp', 'tmpfs', 0, '-'),
      op('MOUNT', 'tmpfs', `/evil2/${name}`, 'tmpfs', 0, '-'),
      op('PIVOT_ROOT'),
      ...command(`ls -A /tmp; echo marker-hidden; grep -c " /${name} .* tmpfs " /proc/self/mountinfo`),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.equal(r.stdout, 'marker-hidden\n1\n', 'the tmpfs landed on the rootfs /tmp and /<name>');
    assert.equal(existsSync(`/${name}`), false, 'nothing was created on the host root');
    assert.equal(existsSync(join(rootfs, name)), true, 'the directory was created inside the rootfs');
  });

  test('MASK refuses a /dev/null that is not the 1:3 character device', async () => {
    const r = await runInit([
      op('SETSID'), op('PROPAGATION', MS_REC | MS_SLAVE), op('ROOTFS', rootfs),
      op('MOUNT', 'proc', '/proc', 'proc', 0, '-'),
      op('MOUNT', 'tmpfs', '/dev', 'tmpfs', 0, '-'),
      op('SYMLINK', '/proc/sys/kernel/core_pattern', '/dev/null'),
      op('PIVOT_ROOT'),
      op('MASK', MASKED_FILE),
      ...command('true'),
    ]);
    assert.equal(r.status, 'ERR MASK 19 verify /dev/null (must be char 1:3)\n');
    assert.deepEqual(r.exit, { pid: r.exit?.pid, code: 1, signal: null });
  });

  test('a MOUNT of an unknown filesystem type fails with ENODEV', async () => {
    const r = await runInit([...setup(), op('MOUNT', 'none', '/x', 'nosuchfs', 0, '-'), op('PIVOT_ROOT'), ...command('true')]);
    assert.equal(r.status, 'ERR MOUNT 19 mount /x\n');
    assert.equal(r.exit?.code, 1);
    assert.equal(r.fifo, null);
  });

  test('EXEC of a missing binary fails with ENOENT before READY', async () => {
    const r = await runInit([...setup(), op('PIVOT_ROOT'), op('ENV', 'PATH=/bin:/usr/bin'), op('ARG', 'nosuch'), op('EXEC')]);
    assert.equal(r.status, 'ERR EXEC 2 resolve nosuch\n');
    assert.equal(r.exit?.code, 1);
  });

  test('EXEC of a file without execute permission fails with EACCES', async () => {
    writeFileSync(join(rootfs, 'bin/noexec'), '#!/bin/sh\n', { mode: 0o644 });
    const r = await runInit([...setup(), op('PIVOT_ROOT'), op('ENV', 'PATH=/bin'), op('ARG', 'noexec'), op('EXEC')]);
    assert.equal(r.status, 'ERR EXEC 13 resolve noexec\n');
  });

  test('an execve failure after READY goes to stderr with exit 127', async () => {
    writeFileSync(join(rootfs, 'bin/garbage'), 'not an executable\n', { mode: 0o755 });
    const r = await runInit([...setup(), op('PIVOT_ROOT'), op('ARG', '/bin/garbage'), op('EXEC')]);
    assert.equal(r.status, 'READY\n');
    assert.equal(r.stderr, 'ERR EXEC 8 /bin/garbage\n');
    assert.equal(r.exit?.code, 127);
  });

  test('CWD to a missing directory fails', async () => {
    const r = await runInit([...setup(), op('PIVOT_ROOT'), op('CWD', '/nope'), op('ARG', 'true'), op('EXEC')]);
    assert.equal(r.status, 'ERR CWD 2 chdir /nope\n');
  });

  test('a plan with a bad magic is refused before any operation', async () => {
    const plan = encodePlan([...setup(), ...command('true')]);
    plan.write('BERTH-PLAX', 0, 'latin1');
    const r = await runInit(plan);
    assert.equal(r.status, 'ERR PLAN 22 bad magic\n');
    assert.equal(r.exit?.code, 1);
  });

  test('malformed plans name what is wrong', async () => {
    const cases: [Buffer, string][] = [
      [encodePlan([op('HOSTNAME', 'x'), op('ARG', 'true'), op('EXEC'), op('ARG', 'x')]), 'EXEC is not last'],
      [encodePlan([op('ARG', 'true')]), 'no EXEC'],
      [encodePlan([op('EXEC')]), 'no ARG'],
      [encodePlan([op('RLIMIT', 7, 'lots', 10), op('ARG', 'true'), op('EXEC')]), 'RLIMIT: bad argument 2'],
      [encodePlan([op('MOUNT', 'tmpfs', 'relative', 'tmpfs', 0, '-'), op('ARG', 'true'), op('EXEC')]), 'MOUNT: bad argument 2'],
      [encodePlan([{ op: 'FROB' as PlanOpName, args: [] }, op('ARG', 'true'), op('EXEC')]), 'FROB: unknown operation'],
      [encodePlan([{ op: 'HOSTNAME', args: [] }, op('ARG', 'true'), op('EXEC')]), 'HOSTNAME: wrong argument count'],
      [encodePlan([op('ARG', 'true'), op('EXEC')]).subarray(0, -2), 'bad END record'],
      [Buffer.from('BERTH-PLAN\x002\x00END\x000\x00'), 'unsupported version'],
    ];
    for (const [plan, what] of cases) {
      const r = await runInit(plan);
      assert.equal(r.status, `ERR PLAN 22 ${what}\n`);
    }
  });

  test('RLIMIT, OOM_SCORE_ADJ, UMASK and DOMAINNAME apply to the command', async () => {
    const RLIMIT_NOFILE = 7;
    const r = await runInit([
      ...setup(), op('PIVOT_ROOT'),
      op('DOMAINNAME', 'berth.example'),
      op('RLIMIT', RLIMIT_NOFILE, 123, 456),
      op('OOM_SCORE_ADJ', 500),
      op('UMASK', '0027'),
      ...command('cat /proc/sys/kernel/domainname /proc/self/oom_score_adj; grep "open files" /proc/self/limits; umask'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'berth.example');
    assert.equal(lines[1], '500');
    assert.match(lines[2] ?? '', /^Max open files\s+123\s+456\s+files/);
    assert.equal(lines[3], '0027');
  });

  test('ROOT_READONLY makes the rootfs read-only for the command only', async () => {
    const r = await runInit([
      ...setup(), op('MOUNT', 'tmpfs', '/tmp', 'tmpfs', 0, '-'), op('PIVOT_ROOT'), op('ROOT_READONLY'),
      ...command('touch /etc/x 2>&1; touch /tmp/ok && echo tmp-ok'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.match(r.stdout, /Read-only file system/);
    assert.match(r.stdout, /^tmp-ok$/m);
    assert.equal(existsSync(join(rootfs, 'etc/x')), false);
  });

  /** A devpts of its own at /dev/pts (as the default spec mounts it), /dev/tty and /dev/ptmx. */
  const devpts = (): PlanOp[] => [
    op('MOUNT', 'devpts', '/dev/pts', 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5'),
    op('MKNOD', '/dev/tty', S_IFCHR | 0o666, 5, 0, 0, 0),
    op('SYMLINK', 'pts/ptmx', '/dev/ptmx'),
  ];

  test('TERMINAL: a pty of the container\'s devpts becomes its stdio and controlling terminal; the master comes over fd 6', async () => {
    const [ours, theirs] = sys.socketpair();
    try {
      const script = [
        'ls -1 /proc/$$/fd; echo fds-end', // first, with no redirection
        'tty', 'test -t 0 && test -t 1 && test -t 2 && echo stdio-tty', 'stty size',
        'echo ctty-ok > /dev/tty', // opening /dev/tty needs a controlling terminal
        'busybox stat -c "owner=%u group=%g" $(tty)',
        'busybox stat -c "pty=%d:%i" $(tty)', 'busybox stat -L -c "console=%d:%i" /dev/console',
        'busybox stat -c "devpts=%d" /dev/pts',
      ].join('\n');
      const started = await startInit([
        ...setup(), ...devpts(), op('PIVOT_ROOT'),
        op('TERMINAL', 1000, 33, 101, 1),
        op('CREDS', 1000, 1000, '-', 0, 0, 0, 0, 0),
        ...command(script),
      ], [theirs]);
      sys.close(theirs);
      assert.equal(started.status, 'READY\n', drain(started.errR));
      const m = sys.recvFds(ours);
      assert.equal(m.data.toString(), 'console');
      assert.equal(m.fds.length, 1);
      assert.deepEqual(sys.recvFds(ours), { data: Buffer.alloc(0), fds: [] }, 'the helper closed its end before READY');
      const pty = readPty(m.fds[0]!);
      const r = await finish(started);
      assert.equal(r.exit?.code, 0, r.stderr);
      assert.equal(r.stdout, '', 'the command\'s output went to the pty');
      const out = await pty.output;
      const f = fields(out);
      assert.ok(out.startsWith('0\n1\n2\nfds-end\n'), `only stdio reaches the command: ${out}`);
      assert.match(out, /^\/dev\/pts\/0$/m);
      assert.match(out, /^stdio-tty$/m);
      assert.match(out, /^33 101$/m, 'the window size');
      assert.match(out, /^ctty-ok$/m);
      assert.match(out, /^owner=1000 group=5$/m, 'the pty belongs to the process\'s user; its group stays the devpts gid');
      assert.equal(f.pty, f.console, '/dev/console is the pty');
      assert.equal(f.pty?.split(':')[0], f.devpts, 'the pty is on the container\'s devpts');
      assert.notEqual(f.devpts, String(statSync('/dev/pts').dev), 'not the host\'s');
    } finally {
      sys.close(ours);
    }
  });

  test('TERMINAL refuses a /dev/pts/ptmx that is not the ptmx of a devpts (symlink or fake node)', async () => {
    const fake = await runInit([
      ...setup(), op('MKNOD', '/dev/pts/ptmx', S_IFCHR | 0o666, 5, 2, 0, 0), op('PIVOT_ROOT'),
      op('TERMINAL', 0, 0, 0, 1), ...command('true'),
    ]);
    assert.equal(fake.status, 'ERR TERMINAL 19 verify /dev/pts/ptmx (not the ptmx of a devpts mount)\n');
    const link = await runInit([
      ...setup(), op('MKNOD', '/dev/ptmx', S_IFCHR | 0o666, 5, 2, 0, 0), op('SYMLINK', '../ptmx', '/dev/pts/ptmx'),
      op('PIVOT_ROOT'), op('TERMINAL', 0, 0, 0, 1), ...command('true'),
    ]);
    assert.equal(link.status, 'ERR TERMINAL 19 verify /dev/pts/ptmx (not the ptmx of a devpts mount)\n', 'the link itself, not followed');
  });

  test('TERMINAL without a control socket fails before READY', async () => {
    const r = await runInit([...setup(), ...devpts(), op('PIVOT_ROOT'), op('TERMINAL', 0, 0, 0, 0), ...command('true')]);
    assert.equal(r.status, 'ERR TERMINAL 9 send console\n');
  });

  test('MOVE_MOUNT attaches a detached idmapped tree passed as fd 8, then applies its flags', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'hello'), 'from host\n');
    chownSync(join(shared, 'hello'), 1000, 1000);
    const tree = sys.openTree(shared, OPEN_TREE_CLONE);
    try {
      const ns = await usernsWith('1000 4000 1\n', '1000 4001 1\n');
      try {
        sys.mountSetattr(tree, 0, { attrSet: MOUNT_ATTR_IDMAP, attrClr: 0, propagation: 0, usernsFd: ns });
      } finally {
        closeSync(ns);
      }
      const r = await runInit([
        ...setup(),
        op('MOVE_MOUNT', 8, '/mnt/shared', MS_BIND | MS_RDONLY),
        op('PIVOT_ROOT'),
        ...command('cat /mnt/shared/hello; ls -ln /mnt/shared; touch /mnt/shared/x 2>&1; ls /proc/self/fd | wc -l'),
      ], [tree]);
      assert.equal(r.status, 'READY\n', r.stderr);
      assert.match(r.stdout, /^from host$/m);
      assert.match(r.stdout, /^-rw-r--r--\s+1 4000\s+4001\s+10 /m, 'host 1000:1000 seen through the idmap');
      assert.match(r.stdout, /Read-only file system/);
      assert.match(r.stdout, /^4$/m, 'fd 8 was closed once attached (0-2 and ls\'s own)');
    } finally {
      sys.close(tree);
    }
  });

  test('MOVE_MOUNT refuses an fd below 7', async () => {
    const r = await runInit([...setup(), op('MOVE_MOUNT', 5, '/mnt', MS_BIND), op('PIVOT_ROOT'), ...command('true')]);
    assert.equal(r.status, 'ERR MOVE_MOUNT 9 fd 5\n');
  });

  test('MOUNT_SETATTR with AT_RECURSIVE makes a nested mount read-only too', async () => {
    const r = await runInit([
      ...setup(),
      op('MOUNT', 'tmpfs', '/mnt', 'tmpfs', 0, '-'),
      op('MOUNT', 'tmpfs', '/mnt/sub', 'tmpfs', 0, '-'),
      op('MOUNT_SETATTR', '/mnt', 0x1 /* MOUNT_ATTR_RDONLY */ | 0x8 /* NOEXEC */, 0),
      op('PIVOT_ROOT'),
      ...command('touch /mnt/sub/x 2>&1; grep " /mnt/sub " /proc/self/mountinfo'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.match(r.stdout, /touch: \/mnt\/sub\/x: Read-only file system/);
    assert.match(r.stdout, / \/mnt\/sub ro,[^ ]*noexec/);
  });

  test('TMPCOPYUP copies the covered directory (files, modes, owners, symlinks, subdirectories) into the tmpfs', async () => {
    mkdirSync(join(rootfs, 'etc/sub'));
    writeFileSync(join(rootfs, 'etc/motd'), 'hello\n');
    writeFileSync(join(rootfs, 'etc/sub/secret'), 's');
    chmodSync(join(rootfs, 'etc/sub/secret'), 0o600);
    chownSync(join(rootfs, 'etc/sub/secret'), 1234, 5678);
    chmodSync(join(rootfs, 'etc/sub'), 0o710);
    symlinkSync('motd', join(rootfs, 'etc/link'));
    const r = await runInit([
      ...setup(),
      op('TMPCOPYUP', 'tmpfs', '/etc', 'tmpfs', MS_NOSUID, 'mode=755'),
      op('PIVOT_ROOT'),
      ...command('grep " /etc " /proc/self/mountinfo | grep -c tmpfs; cat /etc/link; ls -ln /etc/sub /etc | grep -E "secret|sub|link"; touch /etc/new && echo new'),
    ]);
    assert.equal(r.status, 'READY\n', r.stderr);
    assert.match(r.stdout, /^1\nhello\n/);
    assert.match(r.stdout, /^-rw-------\s+1 1234\s+5678\s+1 .* secret$/m);
    assert.match(r.stdout, /^drwx--x---\s+2 0\s+0\s+.* sub$/m);
    assert.match(r.stdout, /^lrwxrwxrwx\s+1 0\s+0\s+4 .* link -> motd$/m);
    assert.match(r.stdout, /^new$/m);
    assert.equal(existsSync(join(rootfs, 'etc/new')), false, 'written to the tmpfs, not the image');
  });
});
