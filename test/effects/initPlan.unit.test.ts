import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import type { CgroupLayout } from '../../src/effects/cgroupLayout.js';
import { capabilityMask, parseMountOptions, planInit, type InitHost } from '../../src/effects/initPlan.js';
import * as L from '../../src/effects/linuxConstants.js';
import { encodePlan, type PlanOp } from '../../src/effects/planWire.js';
import { planTerminal } from '../../src/effects/terminalPlan.js';
import { defaultConfig, validateConfig, type OciConfig } from '../../src/machines/spec.js';

const HYBRID: CgroupLayout = {
  kind: 'hybrid',
  v1: {
    cpu: '/sys/fs/cgroup/cpu', memory: '/sys/fs/cgroup/memory', freezer: '/sys/fs/cgroup/freezer',
    'name=systemd': '/sys/fs/cgroup/systemd',
  },
  unified: '/sys/fs/cgroup/unified',
};
const V1: CgroupLayout = {
  kind: 'v1',
  v1: {
    cpuacct: '/sys/fs/cgroup/cpu,cpuacct', cpu: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory',
    'name=systemd': '/sys/fs/cgroup/systemd',
  },
  unified: null,
};
const V2: CgroupLayout = { kind: 'v2', v1: {}, unified: '/sys/fs/cgroup' };

const host = (cgroups: CgroupLayout = V2, extra: Partial<InitHost> = {}): InitHost =>
  ({ rootfs: '/run/b/rootfs', bundle: '/run/b', cgroups, ...extra });

type Json = Record<string, any>;
/** The default config with `edit` applied, through validateConfig as create does. */
function config(edit: (c: Json) => void = () => {}): OciConfig {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  edit(c);
  return validateConfig(c);
}

const line = (o: PlanOp) => [o.op, ...o.args].join(' ');
const lines = (ops: PlanOp[]) => ops.map(line);

function rejects(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRuntimeError(e, 'INVALID_CONFIG'), String(e));
    assert.equal(e.field, field);
    return true;
  });
}

const NOSUID_NOEXEC_NODEV = L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV;
const CGROUP_FLAGS = NOSUID_NOEXEC_NODEV | L.MS_RELATIME | L.MS_RDONLY;
const DEFAULT_CAPS = capabilityMask(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);

