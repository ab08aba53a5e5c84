/**
 * The addon's unix-socket fd passing and pty window size against the real kernel: socketpair,
 * sendFds/recvFds (SCM_RIGHTS), connectUnix (a console socket), setWindowSize. Every test closes
 * every fd it made (checked against /proc/self/fd).
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, readSync, rmSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { linuxSyscalls } from '../../src/effects/linux.js';
import { listenConsoleSocket } from '../helpers/consoleSocket.js';

const sys = linuxSyscalls();
const O_CLOEXEC = 0o2000000;

function isCloexec(fd: number): boolean {
  const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(m, `fdinfo of ${fd}`);
  return (parseInt(m[1]!, 8) & O_CLOEXEC) !== 0;
}

function openFds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return fd;
    }
  }).filter((f) => f.includes('->') && !f.includes('/tsx-'));  // tsx opens and closes its cache as it loads modules
}

function errno(code: string, syscall: string) {
  return (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, code);
    assert.equal(e.syscall, syscall);
    assert.equal(typeof e.errno, 'number');
    return true;
  };
}

test('socketpair gives two close-on-exec ends that keep message boundaries', () => {
  const before = openFds();
  const [a, b] = sys.socketpair();
  try {
    assert.ok(isCloexec(a) && isCloexec(b));
    assert.match(readlinkSync(`/proc/self/fd/${a}`), /^socket:\[\d+\]$/);
    sys.sendFds(a, 'one', []);
    sys.sendFds(a, Buffer.from('two'), []);
    assert.equal(sys.recvFds(b).data.toString(), 'one');
    assert.equal(sys.recvFds(b).data.toString(), 'two');
  } finally {
    sys.close(a);
    sys.close(b);
  }
  assert.deepEqual(openFds(), before);
});

test('an fd sent with SCM_RIGHTS arrives as a new close-on-exec fd of the same file', () => {
  const before = openFds();
  const [a, b] = sys.socketpair();
  const [r, w] = sys.pipe();
  try {
    sys.sendFds(a, 'pipe', [w]);
    const m = sys.recvFds(b);
    assert.equal(m.data.toString(), 'pipe');
    assert.equal(m.fds.length, 1);
    const got = m.fds[0]!;
    assert.notEqual(got, w);
    assert.ok(isCloexec(got));
    assert.equal(readlinkSync(`/proc/self/fd/${got}`), readlinkSync(`/proc/self/fd/${w}`));
    writeSync(got, 'through the passed fd');
    sys.close(got);
    const buf = Buffer.alloc(64);
    assert.equal(buf.subarray(0, readSync(r, buf)).toString(), 'through the passed fd');
  } finally {
    for (const fd of [a, b, r, w]) sys.close(fd);
  }
  assert.deepEqual(openFds(), before);
});

test('recvFds never blocks: EAGAIN while nothing is queued, an empty message at end of stream', () => {
  const [a, b] = sys.socketpair();
  try {
    assert.throws(() => sys.recvFds(b), errno('EAGAIN', 'recvmsg'));
    sys.sendFds(a, 'last', []);
    sys.close(a);
    assert.equal(sys.recvFds(b).data.toString(), 'last');
    assert.deepEqual(sys.recvFds(b), { data: Buffer.alloc(0), fds: [] });
  } finally {
    sys.close(b);
  }
});

test('fds still queued when the receiver closes are released by the kernel', () => {
  const before = openFds();
  const [a, b] = sys.socketpair();
  const [r, w] = sys.pipe();
  sys.sendFds(a, 'write end', [w]);
  sys.close(w);
  sys.close(b); // the queued copy of w goes with it
  sys.close(a);
  const buf = Buffer.alloc(1);
  assert.equal(readSync(r, buf), 0, 'every write end is closed: end of file');
  sys.close(r);
  assert.deepEqual(openFds(), before);
});

test('sendFds: bad arguments are TypeErrors, a closed peer is EPIPE (no SIGPIPE)', () => {
  const [a, b] = sys.socketpair();
  try {
    assert.throws(() => sys.sendFds(a, '', []), /data must hold 1 to 4096 bytes/);
    assert.throws(() => sys.sendFds(a, 'x', [1.5]), /fds must be int32s/);
    assert.throws(() => sys.sendFds(a, 7 as unknown as string, []), /data must be a Buffer or a string/);
    sys.close(b);
    assert.throws(() => sys.sendFds(a, 'x', []), errno('EPIPE', 'sendmsg'));
  } finally {
    sys.close(a);
  }
});

test('16 fds travel in one message; sendFds refuses 17, recvFds refuses a message over 4096 bytes (EMSGSIZE)', () => {
  const before = openFds();
  const [a, b] = sys.socketpair();
  const nul = openSync('/dev/null', 'r');
  try {
    assert.throws(() => sys.sendFds(a, 'x', Array(17).fill(nul)), /at most 16/);
    sys.sendFds(a, 'x', Array(16).fill(nul));
    const m = sys.recvFds(b);
    assert.equal(m.fds.length, 16);
    for (const fd of m.fds) sys.close(fd);
    // write(2) on a SEQPACKET socket sends one message: a peer that is not berth can send more.
    writeSync(a, Buffer.alloc(5000, 1));
    assert.throws(() => sys.recvFds(b), errno('EMSGSIZE', 'recvmsg'));
  } finally {
    closeSync(nul);
    sys.close(a);
    sys.close(b);
  }
  assert.deepEqual(openFds(), before);
});

test('connectUnix reaches a listening console socket, which receives the fd sent over it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unix-'));
  const before = openFds();
  const listener = await listenConsoleSocket(sys, dir);
  const [r, w] = sys.pipe();
  try {
    const conn = sys.connectUnix(listener.path);
    assert.ok(isCloexec(conn));
    sys.sendFds(conn, '/dev/ptmx', [w]);
    sys.close(conn);
    const got = await listener.received;
    assert.equal(got.name, '/dev/ptmx');
    writeSync(got.fd, 'x');
    sys.close(got.fd);
    const buf = Buffer.alloc(4);
    assert.equal(buf.subarray(0, readSync(r, buf)).toString(), 'x');
  } finally {
    sys.close(r);
    sys.close(w);
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(openFds(), before);
});

test('connectUnix: a path with no socket is ENOENT naming the path; too long a path is ENAMETOOLONG', () => {
  assert.throws(() => sys.connectUnix('/nonexistent/berth.sock'), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.syscall, 'connect');
    assert.equal(e.path, '/nonexistent/berth.sock');
    assert.equal(e.message, 'connect /nonexistent/berth.sock: ENOENT');
    return true;
  });
  assert.throws(() => sys.connectUnix(`/${'x'.repeat(200)}`), errno('ENAMETOOLONG', 'connect'));
  assert.throws(() => sys.connectUnix('/dev/null'), errno('ECONNREFUSED', 'connect'));
});

test('setWindowSize sets a pty\'s size as stty reads it back; a non-tty is ENOTTY', () => {
  const master = openSync('/dev/ptmx', 'r+');
  try {
    sys.setWindowSize(master, 33, 101);
    // TIOCGWINSZ on a master reports its peer's size, so stty can read it through the master.
    const r = spawnSync('/bin/busybox', ['stty', 'size'], { stdio: [master, 'pipe', 'pipe'], encoding: 'utf8' });
    assert.equal(r.stdout.trim(), '33 101', r.stderr);
  } finally {
    closeSync(master);
  }
  const nul = openSync('/dev/null', 'r');
  try {
    assert.throws(() => sys.setWindowSize(nul, 1, 1), errno('ENOTTY', 'ioctl TIOCSWINSZ'));
    assert.throws(() => sys.setWindowSize(nul, 70000, 1), /rows and cols/);
  } finally {
    closeSync(nul);
  }
});
