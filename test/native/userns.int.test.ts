/**
 * The addon's user namespace and mount API exports against the real kernel: spawn's
 * beforeExec hand-off (the child waits before execveat; with CLONE_NEWUSER it then becomes the
 * namespace's root), empty fd slots, the user namespace holder, open_tree and mount_setattr.
 * Every test closes its fds and reaps its children.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { linuxSyscalls } from '../../src/effects/linux.js';
import type { Spawned } from '../../src/effects/syscalls.js';
import { drain, exited } from '../helpers/spawn.js';

const CLONE_NEWUSER = 0x10000000;
const OPEN_TREE_CLONE = 1;
const AT_RECURSIVE = 0x8000;
const MOUNT_ATTR_IDMAP = 0x100000;
const BUSYBOX = '/bin/busybox';

function missingFeature(): string | undefined {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  if (major < 5 || (major === 5 && minor < 12)) return 'requires Linux >= 5.12 (mount_setattr, idmapped mounts)';
  if (process.getuid?.() !== 0) return 'requires root (writing another user namespace\'s maps, open_tree)';
  if (!existsSync(BUSYBOX)) return 'requires /bin/busybox (the busybox-static package)';
  return undefined;
}
const skip = missingFeature();
const sys = skip ? undefined! : linuxSyscalls();

/** Spawns busybox with stdout/stderr on one pipe, runs `beforeExec`, waits, returns the output. */
async function run(argv: string[], opts: { flags?: number; beforeExec?: (pid: number) => void; extraFds?: number[] } = {}) {
  const exe = sys.sealedCopy(BUSYBOX);
  const stdin = openSync('/dev/null', 'r');
  const [outR, outW] = sys.pipe();
  let child: Spawned;
  try {
    child = sys.spawn({
      exe, argv, env: ['PATH=/bin'], flags: opts.flags ?? 0, fds: [stdin, outW, outW, ...opts.extraFds ?? []], cgroupFd: -1,
      ...(opts.beforeExec ? { beforeExec: opts.beforeExec } : {}),
    });
  } finally {
    sys.close(exe);
    sys.close(outW);
    closeSync(stdin);
  }
  const status = await exited(sys, child.pidfd);
  sys.close(child.pidfd);
  const out = drain(outR);
  sys.close(outR);
  return { status, out };
}

async function killAndReap(s: Spawned): Promise<void> {
  sys.pidfdSendSignal(s.pidfd, 9);
  assert.deepEqual(await exited(sys, s.pidfd), { pid: s.pid, code: null, signal: 9 });
  sys.close(s.pidfd);
}

describe('spawn beforeExec', { skip }, () => {
  test('runs with the child\'s pid while the child has not exec\'d yet', async () => {
    let seen = '';
    const r = await run(['true'], { beforeExec: (pid) => { seen = readlinkSync(`/proc/${pid}/exe`); } });
    assert.deepEqual(r.status?.code, 0);
    assert.equal(seen, readlinkSync('/proc/self/exe'), 'still a copy of this process, not yet busybox');
  });

  test('with CLONE_NEWUSER: the maps written there are in force and the child execs as the namespace\'s root with every capability', async () => {
    let hostIds = '';
    const r = await run(['sh', '-c', 'id; cat /proc/self/uid_map; grep -E "^CapEff" /proc/self/status'], {
      flags: CLONE_NEWUSER,
      beforeExec: (pid) => {
        writeFileSync(`/proc/${pid}/uid_map`, '0 100000 65536\n');
        writeFileSync(`/proc/${pid}/gid_map`, '0 200000 65536\n');
        hostIds = readFileSync(`/proc/${pid}/status`, 'utf8');
      },
    });
    assert.equal(r.status?.code, 0, r.out);
    assert.match(r.out, /^uid=0(\(root\))? gid=0/m);
    assert.match(r.out, /^\s+0\s+100000\s+65536$/m);
    const capLast = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    assert.match(r.out, new RegExp(`^CapEff:\\s+${((1n << BigInt(capLast + 1)) - 1n).toString(16).padStart(16, '0')}$`, 'm'));
    assert.match(hostIds, /^Uid:\s+0\s+0\s+0\s+0$/m, 'before the go-ahead it still had the parent\'s ids');
  });

  test('a throw kills and reaps the waiting child and propagates', () => {
    const exe = sys.sealedCopy(BUSYBOX);
    const devnull = openSync('/dev/null', 'r');
    let pid = 0;
    try {
      assert.throws(() => sys.spawn({
        exe, argv: ['true'], env: [], flags: CLONE_NEWUSER, fds: [devnull, devnull, devnull], cgroupFd: -1,
        beforeExec: (p) => { pid = p; throw new Error('maps refused'); },
      }), { message: 'maps refused' });
    } finally {
      sys.close(exe);
      closeSync(devnull);
    }
    assert.ok(pid > 0);
    assert.equal(existsSync(`/proc/${pid}`), false, 'killed and reaped');
  });

  test('a -1 in fds leaves that fd closed in the child', async () => {
    const file = mkdtempSync(join(tmpdir(), 'berth-fds-'));
    const fd = openSync(join(file, 'four'), 'w');
    try {
      const r = await run(['sh', '-c', 'test -e /proc/self/fd/3 && echo has-3 || echo no-3; readlink /proc/self/fd/4'], { extraFds: [-1, fd] });
      assert.equal(r.out, `no-3\n${join(file, 'four')}\n`);
    } finally {
      closeSync(fd);
      rmSync(file, { recursive: true, force: true });
    }
  });
});

