/**
 * The addon's eventfd and bpf(2) exports against the real kernel: the eventfd counter, and a
 * BPF_PROG_TYPE_CGROUP_DEVICE program loaded, attached to a cgroup2 directory, listed and
 * detached (what it enforces is tested in test/cgroups/devices.int.test.ts). Every fd is closed
 * and every cgroup removed.
 */
import assert from 'node:assert/strict';
import { closeSync, constants as fsc, existsSync, mkdirSync, openSync, readFileSync, readSync, rmdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { BPF_F_ALLOW_MULTI, DEVICE_FILTER_LICENSE, deviceFilter, encodeInsns, OP } from '../../src/effects/cgroups/devices.js';
import { linuxSyscalls } from '../../src/effects/linux.js';

const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;

const skip = existsSync(join(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'berth.node'))
  ? undefined : 'requires the native addon (npm run build:native)';
const sys = skip ? undefined! : linuxSyscalls();

function fdFlags(fd: number): number {
  const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(m, `fdinfo of ${fd}`);
  return parseInt(m[1]!, 8);
}

/** The cgroup2 mount point (pure v2, or the "unified" one of a hybrid host), if any. */
function cgroup2Root(): string | undefined {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => / - cgroup2 /.test(l));
  return line?.split(' ')[4];
}
const bpfSkip = skip
  ?? (process.getuid?.() === 0 ? undefined : 'requires root (cgroup device programs need CAP_SYS_ADMIN)')
  ?? (cgroup2Root() ? undefined : 'requires a cgroup2 hierarchy');

describe('eventfd', { skip }, () => {
  test('is CLOEXEC and NONBLOCK, and reads back what was added', () => {
    const fd = sys.eventfd();
    try {
      const flags = fdFlags(fd);
      assert.ok(flags & O_CLOEXEC, 'O_CLOEXEC');
      assert.ok(flags & O_NONBLOCK, 'O_NONBLOCK');
      const buf = Buffer.alloc(8);
      assert.throws(() => readSync(fd, buf, 0, 8, null), { code: 'EAGAIN' }); // counter 0, nonblocking
      const one = Buffer.alloc(8);
      one.writeBigUInt64LE(1n);
      assert.equal(writeSync(fd, one), 8);
      assert.equal(writeSync(fd, one), 8);
      assert.equal(readSync(fd, buf, 0, 8, null), 8);
      assert.equal(buf.readBigUInt64LE(), 2n);
      assert.throws(() => readSync(fd, buf, 0, 8, null), { code: 'EAGAIN' }); // read resets it
    } finally {
      sys.close(fd);
    }
  });
});

describe('bpf device programs', { skip: bpfSkip }, () => {
  const ALLOW_NULL = deviceFilter([
    { allow: false, type: 'a', major: -1, minor: -1, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
  ]);

  function withCgroup(fn: (cgfd: number, dir: string) => void): void {
    const dir = join(cgroup2Root()!, `berth-bpftest-${process.pid}`);
    mkdirSync(dir);
    const cgfd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      fn(cgfd, dir);
    } finally {
      closeSync(cgfd);
      rmdirSync(dir);
    }
  }

  test('load → CLOEXEC fd; attach, query, get by id, detach', () => {
    withCgroup((cgfd) => {
      assert.deepEqual(sys.bpfProgQueryDevice(cgfd), []);
      const prog = sys.bpfProgLoadDevice(ALLOW_NULL, DEVICE_FILTER_LICENSE);
      const prog2 = sys.bpfProgLoadDevice(ALLOW_NULL, DEVICE_FILTER_LICENSE);
      const fds = [prog, prog2];
      try {
        assert.ok(fdFlags(prog) & O_CLOEXEC);
        sys.bpfProgAttach(prog, cgfd, BPF_F_ALLOW_MULTI);
        sys.bpfProgAttach(prog2, cgfd, BPF_F_ALLOW_MULTI);
        const ids = sys.bpfProgQueryDevice(cgfd);
        assert.equal(ids.length, 2);
        assert.throws(() => sys.bpfProgAttach(prog, cgfd, BPF_F_ALLOW_MULTI), { code: 'EINVAL', syscall: 'bpf_prog_attach' }); // the same program twice
        // The first one, reopened by id, detaches it.
        const again = sys.bpfProgGetFdById(ids[0]!);
        fds.push(again);
        assert.ok(fdFlags(again) & O_CLOEXEC);
        sys.bpfProgDetach(again, cgfd);
        assert.deepEqual(sys.bpfProgQueryDevice(cgfd), [ids[1]]);
        assert.throws(() => sys.bpfProgDetach(prog, cgfd), { code: 'ENOENT', errno: 2, syscall: 'bpf_prog_detach', message: 'bpf_prog_detach: ENOENT' });
        sys.bpfProgDetach(prog2, cgfd);
        assert.deepEqual(sys.bpfProgQueryDevice(cgfd), []);
      } finally {
        for (const fd of fds) sys.close(fd);
      }
    });
  });

  test('a program the verifier refuses: the error carries the log\'s last line', () => {
    // R0 is never set before exit.
    const bad = encodeInsns([{ code: OP.EXIT, dst: 0, src: 0, off: 0, imm: 0 }]);
    assert.throws(() => sys.bpfProgLoadDevice(bad, DEVICE_FILTER_LICENSE), (e: Error & { code?: string; syscall?: string; verifierLog?: string }) => {
      assert.equal(e.code, 'EACCES');
      assert.equal(e.syscall, 'bpf_prog_load');
      assert.match(e.message, /^bpf_prog_load: EACCES \(verifier: .+\)$/);
      assert.match(e.verifierLog ?? '', /R0 !read_ok/);
      return true;
    });
  });

  test('argument checks and errno shape', () => {
    assert.throws(() => sys.bpfProgLoadDevice(Buffer.alloc(7), 'x'), { name: 'TypeError', message: 'insns must hold whole 8-byte instructions' });
    assert.throws(() => sys.bpfProgLoadDevice('x' as never, 'x'), { name: 'TypeError', message: 'insns must be a Buffer' });
    assert.throws(() => sys.bpfProgQueryDevice(-1), { code: 'EBADF', errno: 9, syscall: 'bpf_prog_query' });
    assert.throws(() => sys.bpfProgGetFdById(0x7ffffff0), { code: 'ENOENT', syscall: 'bpf_prog_get_fd_by_id' });
    // Attaching to something that is not a cgroup.
    const prog = sys.bpfProgLoadDevice(ALLOW_NULL, DEVICE_FILTER_LICENSE);
    const notCg = openSync('/', fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      assert.throws(() => sys.bpfProgAttach(prog, notCg, BPF_F_ALLOW_MULTI), { syscall: 'bpf_prog_attach' });
    } finally {
      closeSync(notCg);
      sys.close(prog);
    }
  });
});