test('the default config on a hybrid host: the exact ordered plan', () => {
  const plan = planInit(config(), host(HYBRID, { kcore: true }));
  assert.equal(plan.cloneFlags, L.CLONE_NEWPID | L.CLONE_NEWNET | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS);
  assert.equal(DEFAULT_CAPS, (1n << 29n) | (1n << 5n) | (1n << 10n));
  assert.deepEqual(lines(plan.ops), [
    'SETSID',
    `PROPAGATION ${L.MS_REC | L.MS_SLAVE}`,
    'ROOTFS /run/b/rootfs',
    'MOUNT proc /proc proc 0 -',
    `MOUNT tmpfs /dev tmpfs ${L.MS_NOSUID | L.MS_STRICTATIME} mode=755,size=65536k`,
    `MOUNT devpts /dev/pts devpts ${L.MS_NOSUID | L.MS_NOEXEC} newinstance,ptmxmode=0666,mode=0620,gid=5`,
    `MOUNT shm /dev/shm tmpfs ${NOSUID_NOEXEC_NODEV} mode=1777,size=65536k`,
    `MOUNT mqueue /dev/mqueue mqueue ${NOSUID_NOEXEC_NODEV} -`,
    `MOUNT sysfs /sys sysfs ${NOSUID_NOEXEC_NODEV | L.MS_RDONLY} -`,
    `MOUNT tmpfs /sys/fs/cgroup tmpfs ${CGROUP_FLAGS & ~L.MS_RDONLY} mode=755`,
    `MOUNT cgroup /sys/fs/cgroup/cpu cgroup ${CGROUP_FLAGS} cpu`,
    `MOUNT cgroup /sys/fs/cgroup/memory cgroup ${CGROUP_FLAGS} memory`,
    `MOUNT cgroup /sys/fs/cgroup/freezer cgroup ${CGROUP_FLAGS} freezer`,
    `MOUNT cgroup /sys/fs/cgroup/systemd cgroup ${CGROUP_FLAGS} none,name=systemd`,
    `MOUNT cgroup2 /sys/fs/cgroup/unified cgroup2 ${CGROUP_FLAGS} -`,
    `MOUNT tmpfs /sys/fs/cgroup tmpfs ${CGROUP_FLAGS | L.MS_BIND | L.MS_REMOUNT} -`,
    `MKNOD /dev/null ${L.S_IFCHR | 0o666} 1 3 0 0`,
    `MKNOD /dev/random ${L.S_IFCHR | 0o666} 1 8 0 0`,
    `MKNOD /dev/full ${L.S_IFCHR | 0o666} 1 7 0 0`,
    `MKNOD /dev/tty ${L.S_IFCHR | 0o666} 5 0 0 0`,
    `MKNOD /dev/zero ${L.S_IFCHR | 0o666} 1 5 0 0`,
    `MKNOD /dev/urandom ${L.S_IFCHR | 0o666} 1 9 0 0`,
    'SYMLINK pts/ptmx /dev/ptmx',
    'SYMLINK /proc/self/fd /dev/fd',
    'SYMLINK /proc/self/fd/0 /dev/stdin',
    'SYMLINK /proc/self/fd/1 /dev/stdout',
    'SYMLINK /proc/self/fd/2 /dev/stderr',
    'SYMLINK /proc/kcore /dev/core',
    'PIVOT_ROOT',
    'MASK /proc/acpi',
    'MASK /proc/asound',
    'MASK /proc/kcore',
    'MASK /proc/keys',
    'MASK /proc/latency_stats',
    'MASK /proc/timer_list',
    'MASK /proc/timer_stats',
    'MASK /proc/sched_debug',
    'MASK /sys/firmware',
    'MASK /proc/scsi',
    'READONLY /proc/bus',
    'READONLY /proc/fs',
    'READONLY /proc/irq',
    'READONLY /proc/sys',
    'READONLY /proc/sysrq-trigger',
    'ROOT_READONLY',
    'HOSTNAME berth',
    `RLIMIT ${L.RLIMITS.RLIMIT_NOFILE} 1024 1024`,
    `CREDS 0 0 - ${DEFAULT_CAPS} ${DEFAULT_CAPS} ${DEFAULT_CAPS} 0 ${DEFAULT_CAPS}`,
    'NO_NEW_PRIVS',
    'UMASK 0022',
    'CWD /',
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'ENV TERM=xterm',
    'ARG sh',
    'EXEC',
  ]);
});

test('the numbers in that plan, spelled out', () => {
  assert.equal(L.MS_REC | L.MS_SLAVE, 540672);
  assert.equal(CGROUP_FLAGS, 2097167);
  assert.equal(L.S_IFCHR | 0o666, 8630);
  assert.equal(DEFAULT_CAPS, 536871968n);
  assert.equal(L.CLONE_NEWPID | L.CLONE_NEWNET | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS, 0x6c020000);
});

test('wire bytes of a minimal plan are stable', () => {
  const minimal = validateConfig({
    ociVersion: '1.0.2',
    root: { path: 'rootfs' },
    process: { user: { uid: 1000, gid: 1000, additionalGids: [10, 20], umask: 0o77 }, args: ['/bin/echo', 'hi there'], cwd: '/tmp' },
    linux: { namespaces: [{ type: 'mount' }] },
  });
  const plan = planInit(minimal, host());
  assert.equal(plan.cloneFlags, L.CLONE_NEWNS);
  const expected = [
    'BERTH-PLAN', '1',
    'SETSID', '0',
    'PROPAGATION', '1', '540672',
    'ROOTFS', '1', '/run/b/rootfs',
    'PIVOT_ROOT', '0',
    'CREDS', '8', '1000', '1000', '10,20', '-', '-', '-', '0', '-',
    'UMASK', '1', '0077',
    'CWD', '1', '/tmp',
    'ARG', '1', '/bin/echo',
    'ARG', '1', 'hi there',
    'EXEC', '0',
    'END', '0',
  ].join('\0') + '\0';
  assert.equal(encodePlan(plan.ops).toString('latin1'), expected);
});

test('wire bytes of the default plan are stable (v2 host)', () => {
  const bytes = encodePlan(planInit(config(), host(V2)).ops);
  assert.equal(bytes.length, 1358);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), DEFAULT_V2_SHA256);
});
const DEFAULT_V2_SHA256 = 'b2c86bbe2d7cb700818b3fa08d93c7625c17845158d9d9929f6ac49c1127b9fd';

