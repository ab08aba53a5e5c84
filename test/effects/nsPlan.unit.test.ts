import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CgroupLayout } from '../../src/effects/cgroupLayout.js';
import { planExec, withContainerDefaults } from '../../src/effects/execPlan.js';
import { capabilityMask, FIRST_EXTRA_FD, planInit } from '../../src/effects/initPlan.js';
import * as L from '../../src/effects/linuxConstants.js';
import { checkHostNamespaces } from '../../src/effects/namespaces.js';
import { encodePlan, type PlanOp } from '../../src/effects/planWire.js';
import { isRuntimeError } from '../../src/errors.js';
import { defaultConfig, validateConfig, validateProcess, type OciConfig } from '../../src/machines/spec.js';

/** The plan operations for namespaces joined by path, time offsets and exec (nsPlan.ts, execPlan.ts). */
const V2: CgroupLayout = { kind: 'v2', v1: {}, unified: '/sys/fs/cgroup' };
const host = { rootfs: '/run/b/rootfs', bundle: '/run/b', cgroups: V2 };
type Json = Record<string, any>;
function config(edit: (c: Json) => void = () => {}): OciConfig {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  edit(c);
  return validateConfig(c);
}
const lines = (ops: PlanOp[]) => ops.map((o) => [o.op, ...o.args].join(' '));
const DEFAULT_NS = L.CLONE_NEWPID | L.CLONE_NEWNET | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS;

test('no path, no offsets: the fast path (clone3 flags, no namespace op, no fork)', () => {
  const plan = planInit(config(), host);
  assert.equal(plan.cloneFlags, DEFAULT_NS);
  assert.deepEqual(plan.joins, []);
  assert.equal(plan.ops[0]?.op, 'SETSID');
  assert.ok(!plan.ops.some((o) => ['SETNS', 'UNSHARE', 'FORK', 'TIMENS_OFFSET'].includes(o.op)));
});

test('a joined network namespace: SETNS from the first extra fd (8), the rest unshared, then FORK for the new pid namespace', () => {
  const plan = planInit(config((c) => (c.linux.namespaces[1].path = '/var/run/netns/blue')), host);
  assert.equal(plan.cloneFlags, 0, 'the helper starts in the runtime\'s namespaces');
  assert.deepEqual(plan.joins, [{ type: 'network', path: '/var/run/netns/blue', field: 'linux.namespaces[1].path' }]);
  assert.deepEqual(lines(plan.ops.slice(0, 4)), [
    `SETNS ${FIRST_EXTRA_FD} ${L.CLONE_NEWNET}`,
    `UNSHARE ${L.CLONE_NEWPID | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS}`,
    'FORK',
    'SETSID',
  ]);
});

test('the user namespace is joined first, whatever its place in the list', () => {
  const plan = planInit(config((c) => {
    c.linux.namespaces[4].path = '/proc/9/ns/mnt';
    c.linux.namespaces[1].path = '/proc/9/ns/net';
    c.linux.namespaces.push({ type: 'user', path: '/proc/9/ns/user' });
  }), host);
  assert.deepEqual(plan.joins.map((j) => [j.type, j.field]), [
    ['user', 'linux.namespaces[5].path'], ['network', 'linux.namespaces[1].path'], ['mount', 'linux.namespaces[4].path'],
  ]);
  assert.deepEqual(lines(plan.ops.slice(0, 5)), [
    `SETNS 8 ${L.CLONE_NEWUSER}`, `SETNS 9 ${L.CLONE_NEWNET}`, `SETNS 10 ${L.CLONE_NEWNS}`,
    `UNSHARE ${L.CLONE_NEWPID | L.CLONE_NEWIPC | L.CLONE_NEWUTS}`, 'FORK',
  ]);
});

test('a joined pid namespace forks; without a pid or time namespace there is no fork', () => {
  const pid = planInit(config((c) => (c.linux.namespaces[0].path = '/proc/9/ns/pid')), host);
  assert.deepEqual(lines(pid.ops.slice(0, 3)), [`SETNS 8 ${L.CLONE_NEWPID}`, `UNSHARE ${DEFAULT_NS & ~L.CLONE_NEWPID}`, 'FORK']);
  const noPid = planInit(config((c) => {
    c.linux.namespaces = [{ type: 'mount' }, { type: 'uts', path: '/proc/9/ns/uts' }];
  }), host);
  assert.deepEqual(lines(noPid.ops.slice(0, 3)), [`SETNS 8 ${L.CLONE_NEWUTS}`, `UNSHARE ${L.CLONE_NEWNS}`, 'SETSID']);
});