describe('user namespace holder, open_tree, mount_setattr', { skip }, () => {
  test('the holder sits in a new user namespace until killed', async () => {
    const holder = sys.spawnUsernsHolder();
    try {
      assert.notEqual(readlinkSync(`/proc/${holder.pid}/ns/user`), readlinkSync('/proc/self/ns/user'));
      assert.equal(readFileSync(`/proc/${holder.pid}/uid_map`, 'utf8'), '', 'no map until the caller writes one');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(sys.waitid(holder.pidfd), null, 'still there');
    } finally {
      await killAndReap(holder);
    }
  });

  test('an idmapped detached tree shows the source\'s owners through the maps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-idmap-'));
    // through the idmap the directory's owner (root) is unmapped, and capabilities do not
    // override permissions on an inode with unmapped ids: it must be searchable by others
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'f'), '');
    chownSync(join(dir, 'f'), 1000, 1000);
    const holder = sys.spawnUsernsHolder();
    let ns = -1;
    try {
      writeFileSync(`/proc/${holder.pid}/uid_map`, '1000 7000 1\n');
      writeFileSync(`/proc/${holder.pid}/setgroups`, 'deny');
      writeFileSync(`/proc/${holder.pid}/gid_map`, '1000 8000 1\n');
      ns = openSync(`/proc/${holder.pid}/ns/user`, 'r');
    } finally {
      await killAndReap(holder);
    }
    const tree = sys.openTree(dir, OPEN_TREE_CLONE | AT_RECURSIVE);
    try {
      const before = statSync(`/proc/self/fd/${tree}/f`);
      assert.deepEqual([before.uid, before.gid], [1000, 1000]);
      sys.mountSetattr(tree, 0, { attrSet: MOUNT_ATTR_IDMAP, attrClr: 0, propagation: 0, usernsFd: ns });
      const after = statSync(`/proc/self/fd/${tree}/f`);
      assert.deepEqual([after.uid, after.gid], [7000, 8000]);
      assert.throws(() => sys.mountSetattr(tree, 0, { attrSet: MOUNT_ATTR_IDMAP, attrClr: 0, propagation: 0, usernsFd: ns }),
        { code: 'EPERM', syscall: 'mount_setattr' }, 'a mount is idmapped once');
    } finally {
      sys.close(tree);
      closeSync(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('errors: a missing source names the path, a filesystem without idmapping is EINVAL', async () => {
    assert.throws(() => sys.openTree('/nonexistent/berth', OPEN_TREE_CLONE), { code: 'ENOENT', syscall: 'open_tree', path: '/nonexistent/berth' });
    const tree = sys.openTree('/sys/kernel', OPEN_TREE_CLONE);
    const ns = openSync('/proc/self/ns/user', 'r');
    try {
      // the initial user namespace is refused before the filesystem is looked at (EPERM)...
      assert.throws(() => sys.mountSetattr(tree, 0, { attrSet: MOUNT_ATTR_IDMAP, attrClr: 0, propagation: 0, usernsFd: ns }), { code: 'EPERM' });
    } finally {
      closeSync(ns);
    }
    const holder = sys.spawnUsernsHolder();
    let other = -1;
    try {
      writeFileSync(`/proc/${holder.pid}/uid_map`, '0 5000 1\n');
      other = openSync(`/proc/${holder.pid}/ns/user`, 'r');
    } finally {
      await killAndReap(holder);
    }
    try {
      // ...any other one is checked against the filesystem: sysfs does not allow idmapping
      assert.throws(() => sys.mountSetattr(tree, 0, { attrSet: MOUNT_ATTR_IDMAP, attrClr: 0, propagation: 0, usernsFd: other }), { code: 'EINVAL', syscall: 'mount_setattr' });
    } finally {
      sys.close(tree);
      closeSync(other);
    }
  });
});
