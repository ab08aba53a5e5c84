import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KernelView } from '../src/effects/inspect.js';
import { statusOf } from '../src/effects/inspect.js';
import { emptyContext } from '../src/machines/container.machine.js';
import { compare } from '../src/verify.js';

/** What `replay --verify` reports for each state the log can be in, against kernel views. */

const ctx = { ...emptyContext('web'), pid: 42, startTime: '7', cgroup: '/berth/web' };
const view = (over: Partial<KernelView> = {}): KernelView => ({
  init: 'alive', stage: 'program', cgroup: { path: '/berth/web', exists: true, frozen: false },
  execFifo: false, containerDir: true, namespaces: [{ type: 'pid', own: true }, { type: 'mount', own: true }], ...over,
});
const checks = (state: Parameters<typeof compare>[0], v: KernelView) => compare(state, ctx, v).map((d) => d.check);

test('a running container as the log says it is shows no difference; each way it can differ is named', () => {
  assert.deepEqual(compare('running', ctx, view()), []);
  assert.deepEqual(compare('running', ctx, view({ init: 'gone', stage: null, namespaces: [] })), [{ check: 'init', expected: 'pid 42 alive (start time 7)', observed: 'exited' }]);
  assert.deepEqual(checks('running', view({ stage: 'helper' })), ['init.started']);
  assert.deepEqual(checks('running', view({ execFifo: true })), ['execFifo']);
  assert.deepEqual(checks('running', view({ cgroup: { path: '/berth/web', exists: false, frozen: null } })), ['cgroup']);
  assert.deepEqual(checks('running', view({ cgroup: { path: '/berth/web', exists: true, frozen: true } })), ['cgroup.frozen']);
  assert.deepEqual(checks('running', view({ namespaces: [{ type: 'pid', own: false }, { type: 'mount', own: true }] })), ['namespace.pid']);
  assert.deepEqual(checks('running', view({ containerDir: false })), ['containerDir']);
});

test('created, paused, stopped, deleted and an interrupted operation', () => {
  assert.deepEqual(compare('created', ctx, view({ stage: 'helper', execFifo: true })), []);
  assert.deepEqual(checks('created', view({ stage: 'program' })), ['init.started', 'execFifo']);
  assert.deepEqual(compare('paused', ctx, view({ cgroup: { path: '/berth/web', exists: true, frozen: true } })), []);
  assert.deepEqual(checks('paused', view()), ['cgroup.frozen']);
  assert.deepEqual(compare('stopped', ctx, view({ init: 'zombie', stage: null })), [], 'a zombie has exited');
  assert.deepEqual(compare('stopped', ctx, view({ init: 'gone', stage: null, containerDir: false, cgroup: null })), [], 'leftovers of a stopped container wait for delete');
  assert.deepEqual(checks('stopped', view()), ['init']);
  assert.deepEqual(compare('deleted', ctx, view({ init: 'gone', stage: null, containerDir: false, cgroup: { path: '/berth/web', exists: false, frozen: null } })), []);
  assert.deepEqual(checks('deleted', view({ init: 'gone', stage: null })), ['cgroup', 'containerDir']);
  // Checkpointed: only the images are left; a cgroup or directory an interrupted dump left is a difference.
  assert.deepEqual(compare('checkpointed', ctx, view({ init: 'gone', stage: null, containerDir: false, cgroup: { path: '/berth/web', exists: false, frozen: null } })), []);
  assert.deepEqual(checks('checkpointed', view({ init: 'zombie', stage: null })), ['cgroup', 'containerDir']);
  assert.deepEqual(checks('starting', view()), ['outcome']);
});

test('the status the kernel shows, as reconciliation and --repair read it', () => {
  assert.equal(statusOf(view(), 'running'), 'running');
  assert.equal(statusOf(view({ stage: 'helper' }), 'starting'), 'created');
  assert.equal(statusOf(view({ cgroup: { path: '/c', exists: true, frozen: true } }), 'running'), 'paused');
  assert.equal(statusOf(view({ init: 'gone' }), 'running'), 'stopped');
  assert.equal(statusOf(view({ init: 'gone', containerDir: false, cgroup: { path: '/c', exists: false, frozen: null } }), 'deleting'), 'deleted');
  assert.equal(statusOf(view({ init: 'gone', containerDir: false, cgroup: { path: '/c', exists: false, frozen: null } }), 'running'), 'stopped', 'only a delete under way ends deleted');
  assert.equal(statusOf(view({ init: 'gone' }), 'deleting'), 'stopped', 'debris left: delete finishes it');
});
