/**
 * berth-init's namespace operations and fork against the real kernel (plan.h): WAIT, SETNS (a
 * namespace file, a pidfd), UNSHARE, TIMENS_OFFSET, FORK (CLONE_PARENT: we are the child's
 * parent) and EXEC_NOW. The plans run the host's busybox without a rootfs of their own; each
 * test reaps every process it made and closes every fd.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn as spawnChild } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readlinkSync, readSync, statSync, writeSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { initHelperPath, linuxSyscalls } from '../../src/effects/linux.js';
import { encodePlan, type PlanOp, type PlanOpName } from '../../src/effects/planWire.js';
import type { WaitStatus } from '../../src/effects/syscalls.js';
import { drain, exited } from '../helpers/spawn.js';

const CLONE_NEWTIME = 0x80, CLONE_NEWNS = 0x20000, CLONE_NEWUTS = 0x04000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;
const op = (name: PlanOpName, ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });
const sh = (script: string): PlanOp[] => [op('CWD', '/'), op('ENV', 'PATH=/bin:/usr/bin:/sbin:/usr/sbin'), op('ARG', 'busybox'), op('ARG', 'sh'), op('ARG', '-c'), op('ARG', script)];

const skip = process.getuid?.() !== 0 ? 'requires root (namespaces)' : !existsSync('/bin/busybox') ? 'requires /bin/busybox (busybox-static)' : undefined;
const sys = skip ? undefined! : linuxSyscalls();
let fdsBefore: string[] = [];
const fdList = () => readdirSync('/proc/self/fd').sort();
before(() => { fdsBefore = fdList(); });
after(() => {
  // Every fd a test opened is closed (the readdir's own fd comes and goes).
  const extra = fdList().filter((f) => !fdsBefore.includes(f));
  assert.ok(extra.length <= 1, `fds left open: ${extra.join(' ')}`);
});

interface Run {
  lines: string[];
  /** Exit of the process that ran the command (the forked child when the plan forks). */
  exit: WaitStatus | null;
  helperExit: WaitStatus | null;
  stdout: string;
  stderr: string;
}

/** Reads status lines (non-blocking fd, watched on the loop) until end of file. */
async function statusLines(fd: number): Promise<string[]> {
  const buf = Buffer.alloc(256);
  let text = '';
  for (;;) {
    await new Promise<void>((resolve) => { sys.watchFd(fd, resolve); });
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0) return text.split('\n').filter(Boolean);
    text += buf.toString('utf8', 0, n);
  }
}

/**
 * Spawn berth-init (no namespaces of its own) with fds 0-4 as usual, `go` (a pipe's read end)
 * at 5, /dev/null at 6 and `extra` from 7; `beforeGo` runs with the helper's pid before the go
 * byte is written (when `go` is used).
 */
async function runPlan(ops: PlanOp[], opts: { extra?: number[]; go?: 'byte' | 'eof'; flags?: number } = {}): Promise<Run> {
  const exe = sys.sealedCopy(initHelperPath());
  const planFd = sys.memfdCreate('berth-plan');
  writeSync(planFd, encodePlan(ops));
  const nul = openSync('/dev/null', 'r');
  const [outR, outW] = sys.pipe();
  const [errR, errW] = sys.pipe();
  const [stR, stW] = sys.pipe();
  const [goR, goW] = sys.pipe();
  let helper: { pid: number; pidfd: number };
  try {
    helper = sys.spawn({ exe, argv: ['berth-init'], env: [], flags: opts.flags ?? 0, fds: [nul, outW, errW, planFd, stW, goR, nul, ...(opts.extra ?? [])], cgroupFd: -1 });
  } finally {
    for (const fd of [exe, planFd, outW, errW, stW, goR]) sys.close(fd);
    closeSync(nul);
  }
  if (opts.go === 'byte') writeSync(goW, 'g');
  sys.close(goW);
  const helperDone = exited(sys, helper.pidfd);
  const lines = await statusLines(stR);
  sys.close(stR);
  const helperExit = await helperDone;
  sys.close(helper.pidfd);
  let exit = helperExit;
  const pidLine = lines.find((l) => l.startsWith('PID '));
  if (pidLine) {
    const pidfd = sys.pidfdOpen(Number(pidLine.slice(4)));
    exit = await exited(sys, pidfd);
    sys.close(pidfd);
  }
  const stdout = drain(outR);
  const stderr = drain(errR);
  sys.close(outR);
  sys.close(errR);
  return { lines, exit, helperExit, stdout, stderr };
}

test('EXEC_NOW: READY then execve at once, in the runtime\'s namespaces; WAIT holds it until the go byte', { skip }, async () => {
  const r = await runPlan([op('WAIT', 5), ...sh('echo hi; readlink /proc/self/ns/pid'), op('EXEC_NOW')], { go: 'byte' });
  assert.deepEqual(r.lines, ['READY']);
  assert.deepEqual(r.exit, { pid: r.exit!.pid, code: 0, signal: null });
  assert.equal(r.stdout, `hi\n${readlinkSync('/proc/self/ns/pid')}\n`);
});

test('WAIT: end of file instead of the byte fails before anything runs (ECANCELED)', { skip }, async () => {
  const r = await runPlan([op('WAIT', 5), ...sh('echo ran'), op('EXEC_NOW')], { go: 'eof' });
  assert.deepEqual(r.lines, ['ERR WAIT 125 read go-ahead pipe']);
  assert.equal(r.stdout, '');
  assert.equal(r.exit?.code, 1);
});