test('mount option translation follows runc', () => {
  const table: [string[], number][] = [
    [['ro'], L.MS_RDONLY],
    [['ro', 'rw'], 0],
    [['nosuid', 'suid'], 0],
    [['nodev'], L.MS_NODEV],
    [['nodev', 'dev'], 0],
    [['noexec', 'exec'], 0],
    [['noexec'], L.MS_NOEXEC],
    [['sync'], L.MS_SYNCHRONOUS],
    [['sync', 'async'], 0],
    [['dirsync'], L.MS_DIRSYNC],
    [['remount'], L.MS_REMOUNT],
    [['mand'], L.MS_MANDLOCK],
    [['mand', 'nomand'], 0],
    [['noatime'], L.MS_NOATIME],
    [['noatime', 'atime'], 0],
    [['nodiratime'], L.MS_NODIRATIME],
    [['nodiratime', 'diratime'], 0],
    [['relatime'], L.MS_RELATIME],
    [['relatime', 'norelatime'], 0],
    [['strictatime'], L.MS_STRICTATIME],
    [['strictatime', 'nostrictatime'], 0],
    [['iversion', 'lazytime'], L.MS_I_VERSION | L.MS_LAZYTIME],
    [['iversion', 'noiversion', 'lazytime', 'nolazytime'], 0],
    [['silent'], L.MS_SILENT],
    [['silent', 'loud'], 0],
    [['nosymfollow'], L.MS_NOSYMFOLLOW],
    [['nosymfollow', 'symfollow'], 0],
    [['bind'], L.MS_BIND],
    [['rbind'], L.MS_BIND | L.MS_REC],
    [['defaults', 'tmpcopyup'], 0],
    [['nosuid', 'nodev', 'noexec', 'ro'], L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC | L.MS_RDONLY],
  ];
  for (const [options, flags] of table) {
    const parsed = parseMountOptions(options);
    assert.equal(parsed.flags, flags, options.join(','));
    assert.deepEqual(parsed.data, [], options.join(','));
  }
  assert.deepEqual(parseMountOptions(['private', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable', 'shared', 'rprivate']).propagation, [
    L.MS_PRIVATE, L.MS_SHARED | L.MS_REC, L.MS_SLAVE, L.MS_SLAVE | L.MS_REC,
    L.MS_UNBINDABLE, L.MS_UNBINDABLE | L.MS_REC, L.MS_SHARED, L.MS_PRIVATE | L.MS_REC,
  ]);
  assert.deepEqual(parseMountOptions(['mode=755', 'acl', 'size=1m', 'ro', 'constructor']), {
    flags: L.MS_RDONLY, propagation: [], data: ['mode=755', 'acl', 'size=1m', 'constructor'],
  });
});

test('recursive mount attributes become one MOUNT_SETATTR after the mount, before propagation (runc\'s table)', () => {
  const attrs = (options: string[]) => {
    const plan = planInit(config((c) => (c.mounts = [{ destination: '/data', type: 'bind', source: '/srv', options: ['rbind', ...options, 'rshared'] }])), host());
    assert.deepEqual(parseMountOptions(options).data, [], 'not mount(2) data');
    return lines(plan.ops).slice(3, 6);
  };
  const A = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, ATIME: 0x70, NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, NOSYMFOLLOW: 0x200000 };
  assert.deepEqual(attrs(['rro', 'rnosuid']), [
    `BIND /srv /data ${L.MS_BIND | L.MS_REC}`, `MOUNT_SETATTR /data ${A.RDONLY | A.NOSUID} 0`, `PROPAGATE /data ${L.MS_SHARED | L.MS_REC}`,
  ]);
  const setClr = (options: string[]) => attrs(options)[1]!.split(' ').slice(2).map(Number);
  assert.deepEqual(setClr(['rrw', 'rsuid', 'rdev', 'rexec']), [0, A.RDONLY | A.NOSUID | A.NODEV | A.NOEXEC]);
  assert.deepEqual(setClr(['rnodev', 'rnoexec', 'rnosymfollow', 'rnodiratime']), [A.NODEV | A.NOEXEC | A.NOSYMFOLLOW | A.NODIRATIME, 0]);
  assert.deepEqual(setClr(['rnoatime']), [A.NOATIME, A.ATIME], 'an access-time setting also clears MOUNT_ATTR__ATIME');
  assert.deepEqual(setClr(['rstrictatime']), [A.STRICTATIME, A.ATIME]);
  assert.deepEqual(setClr(['rrelatime']), [0, A.ATIME]);
  assert.deepEqual(setClr(['ratime', 'rnostrictatime', 'rnorelatime', 'rsymfollow', 'rdiratime']), [0, A.NOATIME | A.STRICTATIME | A.NOSYMFOLLOW | A.NODIRATIME]);
  assert.deepEqual(setClr(['rro', 'rrw']), [0, A.RDONLY], 'the last of two opposites wins');
  assert.deepEqual(setClr(['rrw', 'rro']), [A.RDONLY, 0]);
});

