import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCgroupLayout, readCgroupLayout } from '../../src/effects/cgroupLayout.js';

/** This project's machines: systemd's hybrid layout (cat /proc/self/mountinfo). */
const HYBRID = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,nr_inodes=3083608,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** A classic v1 host (CentOS 7 style): co-mounted controllers, optional fields, release_agent. */
const V1 = `18 62 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,net_prio,net_cls
29 24 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpuacct,cpu
30 24 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 24 0:27 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,freezer
40 24 0:25 /docker /var/lib/docker/cgroup/cpu rw,relatime - cgroup cgroup rw,cpuacct,cpu
62 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/root rw,attr2,inode64,noquota
`;

/** A current distribution: cgroup2 only (Debian 12, Fedora), with a space in an unrelated mountpoint. */
const V2 = `22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
90 22 0:50 / /media/my\\040disk rw,relatime shared:40 - vfat /dev/sdb1 rw
`;

test('hybrid: v1 controllers, a named hierarchy, and cgroup2 at unified', () => {
  assert.deepEqual(parseCgroupLayout(HYBRID), {
    kind: 'hybrid',
    v1: {
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      cpuset: '/sys/fs/cgroup/cpuset',
      memory: '/sys/fs/cgroup/memory',
      devices: '/sys/fs/cgroup/devices',
      freezer: '/sys/fs/cgroup/freezer',
      blkio: '/sys/fs/cgroup/blkio',
      pids: '/sys/fs/cgroup/pids',
      'name=systemd': '/sys/fs/cgroup/systemd',
    },
    unified: '/sys/fs/cgroup/unified',
  });
});

test('v1: co-mounted controllers share a mountpoint; options that are not controllers are skipped; first mount wins', () => {
  const layout = parseCgroupLayout(V1);
  assert.equal(layout.kind, 'v1');
  assert.equal(layout.unified, null);
  assert.deepEqual(layout.v1, {
    'name=systemd': '/sys/fs/cgroup/systemd',
    net_prio: '/sys/fs/cgroup/net_cls,net_prio',
    net_cls: '/sys/fs/cgroup/net_cls,net_prio',
    cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
    cpu: '/sys/fs/cgroup/cpu,cpuacct',
    memory: '/sys/fs/cgroup/memory',
    freezer: '/sys/fs/cgroup/freezer',
  });
});

test('v2: only cgroup2', () => {
  assert.deepEqual(parseCgroupLayout(V2), { kind: 'v2', v1: {}, unified: '/sys/fs/cgroup' });
});

test('v2 with a leftover named v1 hierarchy is still v2', () => {
  const text = `${V2}91 26 0:60 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n`;
  assert.deepEqual(parseCgroupLayout(text), { kind: 'v2', v1: { 'name=systemd': '/sys/fs/cgroup/systemd' }, unified: '/sys/fs/cgroup' });
});

test('octal escapes in mountpoints are decoded; malformed lines are skipped', () => {
  const text = 'garbage\n\n50 1 0:70 / /cg\\040root rw - cgroup2 cgroup2 rw\n';
  assert.deepEqual(parseCgroupLayout(text), { kind: 'v2', v1: {}, unified: '/cg root' });
});

test('readCgroupLayout reads this machine', () => {
  const layout = readCgroupLayout();
  assert.ok(['v1', 'hybrid', 'v2'].includes(layout.kind));
  if (layout.kind !== 'v1') assert.equal(typeof layout.unified, 'string');
});