test('UNSHARE + FORK: "PID <n>" first, the helper exits 0, the child is pid 1 of the new namespace and our child', { skip }, async () => {
  const r = await runPlan([op('UNSHARE', CLONE_NEWPID | CLONE_NEWNS), op('FORK'), op('SETSID'), ...sh('echo pid=$$'), op('EXEC_NOW')]);
  assert.match(r.lines[0] ?? '', /^PID \d+$/);
  assert.equal(r.lines[1], 'READY', 'the PID line always comes first');
  assert.deepEqual(r.helperExit?.code, 0);
  assert.equal(r.exit?.pid, Number(r.lines[0]!.slice(4)), 'waitid on the child worked: we are its parent');
  assert.equal(r.exit?.code, 0);
  assert.equal(r.stdout, 'pid=1\n');
});

test('FORK is refused in a helper that is pid 1 of a new pid namespace (EINVAL): the planner never asks it', { skip }, async () => {
  const r = await runPlan([op('FORK'), ...sh('true'), op('EXEC_NOW')], { flags: CLONE_NEWPID });
  assert.deepEqual(r.lines, ['ERR FORK 22 clone3 CLONE_PARENT']);
});

test('TIMENS_OFFSET: offsets written before the fork are what the child sees', { skip: skip ?? (existsSync('/proc/self/ns/time') ? undefined : 'requires time namespaces (CONFIG_TIME_NS)') }, async () => {
  const r = await runPlan([
    op('UNSHARE', CLONE_NEWTIME), op('TIMENS_OFFSET', 1, 86400, 0), op('TIMENS_OFFSET', 7, -1, 500), op('FORK'),
    ...sh('cat /proc/self/timens_offsets'), op('EXEC_NOW'),
  ]);
  assert.equal(r.lines[1], 'READY', r.lines.join('|'));
  assert.match(r.stdout, /^monotonic\s+86400\s+0$/m);
  assert.match(r.stdout, /^boottime\s+-1\s+500$/m);
});

test('SETNS of a namespace file: joins a network namespace made by ip netns add', { skip }, async () => {
  const name = `berth-it-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  try {
    const fd = openSync(`/var/run/netns/${name}`, 'r');
    let r: Run;
    try {
      r = await runPlan([op('SETNS', 7, CLONE_NEWNET), ...sh('readlink /proc/self/ns/net'), op('EXEC_NOW')], { extra: [fd] });
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(r.lines, ['READY']);
    assert.equal(r.stdout.trim(), `net:[${statSync(`/var/run/netns/${name}`).ino}]`);
    // A namespace of the wrong type: the kernel checks the type (EINVAL).
    const fd2 = openSync(`/var/run/netns/${name}`, 'r');
    try {
      const bad = await runPlan([op('SETNS', 7, CLONE_NEWUTS), ...sh('true'), op('EXEC_NOW')], { extra: [fd2] });
      assert.deepEqual(bad.lines, ['ERR SETNS 22 setns fd 7']);
    } finally {
      closeSync(fd2);
    }
  } finally {
    execFileSync('ip', ['netns', 'del', name]);
  }
});

test('SETNS of a pidfd: joins several namespaces of that process at once', { skip }, async () => {
  const other = spawnChild('unshare', ['--uts', '--ipc', 'sleep', '100'], { stdio: 'ignore' });
  await new Promise((r) => other.once('spawn', r));
  // unshare(1) execs sleep once its namespaces are made
  let uts = readlinkSync(`/proc/${other.pid}/ns/uts`);
  for (let i = 0; i < 100 && uts === readlinkSync('/proc/self/ns/uts'); i++) {
    await new Promise((r) => setTimeout(r, 10));
    uts = readlinkSync(`/proc/${other.pid}/ns/uts`);
  }
  const pidfd = sys.pidfdOpen(other.pid!);
  try {
    const r = await runPlan([op('SETNS', 7, CLONE_NEWUTS | 0x08000000), ...sh('readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc'), op('EXEC_NOW')], { extra: [pidfd] });
    assert.deepEqual(r.lines, ['READY']);
    assert.equal(r.stdout, `${uts}\n${readlinkSync(`/proc/${other.pid}/ns/ipc`)}\n`);
  } finally {
    sys.close(pidfd);
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
  }
});

test('EXEC_NOW closes the fds from 7 on: the command sees only stdio', { skip }, async () => {
  const fd = openSync('/dev/null', 'r');
  try {
    const r = await runPlan([...sh('ls /proc/self/fd | tr "\\n" " "'), op('EXEC_NOW')], { extra: [fd] });
    assert.equal(r.stdout, '0 1 2 3 ', 'stdio, and the fd ls itself opened');
  } finally {
    closeSync(fd);
  }
});

test('a plan must end in EXEC or EXEC_NOW', { skip }, async () => {
  const r = await runPlan([...sh('true'), op('FORK')]);
  assert.deepEqual(r.lines, ['ERR PLAN 22 no EXEC']);
});

test('addon nsGetType: the CLONE_NEW* type of a namespace fd; ENOTTY for any other file', { skip }, () => {
  const net = openSync('/proc/self/ns/net', 'r');
  const uts = openSync('/proc/self/ns/uts', 'r');
  const nul = openSync('/dev/null', 'r');
  try {
    assert.equal(sys.nsGetType(net), CLONE_NEWNET);
    assert.equal(sys.nsGetType(uts), CLONE_NEWUTS);
    assert.throws(() => sys.nsGetType(nul), { code: 'ENOTTY', syscall: 'ioctl NS_GET_NSTYPE', errno: 25 });
  } finally {
    for (const fd of [net, uts, nul]) closeSync(fd);
  }
});