test('idmapped binds: MOVE_MOUNT of fds 8, 9, ... in mount order, with what the runtime must prepare', () => {
  const m = (containerID: number, hostID: number, size: number) => ({ containerID, hostID, size });
  const plan = planInit(config((c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [m(0, 100000, 65536)];
    c.linux.gidMappings = [m(0, 200000, 65536)];
    c.mounts = [
      { destination: '/a', type: 'bind', source: '/srv/a', options: ['rbind', 'ro', 'ridmap'], uidMappings: [m(1000, 5000, 1)], gidMappings: [m(1000, 6000, 1)] },
      { destination: '/plain', type: 'bind', source: '/srv/plain', options: ['bind'] },
      { destination: '/b', type: 'bind', source: 'rel', options: ['bind', 'idmap'] },
    ];
  }), host());
  assert.deepEqual(lines(plan.ops).slice(3, 6), [
    `MOVE_MOUNT 8 /a ${L.MS_BIND | L.MS_REC | L.MS_RDONLY}`,
    `BIND /srv/plain /plain ${L.MS_BIND}`,
    `MOVE_MOUNT 9 /b ${L.MS_BIND}`,
  ]);
  assert.deepEqual(plan.idmapped, [
    { fd: 8, field: 'mounts[0]', source: '/srv/a', recursiveBind: true, recursive: true, uidMappings: [m(1000, 5000, 1)], gidMappings: [m(1000, 6000, 1)] },
    { fd: 9, field: 'mounts[2]', source: '/run/b/rel', recursiveBind: false, recursive: false, uidMappings: [m(0, 100000, 65536)], gidMappings: [m(0, 200000, 65536)] },
  ]);
  assert.equal(plan.cloneFlags & L.CLONE_NEWUSER, L.CLONE_NEWUSER);
  assert.deepEqual(plan.userns, { uidMappings: [m(0, 100000, 65536)], gidMappings: [m(0, 200000, 65536)] });
  assert.equal(planInit(config(), host()).userns, null);
});

test('tmpcopyup makes a tmpfs a TMPCOPYUP with MOUNT\'s arguments; on other types it does nothing (runc)', () => {
  const plan = planInit(config((c) => (c.mounts = [
    { destination: '/etc', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup', 'nosuid', 'mode=755'] },
    { destination: '/q', type: 'mqueue', source: 'mqueue', options: ['tmpcopyup'] },
  ])), host());
  assert.deepEqual(lines(plan.ops).slice(3, 5), [`TMPCOPYUP tmpfs /etc tmpfs ${L.MS_NOSUID} mode=755`, 'MOUNT mqueue /q mqueue 0 -']);
});

test('in a user namespace without a network namespace, sysfs is the host\'s /sys bound recursively (runc)', () => {
  const userns = (c: Json) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  };
  const sysOps = (edit: (c: Json) => void) => lines(planInit(config(edit), host()).ops).filter((l) => / \/sys /.test(l));
  const flags = NOSUID_NOEXEC_NODEV | L.MS_RDONLY;
  assert.deepEqual(sysOps((c) => {
    userns(c);
    c.linux.namespaces = c.linux.namespaces.filter((n: Json) => n.type !== 'network');
  }), [`BIND /sys /sys ${flags | L.MS_BIND | L.MS_REC}`]);
  assert.deepEqual(sysOps(userns), [`MOUNT sysfs /sys sysfs ${flags} -`], 'with its own network namespace, a fresh sysfs');
  assert.deepEqual(sysOps((c) => (c.linux.namespaces = c.linux.namespaces.filter((n: Json) => n.type !== 'network'))),
    [`MOUNT sysfs /sys sysfs ${flags} -`], 'without a user namespace the kernel allows sysfs');
});

