/**
 * The built addon against the real kernel: errno shape, spawn with fd placement and namespaces,
 * exit watching on the loop, waitid, pidfd signals, sealed memfds. Every test closes every fd
 * and reaps every child it made.
 */
import assert from 'node:assert/strict';
import { closeSync, constants as fsc, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { linuxSyscalls } from '../../src/effects/linux.js';
import type { Spawned } from '../../src/effects/syscalls.js';
import { drain, exited } from '../helpers/spawn.js';

const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWPID = 0x20000000;
const O_CLOEXEC = 0o2000000;
const BUSYBOX = '/bin/busybox';

/** Why these tests cannot run here, naming the missing kernel feature, or undefined. */
function missingFeature(): string | undefined {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  if (major < 5 || (major === 5 && minor < 11)) return 'requires Linux >= 5.11 (clone3 with pidfds, close_range CLOSE_RANGE_CLOEXEC)';
  if (!existsSync(BUSYBOX)) return 'requires /bin/busybox (the busybox-static package)';
  return undefined;
}
const skip = missingFeature();
const rootSkip = skip ?? (process.getuid?.() === 0 ? undefined : 'requires root (CAP_SYS_ADMIN for CLONE_NEWPID)');

const sys = skip ? undefined! : linuxSyscalls();

/** The cgroup2 mount point (pure v2, or the "unified" one of a hybrid host), if any. */
function cgroup2Root(): string | undefined {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => / - cgroup2 /.test(l));
  return line?.split(' ')[4];
}
function cgroup2Skip(): string | undefined {
  return cgroup2Root() ? undefined : 'requires a cgroup2 hierarchy (CLONE_INTO_CGROUP)';
}

function isCloexec(fd: number): boolean {
  const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(m, `fdinfo of ${fd}`);
  return (parseInt(m[1]!, 8) & O_CLOEXEC) !== 0;
}

/**
 * Spawns busybox (from a sealed copy) with stdin /dev/null and stdout/stderr pipes, waits for
 * the exit, and returns what it printed. Closes and reaps everything.
 */
async function run(argv: string[], flags = 0, extraFds: number[] = []) {
  const exe = sys.sealedCopy(BUSYBOX);
  const stdin = openSync('/dev/null', 'r');
  const [outR, outW] = sys.pipe();
  const [errR, errW] = sys.pipe();
  let child: Spawned;
  try {
    child = sys.spawn({ exe, argv, env: ['PATH=/bin:/usr/bin'], flags, fds: [stdin, outW, errW, ...extraFds], cgroupFd: -1 });
  } finally {
    for (const fd of [exe, outW, errW]) sys.close(fd);
    closeSync(stdin);
  }
  const status = await exited(sys, child.pidfd);
  sys.close(child.pidfd);
  const stdout = drain(outR);
  const stderr = drain(errR);
  sys.close(outR);
  sys.close(errR);
  return { pid: child.pid, status, stdout, stderr };
}