test('time offsets: unshare the time namespace, write the offsets (clock ids 1 and 7), then fork', () => {
  const plan = planInit(config((c) => {
    c.linux.namespaces.push({ type: 'time' });
    c.linux.timeOffsets = { monotonic: { secs: 86400 }, boottime: { secs: -5, nanosecs: 250 } };
  }), host);
  assert.equal(plan.cloneFlags, 0);
  assert.deepEqual(lines(plan.ops.slice(0, 5)), [
    `UNSHARE ${DEFAULT_NS | L.CLONE_NEWTIME}`,
    'TIMENS_OFFSET 1 86400 0',
    'TIMENS_OFFSET 7 -5 250',
    'FORK',
    'SETSID',
  ]);
  // A time namespace without offsets takes the fast path (clone3 CLONE_NEWTIME).
  const fresh = planInit(config((c) => c.linux.namespaces.push({ type: 'time' })), host);
  assert.equal(fresh.cloneFlags, DEFAULT_NS | L.CLONE_NEWTIME);
  assert.equal(fresh.ops[0]?.op, 'SETSID');
});

test('the new operations on the wire', () => {
  const bytes = encodePlan([
    { op: 'WAIT', args: ['5'] }, { op: 'SETNS', args: ['7', String(L.CLONE_NEWNET)] }, { op: 'UNSHARE', args: ['131072'] },
    { op: 'TIMENS_OFFSET', args: ['1', '-3', '0'] }, { op: 'FORK', args: [] }, { op: 'ARG', args: ['id'] }, { op: 'EXEC_NOW', args: [] },
  ]);
  assert.equal(bytes.toString('utf8').split('\0').join('|'),
    'BERTH-PLAN|1|WAIT|1|5|SETNS|2|7|1073741824|UNSHARE|1|131072|TIMENS_OFFSET|3|1|-3|0|FORK|0|ARG|1|id|EXEC_NOW|0|END|0|');
});

test('an exec plan: wait for the cgroup, join every namespace through the init\'s pidfd, fork, then the process with EXEC_NOW', () => {
  const c = config();
  const p = validateProcess({ args: ['sh', '-c', 'id'], cwd: '/tmp', user: { uid: 1000, gid: 1000, additionalGids: [5] }, env: ['A=1'] });
  const caps = capabilityMask(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']).toString();
  assert.deepEqual(lines(planExec(c, p)), [
    'WAIT 5',
    `SETNS 7 ${DEFAULT_NS}`,
    'FORK',
    'SETSID',
    'RLIMIT 7 1024 1024',
    `CREDS 1000 1000 5 ${caps} ${caps} ${caps} 0 ${caps}`,
    'UMASK 0022',
    'CWD /tmp',
    'ENV A=1',
    'ARG sh', 'ARG -c', 'ARG id',
    'EXEC_NOW',
  ]);
});

test('an exec plan without a pid or time namespace does not fork; its own caps, rlimits and no_new_privs win', () => {
  const c = config((c) => (c.linux.namespaces = [{ type: 'mount' }, { type: 'uts' }]));
  const p = validateProcess({
    args: ['true'], cwd: '/', user: { uid: 0, gid: 0 }, noNewPrivileges: true,
    capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'] },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 64, hard: 64 }],
  });
  const kill = capabilityMask(['CAP_KILL']).toString();
  assert.deepEqual(lines(planExec(c, p)).slice(0, 6), [
    'WAIT 5', `SETNS 7 ${L.CLONE_NEWNS | L.CLONE_NEWUTS}`, 'SETSID', 'RLIMIT 7 64 64',
    `CREDS 0 0 - ${kill} ${kill} ${kill} ${kill} -`, 'NO_NEW_PRIVS',
  ]);
});

test('an exec plan with a terminal: TERMINAL (no /dev/console) in the forked process, after SETSID, before CREDS', () => {
  const p = validateProcess({ args: ['sh'], cwd: '/', user: { uid: 1000, gid: 1000 }, terminal: true, consoleSize: { height: 24, width: 80 } });
  const ops = lines(planExec(config(), p));
  assert.deepEqual(ops.slice(2, 5), ['FORK', 'SETSID', 'TERMINAL 1000 24 80 0']);
  assert.ok(ops.findIndex((l) => l.startsWith('CREDS ')) > 4);
  assert.equal(lines(planExec(config(), validateProcess({ args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } }))).some((l) => l.startsWith('TERMINAL')), false);
});