test('bind mounts: sources relative to the bundle, flags, propagation after the mount', () => {
  const plan = planInit(config((c) => {
    c.mounts = [
      { destination: '/data', type: 'none', source: 'volumes/data', options: ['rbind', 'ro', 'nosuid', 'rprivate'] },
      { destination: '/etc/hosts', type: 'bind', source: '/etc/hosts' },
      { destination: 'relative/../dest/', source: '../shared', options: ['bind', 'shared'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['private', 'size=1m'] },
    ];
  }), host());
  const mountOps = lines(plan.ops).slice(3, 9);
  assert.deepEqual(mountOps, [
    `BIND /run/b/volumes/data /data ${L.MS_BIND | L.MS_REC | L.MS_RDONLY | L.MS_NOSUID}`,
    `PROPAGATE /data ${L.MS_PRIVATE | L.MS_REC}`,
    `BIND /etc/hosts /etc/hosts ${L.MS_BIND}`,
    `BIND /run/shared /dest ${L.MS_BIND}`,
    `PROPAGATE /dest ${L.MS_SHARED}`,
    'MOUNT tmpfs /tmp tmpfs 0 size=1m',
  ]);
  assert.equal(line(plan.ops[9]!), `PROPAGATE /tmp ${L.MS_PRIVATE}`);
});

test('a relative bind source needs an absolute bundle path', () => {
  const cfg = config((c) => c.mounts.push({ destination: '/x', source: 'x', options: ['bind'] }));
  rejects(() => planInit(cfg, host(V2, { bundle: '' })), 'mounts[7].source');
});

test('cgroup mount on a v2 host: one cgroup2 mount', () => {
  const ops = lines(planInit(config(), host(V2)).ops);
  const cg = ops.filter((l) => l.includes('/sys/fs/cgroup'));
  assert.deepEqual(cg, [`MOUNT cgroup2 /sys/fs/cgroup cgroup2 ${CGROUP_FLAGS} -`]);
});

test('cgroup mount on a v1 host: a tmpfs, one mount per hierarchy, symlinks for co-mounted controllers, ro remount last', () => {
  const ops = lines(planInit(config(), host(V1)).ops);
  const cg = ops.filter((l) => l.includes('/sys/fs/cgroup'));
  assert.deepEqual(cg, [
    `MOUNT tmpfs /sys/fs/cgroup tmpfs ${CGROUP_FLAGS & ~L.MS_RDONLY} mode=755`,
    `MOUNT cgroup /sys/fs/cgroup/cpuacct,cpu cgroup ${CGROUP_FLAGS} cpuacct,cpu`,
    `MOUNT cgroup /sys/fs/cgroup/memory cgroup ${CGROUP_FLAGS} memory`,
    `MOUNT cgroup /sys/fs/cgroup/systemd cgroup ${CGROUP_FLAGS} none,name=systemd`,
    'SYMLINK cpuacct,cpu /sys/fs/cgroup/cpuacct',
    'SYMLINK cpuacct,cpu /sys/fs/cgroup/cpu',
    `MOUNT tmpfs /sys/fs/cgroup tmpfs ${CGROUP_FLAGS | L.MS_BIND | L.MS_REMOUNT} -`,
  ]);
});

test('cgroup mount on a hybrid host, read-write: no remount, cgroup2 at unified', () => {
  const cfg = config((c) => (c.mounts[6].options = ['nosuid', 'noexec', 'nodev']));
  const cg = lines(planInit(cfg, host(HYBRID)).ops).filter((l) => l.includes('/sys/fs/cgroup'));
  assert.deepEqual(cg, [
    `MOUNT tmpfs /sys/fs/cgroup tmpfs ${NOSUID_NOEXEC_NODEV} mode=755`,
    `MOUNT cgroup /sys/fs/cgroup/cpu cgroup ${NOSUID_NOEXEC_NODEV} cpu`,
    `MOUNT cgroup /sys/fs/cgroup/memory cgroup ${NOSUID_NOEXEC_NODEV} memory`,
    `MOUNT cgroup /sys/fs/cgroup/freezer cgroup ${NOSUID_NOEXEC_NODEV} freezer`,
    `MOUNT cgroup /sys/fs/cgroup/systemd cgroup ${NOSUID_NOEXEC_NODEV} none,name=systemd`,
    `MOUNT cgroup2 /sys/fs/cgroup/unified cgroup2 ${NOSUID_NOEXEC_NODEV} -`,
  ]);
});

test('without a cgroup namespace, the container\'s own cgroup directories are bound (as runc), not the host\'s hierarchy', () => {
  const cfg = config((c) => (c.mounts[6].options = ['nosuid', 'noexec', 'nodev']));
  const bind = NOSUID_NOEXEC_NODEV | L.MS_BIND;
  const hybrid = lines(planInit(cfg, host(HYBRID, { cgroup: '/berth/web' })).ops).filter((l) => l.includes('/sys/fs/cgroup'));
  assert.deepEqual(hybrid, [
    `MOUNT tmpfs /sys/fs/cgroup tmpfs ${NOSUID_NOEXEC_NODEV} mode=755`,
    `BIND /sys/fs/cgroup/cpu/berth/web /sys/fs/cgroup/cpu ${bind}`,
    `BIND /sys/fs/cgroup/memory/berth/web /sys/fs/cgroup/memory ${bind}`,
    `BIND /sys/fs/cgroup/freezer/berth/web /sys/fs/cgroup/freezer ${bind}`,
    `BIND /sys/fs/cgroup/systemd/berth/web /sys/fs/cgroup/systemd ${bind}`,
    `BIND /sys/fs/cgroup/unified/berth/web /sys/fs/cgroup/unified ${bind}`,
  ]);
  const v2 = lines(planInit(cfg, host(V2, { cgroup: '/berth/web' })).ops).filter((l) => l.includes('/sys/fs/cgroup'));
  assert.deepEqual(v2, [`BIND /sys/fs/cgroup/berth/web /sys/fs/cgroup ${bind}`]);
  // with its own cgroup namespace the container gets fresh mounts rooted at the namespace
  const ns = config((c) => { c.mounts[6].options = ['nosuid', 'noexec', 'nodev']; c.linux.namespaces.push({ type: 'cgroup' }); });
  assert.deepEqual(lines(planInit(ns, host(V2, { cgroup: '/berth/web' })).ops).filter((l) => l.includes('/sys/fs/cgroup')),
    [`MOUNT cgroup2 /sys/fs/cgroup cgroup2 ${NOSUID_NOEXEC_NODEV} -`]);
});

test('a read-only tmpfs is mounted read-write and remounted read-only after devices are made', () => {
  const ops = lines(planInit(config((c) => c.mounts[1].options.push('ro')), host()).ops);
  const flags = L.MS_NOSUID | L.MS_STRICTATIME;
  const mount = ops.indexOf(`MOUNT tmpfs /dev tmpfs ${flags} mode=755,size=65536k`);
  const remount = ops.indexOf(`MOUNT tmpfs /dev tmpfs ${flags | L.MS_RDONLY | L.MS_BIND | L.MS_REMOUNT} -`);
  assert.ok(mount > 0 && remount > mount);
  assert.ok(remount > ops.findLastIndex((l) => l.startsWith('MKNOD') || l.startsWith('SYMLINK')));
  assert.equal(ops[remount + 1], 'PIVOT_ROOT');
});

test('devices: spec devices replace same-path defaults and follow them', () => {
  const ops = lines(planInit(config((c) => {
    c.linux.devices = [
      { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o20600, uid: 5, gid: 6 },
      { path: '/dev/sda', type: 'b', major: 8, minor: 0 },
      { path: '/dev/fifo', type: 'p', fileMode: 0o640 },
      { path: '/dev/fuse', type: 'u', major: 10, minor: 229 },
    ];
  }), host()).ops).filter((l) => l.startsWith('MKNOD'));
  assert.deepEqual(ops, [
    `MKNOD /dev/random ${L.S_IFCHR | 0o666} 1 8 0 0`,
    `MKNOD /dev/full ${L.S_IFCHR | 0o666} 1 7 0 0`,
    `MKNOD /dev/tty ${L.S_IFCHR | 0o666} 5 0 0 0`,
    `MKNOD /dev/zero ${L.S_IFCHR | 0o666} 1 5 0 0`,
    `MKNOD /dev/urandom ${L.S_IFCHR | 0o666} 1 9 0 0`,
    `MKNOD /dev/null ${L.S_IFCHR | 0o600} 1 3 5 6`,
    `MKNOD /dev/sda ${L.S_IFBLK | 0o666} 8 0 0 0`,
    `MKNOD /dev/fifo ${L.S_IFIFO | 0o640} 0 0 0 0`,
    `MKNOD /dev/fuse ${L.S_IFCHR | 0o666} 10 229 0 0`,
  ]);
});

test('devices: none with /dev bound from the host; only the spec ones without a /dev mount', () => {
  const bound = planInit(config((c) => {
    c.mounts[1] = { destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] };
    c.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
  }), host());
  assert.equal(bound.ops.filter((o) => o.op === 'MKNOD' || o.op === 'SYMLINK').length, 0);
  const none = planInit(config((c) => {
    c.mounts.splice(1, 1);
    c.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
  }), host(V2, { kcore: true }));
  assert.deepEqual(lines(none.ops.filter((o) => o.op === 'MKNOD' || o.op === 'SYMLINK')), [`MKNOD /dev/fuse ${L.S_IFCHR | 0o666} 10 229 0 0`]);
});