describe('addon errors', { skip }, () => {
  test('a failed syscall throws an fs-shaped error with the errno name, number and syscall', () => {
    assert.throws(() => sys.pidfdSendSignal(987654, 0), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'EBADF');
      assert.equal(e.errno, 9);
      assert.equal(e.syscall, 'pidfd_send_signal');
      assert.equal(e.path, undefined);
      assert.equal(e.message, 'pidfd_send_signal: EBADF');
      return true;
    });
  });

  test('an error about a path carries the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-addon-'));
    try {
      const fifo = join(dir, 'f');
      sys.mkfifo(fifo, 0o600);
      assert.ok(statSync(fifo).isFIFO());
      assert.equal(statSync(fifo).mode & 0o777, 0o600);
      assert.throws(() => sys.mkfifo(fifo, 0o600), { code: 'EEXIST', errno: 17, syscall: 'mkfifo', path: fifo, message: `mkfifo ${fifo}: EEXIST` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('wrong argument types throw a TypeError naming the argument', () => {
    assert.throws(() => sys.close('3' as unknown as number), { name: 'TypeError', message: 'fd must be an int32' });
    assert.throws(() => sys.pidfdSendSignal(1.5, 0), { name: 'TypeError', message: 'pidfd must be an int32' });
    assert.throws(
      () => sys.spawn({ exe: 0, argv: ['x'], env: [], flags: 0x100 /* CLONE_VM */, fds: [], cgroupFd: -1 }),
      { name: 'TypeError', message: 'flags may only hold CLONE_NEW* bits' },
    );
  });

  test('close of a closed fd is EBADF', () => {
    const [r, w] = sys.pipe();
    sys.close(r);
    sys.close(w);
    assert.throws(() => sys.close(r), { code: 'EBADF', syscall: 'close' });
  });

  test('waitid on a process that is not our child is ECHILD', () => {
    const self = sys.pidfdOpen(process.pid);
    try {
      assert.throws(() => sys.waitid(self), { code: 'ECHILD', errno: 10, syscall: 'waitid' });
    } finally {
      sys.close(self);
    }
  });
});

describe('fds', { skip }, () => {
  test('every fd the addon returns is close-on-exec', async () => {
    const [r, w] = sys.pipe();
    const memfd = sys.memfdCreate('berth-test');
    const sealed = sys.sealedCopy(BUSYBOX);
    const self = sys.pidfdOpen(process.pid);
    try {
      for (const fd of [r, w, memfd, sealed, self]) assert.equal(isCloexec(fd), true, `fd ${fd}`);
    } finally {
      for (const fd of [r, w, memfd, sealed, self]) sys.close(fd);
    }
  });

  test('a sealed copy has the file content and cannot be written, grown or shrunk', () => {
    const fd = sys.sealedCopy(BUSYBOX);
    try {
      assert.equal(fstatSync(fd).size, statSync(BUSYBOX).size);
      const head = Buffer.alloc(4);
      readSync(fd, head, 0, 4, 0);
      assert.deepEqual(head, Buffer.from([0x7f, 0x45, 0x4c, 0x46])); // \x7fELF
      assert.throws(() => writeSync(fd, 'x', 0), { code: 'EPERM' });
      assert.throws(() => writeSync(fd, 'x', statSync(BUSYBOX).size), { code: 'EPERM' });
    } finally {
      sys.close(fd);
    }
  });

  test('an unsealed memfd is writable', () => {
    const fd = sys.memfdCreate('berth-test');
    try {
      assert.equal(writeSync(fd, 'hello'), 5);
      assert.equal(fstatSync(fd).size, 5);
    } finally {
      sys.close(fd);
    }
  });

  test('sealedCopy of a missing file is ENOENT naming the path', () => {
    assert.throws(() => sys.sealedCopy('/nonexistent/berth'), { code: 'ENOENT', syscall: 'open', path: '/nonexistent/berth' });
  });
});

describe('spawn and waitid', { skip }, () => {
  test('an exit code is reported once the pidfd becomes readable', async () => {
    const r = await run(['sh', '-c', 'exit 3']);
    assert.deepEqual(r.status, { pid: r.pid, code: 3, signal: null });
  });

  /** A busybox `sleep 100`; the caller must end it (kill) and reap it. */
  function sleeper(): Spawned {
    const exe = sys.sealedCopy(BUSYBOX);
    const devnull = openSync('/dev/null', 'r+');
    try {
      return sys.spawn({ exe, argv: ['sleep', '100'], env: [], flags: 0, fds: [devnull, devnull, devnull], cgroupFd: -1 });
    } finally {
      sys.close(exe);
      closeSync(devnull);
    }
  }

  test('waitid is null while the process runs; SIGKILL through the pidfd is reported as signal 9', async () => {
    const child = sleeper();
    const status = exited(sys, child.pidfd);
    try {
      assert.equal(sys.waitid(child.pidfd), null);
    } finally {
      sys.pidfdSendSignal(child.pidfd, 9);
    }
    assert.deepEqual(await status, { pid: child.pid, code: null, signal: 9 });
    assert.throws(() => sys.waitid(child.pidfd), { code: 'ECHILD' }); // reaped: nothing left
    sys.close(child.pidfd);
  });

  test('pidfdOpen gives a second handle on our child', async () => {
    const child = sleeper();
    const status = exited(sys, child.pidfd);
    let second = -1;
    try {
      second = sys.pidfdOpen(child.pid);
      sys.pidfdSendSignal(second, 15);
    } finally {
      if (second < 0) sys.pidfdSendSignal(child.pidfd, 9);
      else sys.close(second);
    }
    assert.deepEqual(await status, { pid: child.pid, code: null, signal: 15 });
    sys.close(child.pidfd);
  });

  test('fds[i] becomes fd i in the child, even when the sources sit in the target range', async () => {
    const exe = sys.sealedCopy(BUSYBOX);
    const [aR, aW] = sys.pipe();
    const [bR, bW] = sys.pipe();
    const devnull = openSync('/dev/null', 'r');
    // stdout goes to pipe b, stderr to pipe a; fd 3 is a's write end again
    const child = sys.spawn({
      exe, argv: ['sh', '-c', 'echo out; echo err >&2; echo three >&3'], env: [], flags: 0,
      fds: [devnull, bW, aW, aW], cgroupFd: -1,
    });
    for (const fd of [exe, aW, bW]) sys.close(fd);
    closeSync(devnull);
    assert.deepEqual(await exited(sys, child.pidfd), { pid: child.pid, code: 0, signal: null });
    sys.close(child.pidfd);
    assert.equal(drain(bR), 'out\n');
    assert.equal(drain(aR), 'err\nthree\n');
    sys.close(aR);
    sys.close(bR);
  });

  test('no fd but the listed ones is inherited', async () => {
    const extra = openSync('/dev/null', 'r');
    try {
      // ls, a child of the shell, lists the shell's fds; `exit` keeps the shell from exec'ing
      // ls in its place (ls would then list its own directory fd too)
      const r = await run(['sh', '-c', 'ls /proc/$$/fd; exit $?'], 0, [extra]);
      assert.equal(r.status?.code, 0, r.stderr);
      assert.equal(r.stdout, '0\n1\n2\n3\n');
    } finally {
      closeSync(extra);
    }
  });

  test('the child starts with default signal dispositions and an empty mask', async () => {
    // Node ignores SIGPIPE; an ignored disposition would survive execve.
    const r = await run(['cat', '/proc/self/status']);
    assert.equal(r.status?.code, 0, r.stderr);
    assert.match(r.stdout, /^SigBlk:\s+0{16}$/m);
    assert.match(r.stdout, /^SigIgn:\s+0{16}$/m);
    assert.match(r.stdout, /^SigCgt:\s+0{16}$/m);
  });

  test('env is exactly what was given', async () => {
    const r = await run(['sh', '-c', 'echo "$PATH|$HOME"']);
    assert.equal(r.stdout, '/bin:/usr/bin|\n');
  });

  test('a process spawned with CLONE_NEWPID is pid 1 in its namespace', { skip: rootSkip }, async () => {
    const r = await run(['sh', '-c', 'echo $$'], CLONE_NEWPID);
    assert.equal(r.status?.code, 0, r.stderr);
    assert.equal(r.stdout, '1\n');
  });

  test('a process spawned with CLONE_NEWUTS cannot change the host name', { skip: rootSkip }, async () => {
    const host = readFileSync('/proc/sys/kernel/hostname', 'utf8');
    const r = await run(['sh', '-c', 'hostname berth-uts-test && hostname'], CLONE_NEWUTS);
    assert.equal(r.stdout, 'berth-uts-test\n', r.stderr);
    assert.equal(readFileSync('/proc/sys/kernel/hostname', 'utf8'), host);
  });

  test('cgroupFd starts the child in that cgroup (CLONE_INTO_CGROUP)', { skip: rootSkip ?? cgroup2Skip() }, async () => {
    const cg = mkdtempSync(join(cgroup2Root()!, 'berth-test-'));
    const cgfd = openSync(cg, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      const exe = sys.sealedCopy(BUSYBOX);
      const [r, w] = sys.pipe();
      const devnull = openSync('/dev/null', 'r');
      const child = sys.spawn({ exe, argv: ['cat', '/proc/self/cgroup'], env: [], flags: 0, fds: [devnull, w, w], cgroupFd: cgfd });
      for (const fd of [exe, w]) sys.close(fd);
      closeSync(devnull);
      assert.deepEqual(await exited(sys, child.pidfd), { pid: child.pid, code: 0, signal: null });
      sys.close(child.pidfd);
      const out = drain(r);
      sys.close(r);
      assert.match(out, new RegExp(`^0::.*/${basename(cg)}$`, 'm'));
    } finally {
      closeSync(cgfd);
      rmdirSync(cg);
    }
  });

  test('an exe that cannot be executed fails spawn with execveat and leaves no child', async () => {
    const exe = sys.memfdCreate('not-elf');
    writeSync(exe, 'this is not an executable\n');
    const devnull = openSync('/dev/null', 'r+');
    try {
      assert.throws(
        () => sys.spawn({ exe, argv: ['x'], env: [], flags: 0, fds: [devnull, devnull, devnull], cgroupFd: -1 }),
        { code: 'ENOEXEC', errno: 8, syscall: 'execveat', message: 'execveat: ENOEXEC' },
      );
    } finally {
      sys.close(exe);
      closeSync(devnull);
    }
  });

  test('a closed fd to place fails spawn with fcntl EBADF', () => {
    const exe = sys.sealedCopy(BUSYBOX);
    const closed = Math.max(...readdirSync('/proc/self/fd').map(Number)) + 64; // never reused by spawn's own pipe
    try {
      assert.throws(
        () => sys.spawn({ exe, argv: ['true'], env: [], flags: 0, fds: [closed], cgroupFd: -1 }),
        { code: 'EBADF', syscall: 'fcntl' },
      );
    } finally {
      sys.close(exe);
    }
  });
});

describe('watchFd', { skip }, () => {
  let fds: number[] = [];
  before(() => { fds = []; });
  after(() => { for (const fd of fds) sys.close(fd); });

  test('fires once when the fd becomes readable', async () => {
    const [r, w] = sys.pipe();
    fds.push(r, w);
    let calls = 0;
    const fired = new Promise<void>((resolve) => sys.watchFd(r, () => { calls++; resolve(); }));
    writeSync(w, 'x');
    await fired;
    writeSync(w, 'y');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(calls, 1);
  });

  test('a stopped watch never fires, and stop is idempotent', async () => {
    const [r, w] = sys.pipe();
    fds.push(r, w);
    let calls = 0;
    const stop = sys.watchFd(r, () => { calls++; });
    stop();
    stop();
    writeSync(w, 'x');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(calls, 0);
  });

  test('stop after the callback ran is a no-op', async () => {
    const [r, w] = sys.pipe();
    fds.push(r, w);
    let stop: () => void = () => undefined;
    await new Promise<void>((resolve) => {
      stop = sys.watchFd(r, resolve);
      writeSync(w, 'x');
    });
    stop();
    stop();
  });

  test('a hang-up (all writers closed) counts as readable', async () => {
    const [r, w] = sys.pipe();
    fds.push(r);
    const fired = new Promise<void>((resolve) => sys.watchFd(r, resolve));
    sys.close(w);
    await fired;
    assert.equal(drain(r), '');
  });

  test('promise jobs queued by the callback run before the next loop turn', async () => {
    const [r, w] = sys.pipe();
    fds.push(r, w);
    const order: string[] = [];
    const done = new Promise<void>((resolve) => {
      sys.watchFd(r, () => {
        order.push('callback');
        void Promise.resolve().then(() => order.push('microtask'));
        setImmediate(() => { order.push('immediate'); resolve(); });
      });
    });
    writeSync(w, 'x');
    await done;
    assert.deepEqual(order, ['callback', 'microtask', 'immediate']);
  });
});