test('what an exec process does not say comes from the container\'s process, as runc', () => {
  const base = config().process;
  const p = withContainerDefaults(validateProcess({ args: ['id'], cwd: '/', user: { uid: 0, gid: 0 } }), base);
  assert.deepEqual(p.capabilities, base.capabilities);
  assert.deepEqual(p.rlimits, base.rlimits);
  assert.equal(p.noNewPrivileges, undefined, 'no_new_privs is the process\'s own (runc: from process.json)');
});

test('a time namespace on a kernel without them is refused naming the field', () => {
  const c = config((c) => c.linux.namespaces.push({ type: 'time' }));
  const lacks = () => false;
  assert.throws(() => checkHostNamespaces(c, lacks), (e: unknown) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.namespaces[5]'
    && /this kernel has no time namespaces/.test(e.message));
  const offsets = config((c) => {
    c.linux.namespaces.push({ type: 'time' });
    c.linux.timeOffsets = { monotonic: { secs: 1 } };
  });
  assert.throws(() => checkHostNamespaces(offsets, lacks), (e: unknown) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === 'linux.timeOffsets');
  checkHostNamespaces(c, () => true);
  checkHostNamespaces(config(), lacks);
});

test('a new cgroup namespace on v1 or hybrid is made by the init after its cgroup join (WAIT 7, UNSHARE); on v2 by clone3', () => {
  const HYBRID: CgroupLayout = { kind: 'hybrid', v1: { memory: '/sys/fs/cgroup/memory' }, unified: '/sys/fs/cgroup/unified' };
  const withCgroupNs = config((c) => c.linux.namespaces.push({ type: 'cgroup' }));
  const v2 = planInit(withCgroupNs, { ...host, cgroup: '/berth/x' });
  assert.equal(v2.cloneFlags, DEFAULT_NS | L.CLONE_NEWCGROUP, 'CLONE_INTO_CGROUP puts the init in its cgroup first');
  assert.ok(!v2.ops.some((o) => o.op === 'WAIT'));
  const hybrid = planInit(withCgroupNs, { ...host, cgroups: HYBRID, cgroup: '/berth/x' });
  assert.equal(hybrid.cloneFlags, DEFAULT_NS);
  assert.deepEqual(lines(hybrid.ops.slice(0, 3)), ['WAIT 7', `UNSHARE ${L.CLONE_NEWCGROUP}`, 'SETSID']);
  // Slow path: the forked init waits; the helper's UNSHARE leaves the cgroup namespace out.
  const slow = planInit(config((c) => {
    c.linux.namespaces.push({ type: 'cgroup' });
    c.linux.namespaces[1].path = '/var/run/netns/blue';
  }), { ...host, cgroups: HYBRID, cgroup: '/berth/x' });
  assert.deepEqual(lines(slow.ops.slice(0, 6)), [
    `SETNS ${FIRST_EXTRA_FD} ${L.CLONE_NEWNET}`,
    `UNSHARE ${L.CLONE_NEWPID | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS}`,
    'FORK',
    'WAIT 7',
    `UNSHARE ${L.CLONE_NEWCGROUP}`,
    'SETSID',
  ]);
  // A joined cgroup namespace, or none at all, needs no wait.
  const joined = planInit(config((c) => c.linux.namespaces.push({ type: 'cgroup', path: '/proc/1/ns/cgroup' })), { ...host, cgroups: HYBRID, cgroup: '/berth/x' });
  assert.ok(!joined.ops.some((o) => o.op === 'WAIT'));
  assert.ok(!planInit(config(), { ...host, cgroups: HYBRID, cgroup: '/berth/x' }).ops.some((o) => o.op === 'WAIT'));
});
