import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CgroupLayout } from '../../src/effects/cgroupLayout.js';
import { createContainerBudgetMs, ociState, planHooks } from '../../src/effects/hookPlan.js';
import { planInit } from '../../src/effects/initPlan.js';
import { encodePlan, type PlanOp } from '../../src/effects/planWire.js';
import { defaultConfig, validateConfig, type OciConfig } from '../../src/machines/spec.js';

const V2: CgroupLayout = { kind: 'v2', v1: {}, unified: '/sys/fs/cgroup' };
type Json = Record<string, any>;

function config(hooks: Json, extra: Json = {}): OciConfig {
  const c: Json = { ...JSON.parse(JSON.stringify(defaultConfig())), hooks, ...extra };
  return validateConfig(c);
}

const line = (o: PlanOp) => [o.op, ...o.args].join(' ');
const names = (ops: PlanOp[]) => ops.map((o) => o.op);

test('the OCI state a hook reads: runtime-spec fields, pid only when given, annotations as configured', () => {
  const c = config({}, { annotations: { team: 'a' } });
  assert.deepEqual(ociState({ id: 'web', bundle: '/b', config: c }, 'creating', 42), {
    ociVersion: '1.0.2', id: 'web', status: 'creating', bundle: '/b', annotations: { team: 'a' }, pid: 42,
  });
  assert.deepEqual(ociState({ id: 'web', bundle: null, config: null }, 'stopped'), {
    ociVersion: '1.0.2', id: 'web', status: 'stopped', bundle: '', annotations: {},
  });
});

test('no hooks: no hook operation and no go-ahead stop', () => {
  const plan = planInit(config({}), { rootfs: '/b/rootfs', bundle: '/b', cgroups: V2, id: 'web' });
  assert.ok(!plan.ops.some((o) => o.op.startsWith('HOOK')), plan.ops.map(line).join('\n'));
});

test('runtime-side hooks only: HOOKS_SYNC right before PIVOT_ROOT, nothing else', () => {
  for (const stage of ['prestart', 'createRuntime']) {
    const plan = planInit(config({ [stage]: [{ path: '/usr/bin/hook' }] }), { rootfs: '/b/rootfs', bundle: '/b', cgroups: V2, id: 'web' });
    const ops = names(plan.ops);
    assert.equal(ops[ops.indexOf('PIVOT_ROOT') - 1], 'HOOKS_SYNC', stage);
    assert.equal(ops.filter((o) => o.startsWith('HOOK')).length, 1, stage);
  }
  // poststart and poststop run from node after create: they change nothing in the plan
  const plan = planInit(config({ poststart: [{ path: '/x' }], poststop: [{ path: '/y' }] }), { rootfs: '/b/rootfs', bundle: '/b', cgroups: V2, id: 'web' });
  assert.ok(!plan.ops.some((o) => o.op.startsWith('HOOK')));
});

test('createContainer hooks follow HOOKS_SYNC before PIVOT_ROOT; startContainer hooks come right before EXEC', () => {
  const c = config({
    createContainer: [
      { path: '/bin/busybox', args: ['sh', '-c', 'true'], env: ['A=1', 'B=2'], timeout: 3 },
      { path: '/usr/bin/second' },
    ],
    startContainer: [{ path: '/bin/ldconfig', args: ['ldconfig'] }],
  }, { annotations: { k: 'v' } });
  const plan = planInit(c, { rootfs: '/b/rootfs', bundle: '/b', cgroups: V2, id: 'web' });
  const ops = plan.ops.map(line);
  const pivot = ops.indexOf('PIVOT_ROOT');
  const creating = '"ociVersion":"1.0.2","id":"web","status":"creating","bundle":"/b","annotations":{"k":"v"}}';
  assert.deepEqual(ops.slice(pivot - 8, pivot), [
    'HOOKS_SYNC',
    'HOOK_ARG sh', 'HOOK_ARG -c', 'HOOK_ARG true', 'HOOK_ENV A=1', 'HOOK_ENV B=2',
    `HOOK createContainer hooks.createContainer[0] /bin/busybox 3 ${creating}`,
    `HOOK createContainer hooks.createContainer[1] /usr/bin/second 0 ${creating}`,
  ]);
  assert.deepEqual(ops.slice(-3), [
    'HOOK_ARG ldconfig',
    'HOOK startContainer hooks.startContainer[0] /bin/ldconfig 0 "ociVersion":"1.0.2","id":"web","status":"created","bundle":"/b","annotations":{"k":"v"}}',
    'EXEC',
  ]);
  // the helper prepends {"pid":N, : what it writes on the hook's stdin is JSON
  const hook = plan.ops.find((o) => o.op === 'HOOK')!;
  assert.deepEqual(JSON.parse(`{"pid":7,${hook.args[4]}`), { pid: 7, ociVersion: '1.0.2', id: 'web', status: 'creating', bundle: '/b', annotations: { k: 'v' } });
});

test('hook records on the wire: the helper\'s argument counts', () => {
  const { beforePivot } = planHooks(config({ createContainer: [{ path: '/h', args: ['h'], env: ['X=y'] }] }), { id: 'i', bundle: '/b' });
  const wire = encodePlan(beforePivot).toString('utf8').split('\0');
  assert.deepEqual(wire.slice(0, 14), [
    'BERTH-PLAN', '1', 'HOOKS_SYNC', '0', 'HOOK_ARG', '1', 'h', 'HOOK_ENV', '1', 'X=y',
    'HOOK', '5', 'createContainer', 'hooks.createContainer[0]',
  ]);
});

test('how long create waits for createContainer hooks: their timeouts added, no deadline if one has none', () => {
  assert.equal(createContainerBudgetMs(config({})), 0);
  assert.equal(createContainerBudgetMs(config({ createContainer: [{ path: '/a', timeout: 2 }, { path: '/b', timeout: 3 }] })), 5000);
  assert.equal(createContainerBudgetMs(config({ createContainer: [{ path: '/a', timeout: 2 }, { path: '/b' }] })), null);
});