test('/dev/core is linked only when the host has /proc/kcore', () => {
  const ops = lines(planInit(config(), host(V2, { kcore: false })).ops);
  assert.ok(!ops.includes('SYMLINK /proc/kcore /dev/core'));
});

test('namespaces: clone flags, mount namespace required, hostname and domainname need uts', () => {
  const all = planInit(config((c) => c.linux.namespaces.push({ type: 'cgroup' }, { type: 'time' })), host());
  assert.equal(all.cloneFlags,
    L.CLONE_NEWPID | L.CLONE_NEWNET | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS | L.CLONE_NEWCGROUP | L.CLONE_NEWTIME);
  rejects(() => planInit(config((c) => c.linux.namespaces.pop()), host()), 'linux.namespaces');
  rejects(() => planInit(config((c) => delete c.linux), host()), 'linux.namespaces');
  rejects(() => planInit(config((c) => c.linux.namespaces.splice(3, 1)), host()), 'hostname');
  rejects(() => planInit(config((c) => {
    c.linux.namespaces.splice(3, 1);
    delete c.hostname;
    c.domainname = 'example.org';
  }), host()), 'domainname');
  const noUts = planInit(config((c) => {
    c.linux.namespaces.splice(3, 1);
    c.hostname = '';
  }), host());
  assert.ok(!noUts.ops.some((o) => o.op === 'HOSTNAME'));
  const both = lines(planInit(config((c) => (c.domainname = 'example.org')), host()).ops);
  assert.deepEqual(both.filter((l) => /^(HOSTNAME|DOMAINNAME)/.test(l)), ['HOSTNAME berth', 'DOMAINNAME example.org']);
});

