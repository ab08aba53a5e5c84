/**
 * The v1 backend on this host's real v1 hierarchies (a hybrid host: the cgroup2 mount gets a
 * directory too). Every cgroup is made under /<TOP>/ and every process is reaped; the last test
 * proves nothing is left in any hierarchy.
 */
import assert from 'node:assert/strict';
import { closeSync, constants as fsc, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { devicesNow } from '../../src/effects/cgroups/devicesV1.js';
import { cgroupManager } from '../../src/effects/cgroups/index.js';
import { planV1 } from '../../src/effects/cgroups/resources.js';
import type { OciResources } from '../../src/effects/cgroups/types.js';
import { validateResources } from '../../src/effects/cgroups/validate.js';
import { linuxSyscalls } from '../../src/effects/linux.js';
import { isRuntimeError } from '../../src/errors.js';
import { cleanupTop, exited, grows, layout, read, rootSkip, start, TOP } from './helpers.js';

const skip = rootSkip ?? (layout.kind === 'v2' ? 'requires cgroup v1 hierarchies (this host is pure v2)' : undefined)
  ?? (['memory', 'pids', 'cpu', 'freezer', 'cpuset'].find((c) => layout.v1[c] === undefined) !== undefined ? 'requires the v1 memory, pids, cpu, freezer and cpuset controllers' : undefined);

const tmp = mkdtempSync(join(tmpdir(), 'berth-cgv1-'));
let n = 0;
const path = () => `/${TOP}/v1-${++n}`;

describe('cgroup v1 backend on the real kernel', { skip }, () => {
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(cleanupTop(), [], 'no berth test cgroup remains');
  });

  test('create writes the limits, join + pids, stats are real, freeze stops a counter, thaw, signalAll, destroy', async () => {
    const m = cgroupManager(layout, path());
    m.create({ memory: { limit: 67108864, reservation: 33554432 }, cpu: { shares: 512, quota: 20000, period: 100000, cpus: '0' }, pids: { limit: 50 } });
    const dir = (c: string) => join(layout.v1[c]!, `/${TOP}/v1-${n}`);
    try {
      assert.equal(read(join(dir('memory'), 'memory.limit_in_bytes')), '67108864');
      assert.equal(read(join(dir('memory'), 'memory.soft_limit_in_bytes')), '33554432');
      assert.equal(read(join(dir('cpu'), 'cpu.cfs_quota_us')), '20000');
      assert.equal(read(join(dir('cpu'), 'cpu.cfs_period_us')), '100000');
      assert.equal(read(join(dir('cpu'), 'cpu.shares')), '512');
      assert.equal(read(join(dir('cpuset'), 'cpuset.cpus')), '0');
      assert.notEqual(read(join(dir('cpuset'), 'cpuset.mems')), '', 'mems copied from the parent');
      assert.equal(read(join(dir('pids'), 'pids.max')), '50');

      const out = join(tmp, 'counter');
      const child = start('sh', ['-c', `while :; do echo x; done > ${out}`]);
      try {
        await m.join(child.pid!);
        assert.deepEqual(m.pids(), [child.pid]);
        assert.match(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'), new RegExp(`:memory:/${TOP}/v1-${n}$`, 'm'));
        assert.ok(await grows(out));
        const s = m.stats();
        assert.ok(s.memory.usage.usage > 0, 'memory usage');
        assert.equal(s.memory.usage.limit, 67108864);
        assert.ok(s.cpu.usage.total > 0, 'cpu usage');
        assert.equal(s.cpu.usage.percpu.length > 0, true);
        assert.deepEqual(s.pids, { current: 1, limit: 50 });

        await m.freeze();
        assert.equal(m.freezerState(), 'frozen');
        assert.equal(read(join(dir('freezer'), 'freezer.state')), 'FROZEN');
        assert.equal(await grows(out), false, 'the counter stops while frozen');
        await m.thaw();
        assert.equal(m.freezerState(), 'thawed');
        assert.ok(await grows(out), 'and runs again after thaw');

        assert.equal(await m.signalAll(15), 1);
        assert.deepEqual(await exited(child), { code: null, signal: 'SIGTERM' });
        assert.equal(m.freezerState(), 'thawed');
      } finally {
        child.kill('SIGKILL');
        await exited(child);
      }
    } finally {
      await m.destroy();
    }
    assert.equal(m.exists(), false);
    for (const p of m.paths) assert.equal(existsSync(p), false, p);
  });

  test('a memory hog over a 16M limit is OOM-killed and counted', async () => {
    const m = cgroupManager(layout, path());
    m.create({ memory: { limit: 16777216, swap: 16777216 } });
    try {
      assert.equal(m.oomKills(), 0);
      const hog = start('/bin/busybox', ['sh', '-c', 'read go; x=a; while :; do x=$x$x; done'], 'pipe');
      m.join(hog.pid!);
      hog.stdin!.end('go\n');
      assert.deepEqual(await exited(hog), { code: null, signal: 'SIGKILL' });
      assert.equal(m.oomKills(), 1);
      assert.ok(m.stats().memory.usage.max > 8388608, 'peak usage reached the limit');
    } finally {
      await m.destroy();
    }
  });

  test('hybrid: spawned into the cgroup2 directory with CLONE_INTO_CGROUP, joined to v1; SIGKILL of a frozen cgroup uses cgroup.kill and thaws', { skip: layout.kind === 'hybrid' ? undefined : 'requires a hybrid host' }, async () => {
    const m = cgroupManager(layout, path());
    m.create(undefined);
    const sys = linuxSyscalls();
    let pidfd = -1;
    try {
      const fd = m.openForSpawn();
      assert.notEqual(fd, null);
      const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      assert.ok((flags & 0o2000000) !== 0, 'O_CLOEXEC');
      const exe = sys.sealedCopy('/bin/busybox');
      const devnull = openSync('/dev/null', fsc.O_RDWR);
      const child = sys.spawn({ exe, argv: ['sleep', '100'], env: [], flags: 0, fds: [devnull, devnull, devnull], cgroupFd: fd! });
      pidfd = child.pidfd;
      for (const f of [exe, fd!]) sys.close(f);
      closeSync(devnull);
      const unified = m.paths[m.paths.length - 1]!;
      assert.equal(read(join(unified, 'cgroup.procs')), String(child.pid));
      await m.join(child.pid);
      assert.deepEqual(m.pids(), [child.pid]);
      await m.freeze();
      assert.equal(await m.signalAll(9), 1);
      const status = await new Promise((resolve) => sys.watchFd(child.pidfd, () => resolve(sys.waitid(child.pidfd))));
      assert.deepEqual(status, { pid: child.pid, code: null, signal: 9 });
      assert.equal(m.freezerState(), 'thawed');
    } finally {
      if (pidfd >= 0) {
        try { sys.pidfdSendSignal(pidfd, 9); sys.waitid(pidfd); } catch { /* already reaped */ }
        sys.close(pidfd);
      }
      await m.destroy();
    }
  });

  test('devices: deny all, then allow the listed devices in order', async () => {
    const m = cgroupManager(layout, path());
    m.create({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rw' }] });
    try {
      assert.equal(read(join(layout.v1.devices!, `/${TOP}/v1-${n}`, 'devices.list')), 'c 1:3 rwm\nc 136:* rw');
    } finally {
      await m.destroy();
    }
  });

  test('a device update writes only the difference from what devices.list shows: no deny-all reset', async () => {
    const base = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }];
    const lists = [[...base, { allow: true, type: 'c', major: 136, access: 'rw' }], [...base, { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }]];
    const m = cgroupManager(layout, path());
    m.create({ devices: lists[0] });
    const dir = join(layout.v1.devices!, `/${TOP}/v1-${n}`);
    try {
      // What apply() will write, planned against the kernel's own list of this cgroup.
      const writes = (list: NonNullable<OciResources['devices']>) => planV1(validateResources({ devices: list }, 1), { has: () => true, memoryLimit: () => 0, devices: () => devicesNow(dir) })
        .map((w) => `${w.file} ${w.value}`);
      assert.deepEqual(writes(lists[1]!), ['devices.deny c 136:* rw', 'devices.allow c 10:200 rwm']);
      m.apply({ devices: lists[1] as never });
      assert.equal(read(join(dir, 'devices.list')), 'c 1:3 rwm\nc 1:5 rwm\nc 10:200 rwm');
      assert.deepEqual(writes(lists[1]!), [], 'in force already: nothing to write');
      m.apply({ devices: base.slice(0, 2) as never });
      assert.equal(read(join(dir, 'devices.list')), 'c 1:3 rwm');
    } finally {
      await m.destroy();
    }
  });

  test('the kernel refusing a value is INVALID_CONFIG naming the resource, file and value', async () => {
    const m = cgroupManager(layout, path());
    m.create(undefined);
    try {
      assert.throws(() => m.apply({ cpu: { quota: 500 } }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.cpu.quota'
        && e.message === `write ${join(layout.v1.cpu!, `/${TOP}/v1-${n}`, 'cpu.cfs_quota_us')} "500": EINVAL`);
      assert.throws(() => m.apply({ unified: { 'memory.high': '1' } }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.unified');
    } finally {
      await m.destroy();
    }
  });

  test('a cgroup that already holds processes is refused and left as it was; a failed create removes what it made', async () => {
    const first = cgroupManager(layout, path());
    first.create(undefined);
    const child = start('sleep', ['100']);
    try {
      await first.join(child.pid!);
      assert.throws(() => cgroupManager(layout, `/${TOP}/v1-${n}`).create(undefined), (e) => isRuntimeError(e, 'ILLEGAL_STATE') && e.message.includes('already exists and holds processes'));
      assert.deepEqual(first.pids(), [child.pid]);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      await first.destroy();
    }
    const bad = cgroupManager(layout, path());
    assert.throws(() => bad.create({ cpu: { cpus: '99' } }), (e) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.resources.cpu.cpus');
    assert.equal(bad.exists(), false);
  });
});
