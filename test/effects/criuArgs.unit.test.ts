import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkpointOptions as validateCheckpoint, restoreOptions } from '../../src/checkpointOptions.js';
import type { CgroupLayout } from '../../src/effects/cgroupLayout.js';
import { atLeast, lastErrors } from '../../src/effects/criu.js';
import { dumpArgs, externalBinds, joinedExternalNamespaces, parseMeta, restoreArgs, rootMountpoints } from '../../src/effects/criuArgs.js';
import { defaultConfig } from '../../src/machines/spec.js';
import { checkpointOptions } from '../helpers/harness.js';

const HYBRID: CgroupLayout = {
  kind: 'hybrid',
  v1: { 'cpu': '/sys/fs/cgroup/cpu,cpuacct', 'cpuacct': '/sys/fs/cgroup/cpu,cpuacct', 'pids': '/sys/fs/cgroup/pids', 'name=systemd': '/sys/fs/cgroup/systemd' },
  unified: '/sys/fs/cgroup/unified',
};

function config() {
  const c = defaultConfig();
  c.mounts!.push({ destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'rw'] });
  return c;
}

test('external binds are exactly the binds create makes: the spec\'s, and the container\'s cgroup directories', () => {
  const binds = externalBinds(config(), { rootfs: '/b/rootfs', bundle: '/b', cgroups: HYBRID, cgroup: '/berth/web' });
  assert.deepEqual([...binds], [
    ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu,cpuacct/berth/web'],
    ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/pids/berth/web'],
    ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/systemd/berth/web'],
    ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/unified/berth/web'],
    ['/data', '/b/data'],
  ]);
  // With a cgroup namespace the cgroup hierarchies are fresh mounts criu restores itself.
  const ns = config();
  ns.linux!.namespaces!.push({ type: 'cgroup' });
  assert.deepEqual([...externalBinds(ns, { rootfs: '/b/rootfs', bundle: '/b', cgroups: HYBRID, cgroup: '/berth/web' }).keys()], ['/data']);
});

test('a restore makes the mount points of mounts on the root only; those under another mount are that filesystem\'s', () => {
  const c = config();
  c.mounts!.push({ destination: '/data/sub', type: 'bind', source: '/etc', options: ['rbind'] });
  c.mounts!.push({ destination: '/etc/hostname/', type: 'bind', source: '/etc/hostname', options: ['bind'] });
  assert.deepEqual(rootMountpoints(c, { rootfs: '/b/rootfs', bundle: '/b', cgroups: HYBRID, cgroup: '/berth/web' }), [
    // /dev/pts, /dev/shm, /dev/mqueue, /sys/fs/cgroup and the cgroup binds are inside these.
    { dest: '/proc', bindSource: null }, { dest: '/dev', bindSource: null }, { dest: '/sys', bindSource: null },
    { dest: '/data', bindSource: '/b/data' }, { dest: '/etc/hostname', bindSource: '/etc/hostname' },
  ]);
});

test('dump arguments: runc\'s options as criu CLI flags', () => {
  const args = dumpArgs({
    pid: 42, workDir: '/w', freezeCgroup: '/sys/fs/cgroup/freezer/berth/web',
    options: checkpointOptions({ imagePath: '/img', tcpEstablished: true, fileLocks: true, emptyNs: ['network'], manageCgroupsMode: 'full', parentPath: '../pre' }),
    externalMounts: ['/data'], externalFiles: ['file[18:3]'], externalNamespaces: [{ type: 'network', inode: 4026532290 }],
  });
  assert.deepEqual(args, [
    '-t', '42', '-D', '/img', '-W', '/w', '-o', 'dump.log', '-v4', '--manage-cgroups=full', '--tcp-established',
    '--file-locks', '--empty-ns', 'net', '--freeze-cgroup', '/sys/fs/cgroup/freezer/berth/web',
    '--external', 'mnt[/data]:/data', '--external', 'file[18:3]', '--external', 'net[4026532290]:extRootNetNS',
    '--prev-images-dir', '../pre', '--track-mem',
  ]);
  const leave = dumpArgs({ pid: 1, workDir: '/img', freezeCgroup: null, options: checkpointOptions({ leaveRunning: true, shellJob: true, extUnixSk: true }), externalMounts: [], externalFiles: [], externalNamespaces: [] });
  assert.ok(leave.includes('--leave-running') && leave.includes('--shell-job') && leave.includes('--ext-unix-sk'));
  const pre = dumpArgs({ pid: 1, workDir: '/img', freezeCgroup: null, options: checkpointOptions({ preDump: true, leaveRunning: true }), externalMounts: [], externalFiles: [], externalNamespaces: [] });
  assert.ok(pre.includes('--track-mem') && !pre.includes('--leave-running'), 'a pre-dump always leaves the tasks running; criu refuses the flag');
});

test('namespaces joined by path are external to criu: the network one, as runc', () => {
  const c = defaultConfig();
  c.linux!.namespaces = [{ type: 'mount' }, { type: 'network', path: '/run/netns/a' }, { type: 'uts', path: '/proc/1/ns/uts' }, { type: 'pid' }];
  assert.deepEqual(joinedExternalNamespaces(c), [{ type: 'network', path: '/run/netns/a' }]);
  assert.deepEqual(joinedExternalNamespaces(defaultConfig()), []);
});