test('rootfsPropagation sets the PROPAGATION flags', () => {
  const flags = (p: string) => planInit(config((c) => (c.linux.rootfsPropagation = p)), host()).ops[1]!.args[0];
  assert.equal(flags('rprivate'), String(L.MS_PRIVATE | L.MS_REC));
  assert.equal(flags('shared'), String(L.MS_SHARED));
  assert.equal(flags('runbindable'), String(L.MS_UNBINDABLE | L.MS_REC));
});

test('sysctls: written right after PIVOT_ROOT (before /proc/sys turns read-only), only for namespaces the container owns', () => {
  const ok = lines(planInit(config((c) => {
    c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '100', 'fs.mqueue.queues_max': '10', 'kernel.domainname': 'x' };
  }), host()).ops);
  const at = ok.indexOf('PIVOT_ROOT');
  assert.deepEqual(ok.slice(at + 1, at + 5), [
    'SYSCTL net.ipv4.ip_forward 1', 'SYSCTL kernel.shmmax 100', 'SYSCTL fs.mqueue.queues_max 10',
    'SYSCTL kernel.domainname x',
  ]);
  assert.ok(ok.indexOf('READONLY /proc/sys') > at + 4);
  rejects(() => planInit(config((c) => (c.linux.sysctl = { 'vm.swappiness': '0' })), host()), 'linux.sysctl["vm.swappiness"]');
  rejects(() => planInit(config((c) => (c.linux.sysctl = { 'kernel.hostname': 'x' })), host()), 'linux.sysctl["kernel.hostname"]');
  rejects(() => planInit(config((c) => {
    c.linux.namespaces.splice(1, 1);
    c.linux.sysctl = { 'net.core.somaxconn': '1' };
  }), host()), 'linux.sysctl["net.core.somaxconn"]');
  rejects(() => planInit(config((c) => {
    c.linux.namespaces.splice(2, 1);
    c.linux.sysctl = { 'kernel.sem': '1 2 3 4' };
  }), host()), 'linux.sysctl["kernel.sem"]');
});

