/**
 * The v2 device controller (a BPF_PROG_TYPE_CGROUP_DEVICE program, src/effects/cgroups/devices.ts)
 * enforced by this kernel. On a hybrid host the cgroup2 at /sys/fs/cgroup/unified has no
 * controllers, but device programs attached there still run for the processes in its cgroups:
 * the v2 backend is pointed at it, a busybox is spawned into the cgroup (CLONE_INTO_CGROUP) and
 * tries /dev/null and /dev/zero; then the rules are updated and a new process tries again.
 * Everything is detached, removed and closed at the end.
 */
import assert from 'node:assert/strict';
import { closeSync, constants as fsc, existsSync, openSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { withDefaultDevices } from '../../src/effects/cgroup.js';
import { DEVICE_FILTER_LICENSE, deviceFilter } from '../../src/effects/cgroups/devices.js';
import { v2Manager } from '../../src/effects/cgroups/v2.js';
import { linuxSyscalls } from '../../src/effects/linux.js';
import type { Syscalls, WaitStatus } from '../../src/effects/syscalls.js';
import { drain, exited } from '../helpers/spawn.js';
import { fds, newFds } from '../helpers/leaks.js';
import { layout, rootSkip } from './helpers.js';

const BUSYBOX = '/bin/busybox';
const NAME = `berth-devtest-${process.pid}`;

/** Why this cannot run here, naming the missing feature; probes the kernel with a tiny program. */
function why(): string | undefined {
  if (rootSkip) return rootSkip;
  if (layout.unified === null) return 'requires a cgroup2 mount';
  if (!existsSync(BUSYBOX)) return 'requires /bin/busybox (the busybox-static package)';
  let sys: Syscalls;
  try {
    sys = linuxSyscalls();
  } catch (e) {
    return (e as Error).message;
  }
  try {
    sys.close(sys.bpfProgLoadDevice(deviceFilter([]), DEVICE_FILTER_LICENSE));
  } catch (e) {
    return `the kernel refuses BPF_PROG_TYPE_CGROUP_DEVICE programs (${(e as Error).message})`;
  }
  return undefined;
}
const skip = why();
const sys = skip ? undefined! : linuxSyscalls();

/** busybox `sh -c script` spawned into the cgroup `cgfd`; stdout and stderr after it exits. */
async function runIn(cgfd: number, script: string): Promise<{ stdout: string; stderr: string; status: WaitStatus | null }> {
  const exe = sys.sealedCopy(BUSYBOX);
  const stdin = openSync('/dev/null', 'r'); // opened here, by the runtime: not subject to the program
  const [outR, outW] = sys.pipe();
  const [errR, errW] = sys.pipe();
  let pidfd: number;
  try {
    pidfd = sys.spawn({ exe, argv: ['sh', '-c', script], env: ['PATH=/bin:/usr/bin'], flags: 0, fds: [stdin, outW, errW], cgroupFd: cgfd }).pidfd;
  } finally {
    for (const fd of [exe, outW, errW]) sys.close(fd);
    closeSync(stdin);
  }
  const status = await exited(sys, pidfd);
  sys.close(pidfd);
  const stdout = drain(outR);
  const stderr = drain(errR);
  sys.close(outR);
  sys.close(errR);
  return { stdout, stderr, status };
}

const SCRIPT = 'echo x > /dev/null && echo ok1; head -c1 /dev/zero >/dev/null && echo ok2 || echo denied2';

describe('cgroup v2 devices: a BPF program on the real cgroup2', { skip }, () => {
  const dir = join(layout.unified ?? '/nonexistent', NAME);
  after(() => {
    if (!existsSync(dir)) return;
    const cg = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      for (const id of sys.bpfProgQueryDevice(cg)) {
        const fd = sys.bpfProgGetFdById(id);
        try { sys.bpfProgDetach(fd, cg); } finally { sys.close(fd); }
      }
    } finally {
      closeSync(cg);
    }
    rmdirSync(dir);
  });

  test('deny all + allow c 1:3 rw: /dev/null writes, /dev/zero is refused; an update allowing both replaces the program', async () => {
    const fdsBefore = fds();
    const m = v2Manager(layout.unified!, `/${NAME}`, { sys });
    m.create({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] });
    const cg = m.openForSpawn()!;
    try {
      assert.equal(sys.bpfProgQueryDevice(cg).length, 1);
      const first = await runIn(cg, SCRIPT);
      assert.deepEqual(first.status?.code, 0, first.stderr);
      assert.equal(first.stdout, 'ok1\ndenied2\n', first.stderr);
      assert.match(first.stderr, /\/dev\/zero: Operation not permitted/);

      const [before] = sys.bpfProgQueryDevice(cg);
      m.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
      const after = sys.bpfProgQueryDevice(cg);
      assert.equal(after.length, 1, 'the old program was detached');
      assert.notEqual(after[0], before);
      const second = await runIn(cg, SCRIPT);
      assert.equal(second.stdout, 'ok1\nok2\n', second.stderr);
      assert.equal(second.stderr, '');

      // berth's defaults (deny-all + runc's list): /dev/zero and /dev/full open, /dev/kmsg (c 1:11) does not.
      m.apply(withDefaultDevices({ devices: [{ allow: false, access: 'rwm' }] }));
      assert.equal(sys.bpfProgQueryDevice(cg).length, 1);
      const third = await runIn(cg, 'head -c1 /dev/zero >/dev/null && : >/dev/full && echo ok; head -c1 /dev/kmsg >/dev/null && echo kmsg || echo denied');
      assert.equal(third.stdout, 'ok\ndenied\n', third.stderr);
      assert.match(third.stderr, /\/dev\/kmsg: Operation not permitted/);

      // Detach by id (what an update does to the old program): the cgroup is unrestricted again.
      for (const id of sys.bpfProgQueryDevice(cg)) {
        const fd = sys.bpfProgGetFdById(id);
        try { sys.bpfProgDetach(fd, cg); } finally { sys.close(fd); }
      }
      assert.deepEqual(sys.bpfProgQueryDevice(cg), []);
      assert.equal((await runIn(cg, 'head -c1 /dev/kmsg >/dev/null && echo kmsg')).stdout, 'kmsg\n');
    } finally {
      closeSync(cg);
    }
    await m.destroy();
    assert.equal(existsSync(dir), false);
    assert.deepEqual(newFds(fdsBefore), [], 'no fd leaked');
  });
});
