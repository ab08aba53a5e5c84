import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openRuntime } from '../../src/index.js';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';
import { readProcStat } from '../../src/effects/procfs.js';
import { makeBundle, tempRoot, type Bundle } from '../helpers/bundle.js';
import { berth, CLI } from '../helpers/cli.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * `berth replay --verify`: the log's view against the kernel's, for containers that CLI
 * processes made (so no berth process watches them, as under podman or containerd), after the
 * host changed behind berth's back.
 */

let root: string;
let cleanupRoot: () => void;
const bundles: Bundle[] = [];
const sleeper = () => {
  const b = makeBundle(['sleep', '1000']);
  bundles.push(b);
  return b;
};

before(() => {
  actAsShim();
  ({ root, cleanup: cleanupRoot } = tempRoot());
});
after(() => {
  for (const b of bundles) b.cleanup();
  cleanupRoot();
});

async function ok(args: string[]) {
  const r = await berth(root, args);
  assert.equal(r.status, 0, `berth ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

interface Report { id: string; state: string; differences: Array<{ check: string; expected: string; observed: string }>; repaired: { status: string } | null; remaining: unknown[]; busy: boolean }

async function verifyJson(args: string[], status: number): Promise<Report[]> {
  const r = await berth(root, ['replay', '--verify', '--format', 'json', ...args]);
  assert.equal(r.status, status, r.stderr + r.stdout);
  return JSON.parse(r.stdout) as Report[];
}

const pidOf = async (id: string) => (JSON.parse((await ok(['state', id])).stdout) as { pid: number }).pid;

function cleanup(t: { after(fn: () => Promise<unknown>): void }, id: string) {
  t.after(() => berth(root, ['delete', '--force', id]));
}

test('verify: a container as the log says shows no difference; one killed behind berth\'s back does, and --repair logs it', async (t) => {
  cleanup(t, 'v-killed');
  const before = snapshot();
  const b = sleeper();
  await ok(['create', '--bundle', b.dir, 'v-killed']);
  await ok(['start', 'v-killed']);
  const [clean] = await verifyJson(['v-killed'], 0);
  assert.deepEqual(clean?.differences, []);
  assert.match((await ok(['replay', '--verify', 'v-killed'])).stdout, /1 container\(s\): the log matches the kernel/);

  process.kill(await pidOf('v-killed'), 'SIGKILL');
  const [found] = await verifyJson(['v-killed'], 1);
  assert.equal(found?.state, 'running');
  assert.deepEqual(found?.differences.map((d) => d.check), ['init']);
  assert.match(found!.differences[0]!.observed, /^exited/);
  const table = await berth(root, ['replay', '--verify', 'v-killed']);
  assert.equal(table.status, 1);
  assert.match(table.stdout, /^ID\s+STATE\s+CHECK\s+EXPECTED\s+OBSERVED\nv-killed\s+running\s+init\s+pid \d+ alive \(start time \d+\)\s+exited/);

  const [repaired] = await verifyJson(['--repair', 'v-killed'], 0);
  assert.equal(repaired?.repaired?.status, 'stopped');
  assert.deepEqual(repaired?.remaining, []);
  const history = (await ok(['history', '--format', 'json', 'v-killed'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: { status?: string; reason?: string } });
  assert.deepEqual(history.at(-1)?.type, 'Observed');
  assert.deepEqual(history.at(-1)?.data.reason, 'verify: init');
  await verifyJson(['v-killed'], 0);
  await ok(['delete', 'v-killed']);
  await assertNoLeaks(before, root);
});

test('verify: a cgroup frozen behind berth\'s back is a difference; --repair records the container as paused', async (t) => {
  cleanup(t, 'v-frozen');
  const before = snapshot();
  const b = sleeper();
  await ok(['create', '--bundle', b.dir, 'v-frozen']);
  await ok(['start', 'v-frozen']);
  const layout = readCgroupLayout();
  const cgroup = await (async () => {
    const rt = await openRuntime({ root, serve: false });
    try {
      return (await rt.history('v-frozen')).find((e) => e.type === 'Created')!.data.cgroup as string;
    } finally {
      await rt.close();
    }
  })();
  const freezer = layout.kind === 'v2' ? join(layout.unified!, cgroup, 'cgroup.freeze') : join(layout.v1.freezer!, cgroup, 'freezer.state');
  writeFileSync(freezer, layout.kind === 'v2' ? '1' : 'FROZEN');
  const [found] = await verifyJson([], 1);
  assert.deepEqual(found?.differences, [{ check: 'cgroup.frozen', expected: 'thawed', observed: 'frozen' }]);
  const [repaired] = await verifyJson(['--repair'], 0);
  assert.equal(repaired?.repaired?.status, 'paused');
  assert.equal((JSON.parse((await ok(['state', 'v-frozen'])).stdout) as { status: string }).status, 'paused');
  // The log and the kernel agree again: resume thaws it as it would any paused container.
  await ok(['resume', 'v-frozen']);
  assert.equal(readProcStat(await pidOf('v-frozen'))?.state, 'S');
  await verifyJson(['v-frozen'], 0);
  await ok(['delete', '--force', 'v-frozen']);
  await assertNoLeaks(before, root);
});

test('verify: debris no fact can explain (a removed exec fifo) stays a difference after --repair', async (t) => {
  cleanup(t, 'v-fifo');
  const before = snapshot();
  const b = sleeper();
  await ok(['create', '--bundle', b.dir, 'v-fifo']);
  rmSync(join(root, 'containers/v-fifo/exec.fifo'));
  const [found] = await verifyJson(['--repair', 'v-fifo'], 1);
  assert.deepEqual(found?.differences, [{ check: 'execFifo', expected: 'present', observed: 'absent' }]);
  assert.equal(found?.repaired, null, 'the init still waits to be started: the status is right, nothing to log');
  assert.deepEqual(found?.remaining, found?.differences);
  await ok(['delete', '--force', 'v-fifo']);
  await assertNoLeaks(before, root);
});

test('verify: an operation interrupted by a crash is a difference until --repair reconciles it', async (t) => {
  cleanup(t, 'v-crash');
  const before = snapshot();
  const b = sleeper();
  await ok(['create', '--bundle', b.dir, 'v-crash']);
  const crashed = spawn(process.execPath, [CLI, '--root', root, 'start', 'v-crash'], { env: { ...process.env, BERTH_CRASH_AT: 'start:intent' }, stdio: 'ignore' });
  const signal = await new Promise((r) => crashed.on('close', (_c, s) => r(s)));
  assert.equal(signal, 'SIGKILL');
  const [found] = await verifyJson(['v-crash'], 1);
  assert.equal(found?.state, 'starting');
  assert.deepEqual(found?.differences.map((d) => d.check), ['outcome']);
  const [repaired] = await verifyJson(['--repair', 'v-crash'], 0);
  assert.equal(repaired?.repaired?.status, 'created', 'the start never released the init: it is still created');
  await ok(['start', 'v-crash']);
  await verifyJson(['v-crash'], 0);
  await ok(['delete', '--force', 'v-crash']);
  await assertNoLeaks(before, root);
});

test('verify: bad input is refused with a code', async () => {
  assert.equal((await berth(root, ['replay', '--verify', 'nobody'])).status, 4);
  assert.equal((await berth(root, ['replay', '--repair', 'x'])).status, 2);
  assert.equal((await berth(root, ['replay', '--verify', '--at', '3', 'x'])).status, 2);
  assert.equal((await berth(root, ['replay', '--verify', '--format', 'yaml'])).status, 2);
});