test('credentials: groups, capability masks, absent sets, inheritable off unless asked', () => {
  const creds = (edit: (c: Json) => void) => line(planInit(config(edit), host()).ops.find((o) => o.op === 'CREDS')!);
  assert.equal(creds((c) => delete c.process.capabilities), 'CREDS 0 0 - - - - 0 -');
  assert.equal(creds((c) => {
    c.process.user = { uid: 1, gid: 2, additionalGids: [3, 4] };
    c.process.capabilities = { bounding: ['CAP_CHECKPOINT_RESTORE', 'CAP_CHOWN'], inheritable: ['CAP_KILL'], effective: [] };
  }), `CREDS 1 2 3,4 ${(1n << 40n) | 1n} 0 - 32 -`);
  assert.equal(capabilityMask(['CAP_BPF', 'CAP_BPF']), 1n << 39n);
});

test('rlimits in order, large values as RLIM_INFINITY; oom score; no_new_privs only when true', () => {
  const ops = lines(planInit(config((c) => {
    c.process.rlimits = [
      { type: 'RLIMIT_CORE', soft: 0, hard: 18446744073709551615 },
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
      { type: 'RLIMIT_RTTIME', soft: Number.MAX_SAFE_INTEGER, hard: 2 ** 60 },
    ];
    c.process.oomScoreAdj = -17;
    c.process.noNewPrivileges = false;
  }), host()).ops);
  const at = ops.indexOf('HOSTNAME berth');
  assert.deepEqual(ops.slice(at + 1, at + 6), [
    `RLIMIT 4 0 ${L.RLIM_INFINITY}`,
    'RLIMIT 7 1024 4096',
    `RLIMIT 15 ${Number.MAX_SAFE_INTEGER} ${L.RLIM_INFINITY}`,
    'OOM_SCORE_ADJ -17',
    'CREDS 0 0 - 536871968 536871968 536871968 0 536871968',
  ]);
  assert.ok(!ops.includes('NO_NEW_PRIVS'));
});

test('a relative rootfs is a caller bug', () => {
  assert.throws(() => planInit(config(), host(V2, { rootfs: 'rootfs' })), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
});

test('terminal: TERMINAL right after PIVOT_ROOT (uid, consoleSize, /dev/console), before CREDS; none without a terminal', () => {
  const ops = lines(planInit(config((c) => {
    c.process.terminal = true;
    c.process.consoleSize = { height: 40, width: 120 };
    c.process.user.uid = 1000;
    c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
  }), host()).ops);
  const at = ops.indexOf('PIVOT_ROOT');
  assert.deepEqual(ops.slice(at + 1, at + 3), ['TERMINAL 1000 40 120 1', 'SYSCTL net.ipv4.ip_forward 1']);
  assert.ok(ops.findIndex((l) => l.startsWith('CREDS ')) > at + 1);
  const noSize = lines(planInit(config((c) => (c.process.terminal = true)), host()).ops);
  assert.ok(noSize.includes('TERMINAL 0 0 0 1'), 'no consoleSize: the size is left alone');
  assert.equal(lines(planInit(config(), host()).ops).some((l) => l.startsWith('TERMINAL')), false);
});

test('planTerminal for an exec: no /dev/console mount, nothing without a terminal', () => {
  const p = config((c) => Object.assign(c.process, { terminal: true, user: { uid: 7, gid: 7 } })).process;
  assert.deepEqual(lines(planTerminal(p, { console: false })), ['TERMINAL 7 0 0 0']);
  assert.deepEqual(planTerminal(config().process, { console: false }), []);
});
