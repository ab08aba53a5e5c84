/**
 * The v2 backend on this host's real cgroup2. On a hybrid host that hierarchy has no
 * controllers, so this covers what it can do (create, CLONE_INTO_CGROUP, cgroup.freeze +
 * cgroup.events, cgroup.kill, cpu.stat, destroy); the controller files are covered by the
 * mirror-tree unit tests. A second test runs the backend as a pure-v2 host sees it: in a private
 * mount namespace with only a cgroup2 mounted at /sys/fs/cgroup.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsc, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { cgroupManager } from '../../src/effects/cgroups/index.js';
import { linuxSyscalls } from '../../src/effects/linux.js';
import { isRuntimeError } from '../../src/errors.js';
import { cleanupTop, grows, layout, read, rootSkip, TOP } from './helpers.js';

const skip = rootSkip ?? (layout.unified === null ? 'requires a cgroup2 mount' : undefined)
  ?? (kernelAtLeast(5, 14) ? undefined : 'requires cgroup.kill (Linux 5.14)');

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split('.').map(Number);
  return a > major || (a === major && b >= minor);
}
const v2 = { kind: 'v2' as const, v1: {}, unified: layout.unified };
const tmp = mkdtempSync(join(tmpdir(), 'berth-cgv2-'));

describe('cgroup v2 backend on the real cgroup2', { skip }, () => {
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(cleanupTop(), [], 'no berth test cgroup remains');
  });

  test('create, CLONE_INTO_CGROUP, join is a no-op, freeze stops a counter, stats, cgroup.kill, destroy', async () => {
    const m = cgroupManager(v2, `/${TOP}/v2-1`);
    assert.equal(m.version, 2);
    m.create(undefined);
    const sys = linuxSyscalls();
    let pidfd = -1;
    try {
      const out = join(tmp, 'counter');
      const outFd = openSync(out, fsc.O_WRONLY | fsc.O_CREAT, 0o600);
      const devnull = openSync('/dev/null', fsc.O_RDWR);
      const fd = m.openForSpawn()!;
      const exe = sys.sealedCopy('/bin/busybox');
      const child = sys.spawn({ exe, argv: ['sh', '-c', 'while :; do echo x; done'], env: [], flags: 0, fds: [devnull, outFd, devnull], cgroupFd: fd });
      pidfd = child.pidfd;
      for (const f of [exe, fd]) sys.close(f);
      closeSync(devnull);
      closeSync(outFd);
      const dir = m.paths[0]!;
      assert.equal(read(join(dir, 'cgroup.procs')), String(child.pid));
      assert.match(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'), new RegExp(`^0::/${TOP}/v2-1$`, 'm'));
      await m.join(child.pid);
      assert.deepEqual(m.pids(), [child.pid]);
      assert.ok(await grows(out));

      await m.freeze();
      assert.equal(m.freezerState(), 'frozen');
      assert.match(readFileSync(join(dir, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
      assert.equal(await grows(out), false, 'the counter stops while frozen');
      await m.thaw();
      assert.equal(m.freezerState(), 'thawed');
      assert.ok(await grows(out));

      const s = m.stats();
      assert.ok(s.cpu.usage.total > 0, 'cpu.stat usage');
      assert.equal(s.pids.current, 1, 'counted from cgroup.procs');
      assert.equal(m.oomKills(), 0, 'memory.events absent here');

      assert.equal(await m.signalAll(9), 1);
      const status = await new Promise((resolve) => sys.watchFd(child.pidfd, () => resolve(sys.waitid(child.pidfd))));
      assert.deepEqual(status, { pid: child.pid, code: null, signal: 9 });
    } finally {
      if (pidfd >= 0) {
        try { sys.pidfdSendSignal(pidfd, 9); sys.waitid(pidfd); } catch { /* already reaped */ }
        sys.close(pidfd);
      }
      await m.destroy();
    }
    assert.equal(m.exists(), false);
  });

  test('a limit whose controller is not enabled here is INVALID_CONFIG naming the file, and create leaves nothing', () => {
    const m = cgroupManager(v2, `/${TOP}/v2-2`);
    const controllers = read(join(layout.unified!, 'cgroup.controllers'));
    if (controllers.includes('memory')) return; // a real v2 host: the mirror and e2e tests cover the files
    assert.throws(() => m.create({ memory: { limit: 1048576 } }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.memory.limit' && e.message.includes('memory.max does not exist'));
    assert.equal(m.exists(), false);
  });

  test('as a pure-v2 host sees it: private mount namespace, lone cgroup2 at /sys/fs/cgroup', { skip: existsSync('/usr/bin/unshare') ? undefined : 'requires unshare(1) (util-linux)' }, () => {
    const fixture = join(import.meta.dirname, 'fixtures/purev2.ts');
    const script = 'umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" --import tsx "$1" "$2"';
    const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, process.execPath, fixture, `/${TOP}/purev2`], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(r.kind, 'v2');
    assert.equal(r.unified, '/sys/fs/cgroup');
    assert.equal(r.version, 2);
    assert.deepEqual(r.paths, [`/sys/fs/cgroup/${TOP}/purev2`]);
    assert.deepEqual(r.pids, [r.child]);
    assert.equal(r.frozen, true);
    assert.equal(r.killed, 1);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.gone, true);
    // the same hierarchy as this host's cgroup2 mount: nothing left there either
    assert.equal(existsSync(join(layout.unified!, TOP, 'purev2')), false);
  });
});