test('restore arguments: root, detached sibling, cgroup root, external mounts and inherited stdio', () => {
  const args = restoreArgs({
    options: checkpointOptions({ imagePath: '/img' }), workDir: '/img', root: '/run/berth/containers/web/criu-root', cgroup: '/berth/web2',
    mounts: new Map([['/data', '/b2/data']]), stdio: [null, 'pipe:[77]', 'file[18:3]'], externalNamespaces: ['network'],
    pidFile: '/run/berth/containers/web/criu.pid',
  });
  assert.deepEqual(args, [
    '-D', '/img', '-W', '/img', '-o', 'restore.log', '-v4', '--manage-cgroups=soft',
    '--root', '/run/berth/containers/web/criu-root', '--restore-detached', '--restore-sibling',
    '--pidfile', '/run/berth/containers/web/criu.pid', '--cgroup-root', '/berth/web2',
    '--external', 'mnt[/data]:/b2/data', '--inherit-fd', 'fd[4]:pipe:[77]', '--inherit-fd', 'fd[5]:file[18:3]',
    // The joined netns comes in after the three stdio fds, under runc's key.
    '--inherit-fd', 'fd[6]:extRootNetNS',
  ]);
  const ignore = restoreArgs({ options: checkpointOptions({ manageCgroupsMode: 'ignore' }), workDir: '/img', root: '/r', cgroup: '/c', mounts: new Map(), stdio: [], externalNamespaces: [], pidFile: '/p' });
  assert.ok(ignore.includes('--leave-stopped') && !ignore.includes('--cgroup-root'), 'ignore: berth moves the stopped tree into the cgroup itself');
});

test('option checks name the field; defaults are runc\'s', () => {
  assert.throws(() => validateCheckpoint('web', { imagePath: 'img' }), { code: 'INVALID_ARGUMENT', field: 'imagePath' });
  assert.throws(() => validateCheckpoint('web', { imagePath: '/img', workPath: 'w' }), { code: 'INVALID_ARGUMENT', field: 'workPath' });
  assert.throws(() => validateCheckpoint('web', { imagePath: '/img', manageCgroupsMode: 'x' as never }), { code: 'INVALID_ARGUMENT', field: 'manageCgroupsMode' });
  assert.throws(() => validateCheckpoint('web', { imagePath: '/img', emptyNs: ['pid'] }), { code: 'INVALID_ARGUMENT', field: 'emptyNs' });
  assert.throws(() => validateCheckpoint('web', { imagePath: '/img', parentPath: '' }), { code: 'INVALID_ARGUMENT', field: 'parentPath' });
  assert.throws(() => validateCheckpoint('web', { imagePath: '/img', preDump: true, lazyPages: true }), { code: 'INVALID_ARGUMENT', field: 'lazyPages' });
  assert.throws(() => restoreOptions('web', { imagePath: '/img', bundle: 'b' }), { code: 'INVALID_ARGUMENT', field: 'bundle' });
  assert.deepEqual(validateCheckpoint('web', { imagePath: '/img' }), checkpointOptions({ imagePath: '/img' }));
});

test('criu versions below 4.1 are refused; the log\'s last errors are quoted without the harmless rlimit one', () => {
  assert.ok(atLeast('4.1.1', 4, 1) && atLeast('4.2', 4, 1) && atLeast('5.0', 4, 1));
  assert.ok(!atLeast('3.17.1', 4, 1) && !atLeast('4.0', 4, 1));
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  try {
    const log = join(dir, 'dump.log');
    writeFileSync(log, [
      '(00.034930) Error (criu/util.c:1533): rlimit: Can\'t setup RLIMIT_NOFILE for self: Operation not permitted',
      '(00.100000) Dumping path for 1 fd',
      '(00.152875) Error (criu/files-reg.c:1790): Can\'t lookup mount=24 for fd=0 path=/dev/null',
      '(00.226104) Error (criu/cr-dump.c:2111): Dumping FAILED.',
    ].join('\n'));
    assert.equal(lastErrors(log), 'Error (criu/files-reg.c:1790): Can\'t lookup mount=24 for fd=0 path=/dev/null; Error (criu/cr-dump.c:2111): Dumping FAILED.');
    assert.equal(lastErrors(join(dir, 'missing.log')), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint record that is not berth\'s is refused', () => {
  assert.throws(() => parseMeta('{"berth":2}', '/img/berth-checkpoint.json'), { code: 'INVALID_ARGUMENT', field: 'imagePath' });
  assert.throws(() => parseMeta('not json', '/img/berth-checkpoint.json'), { code: 'INVALID_ARGUMENT' });
  const ok = parseMeta(JSON.stringify({ berth: 1, id: 'web', externalMounts: [], stdio: [null, null, null] }), 'x');
  assert.equal(ok.id, 'web');
  assert.deepEqual(ok.externalNamespaces, [], 'a record from before external namespaces has none');
});
