import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { firstValueFrom } from 'rxjs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';
import { cgroupManager } from '../../src/effects/cgroups/index.js';
import { defaultCgroupPath } from '../../src/effects/cgroup.js';
import { berth } from '../helpers/cli.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * Resources on the real kernel. This machine is a cgroup v1 hybrid; the v2 backend is tested
 * on its controller-less cgroup2 and on a mirror tree in test/effects/cgroups and test/cgroups.
 */
const layout = readCgroupLayout();
const v1 = layout.kind !== 'v2';
const skipV1 = v1 ? false : 'requires cgroup v1 controllers (this host is pure v2)';

const f = runtimeFixture({ afterAll: () => assert.deepEqual(berthCgroups(), [], 'no berth cgroup left on the host') });
const bundle = f.bundle;

/** The cgroup directories of this file's root (`/berth/<its tag>/...`) on the host. */
function berthCgroups(): string[] {
  const out: string[] = [];
  const tag = dirname(defaultCgroupPath(f.root, 'x')!);
  for (const mount of [...new Set([...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])])]) {
    const dir = join(mount, tag);
    if (existsSync(dir)) out.push(...readdirSync(dir, { withFileTypes: true }).filter((n) => n.isDirectory()).map((n) => join(dir, n.name)));
  }
  return out;
}

/** A file of a container's v1 cgroup, at the path its log records. */
const cg = (controller: string, id: string, file: string) =>
  readFileSync(join(layout.v1[controller]!, defaultCgroupPath(f.root, id)!, file), 'utf8').trim();

function output(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (d: string) => { text += d; });
  return () => text;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('limits from the spec are in the cgroup files; delete removes every hierarchy', { skip: skipV1 }, async () => {
  const before = snapshot();
  const b = bundle(['sleep', '1000'], (c) => {
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 20 }, cpu: { quota: 50_000, period: 100_000, shares: 512 } };
  });
  const c = await f.rt.create('cg-limits', { bundle: b.dir, stdio: 'ignore' });
  assert.equal(cg('memory', 'cg-limits', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  assert.equal(cg('pids', 'cg-limits', 'pids.max'), '20');
  assert.equal(cg('cpu', 'cg-limits', 'cpu.cfs_quota_us'), '50000');
  assert.equal(cg('cpu', 'cg-limits', 'cpu.shares'), '512');
  const pid = (await c.state()).pid;
  assert.match(cg('memory', 'cg-limits', 'cgroup.procs'), new RegExp(`^${pid}$`, 'm'), 'the init is in its cgroup before it starts');
  await c.delete({ force: true });
  assert.deepEqual(berthCgroups(), []);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('the container sees its own cgroup at /sys/fs/cgroup, read-only, not the host\'s hierarchy', { skip: skipV1 }, async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/cgroup.procs; ls /sys/fs/cgroup/memory | grep -c ^berth; echo 1 > /sys/fs/cgroup/pids/pids.max'], (c) => {
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 48 * 1024 * 1024 } };
  });
  const c = await f.rt.create('cg-view', { bundle: b.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = output(c.stdio.stdout);
  const err = output(c.stdio.stderr);
  await c.start();
  await c.wait();
  const [limit, ...rest] = out().trim().split('\n');
  assert.equal(limit, String(48 * 1024 * 1024), 'its own memory limit');
  assert.equal(rest.at(-1), '0', 'no host berth/ directory in view');
  // its own processes only, with the pids of its namespace: sh (1) and the cat reading the file
  assert.deepEqual(rest.slice(0, -1), ['1', '3']);
  assert.match(err(), /Read-only file system/);
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

for (const slow of [false, true]) {
  // The slow path (a time namespace with offsets) unshares after FORK: the forked init waits for its join.
  test(`a cgroup namespace is rooted at the container's own cgroups on v1${slow ? ' (forked init)' : ''}`, { skip: skipV1 }, async () => {
    const before = snapshot();
    const b = bundle(['sh', '-c', 'cat /proc/self/cgroup; echo --; cat /sys/fs/cgroup/memory/memory.limit_in_bytes'], (c) => {
      c.linux!.namespaces!.push({ type: 'cgroup' }, ...(slow ? [{ type: 'time' as const }] : []));
      if (slow) c.linux!.timeOffsets = { monotonic: { secs: 1000, nanosecs: 0 } };
      c.linux!.resources = { ...c.linux!.resources, memory: { limit: 40 * 1024 * 1024 } };
    });
    const id = slow ? 'cg-ns-fork' : 'cg-ns';
    const c = await f.rt.create(id, { bundle: b.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = output(c.stdio.stdout);
    const err = output(c.stdio.stderr);
    await c.start();
    assert.deepEqual(await c.wait(), { code: 0, signal: null }, err());
    const [own, limit] = out().trim().split('\n--\n');
    const lines = own!.split('\n');
    const v1Lines = lines.filter((l) => !l.startsWith('0::'));
    assert.ok(v1Lines.some((l) => /:memory(,|:)/.test(l)), own);
    // Every hierarchy the container was joined to is its namespace's root (runc's cgroupns).
    for (const l of v1Lines.filter((x) => Object.keys(layout.v1).some((k) => x.split(':')[1]!.split(',').includes(k)))) {
      assert.equal(l.split(':')[2], '/', `${l} is rooted at the container's cgroup`);
    }
    assert.equal(limit, String(40 * 1024 * 1024), 'a fresh memory mount shows its own limit');
    await c.delete();
    await assertNoLeaks(before, f.root, { openRuntime: true });
  });
}

test('a pids limit makes fork fail inside the container', { skip: skipV1 }, async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 100 & done 2>&1; echo done'], (c) => {
    c.linux!.resources = { ...c.linux!.resources, pids: { limit: 4 } };
  });
  const c = await f.rt.create('cg-pids', { bundle: b.dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const out = output(c.stdio.stdout);
  await c.start();
  await c.wait();
  assert.match(out(), /can't fork|Resource temporarily unavailable|fork/i);
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a memory limit OOM-kills a memory hog and the OOM kill is in the log', { skip: skipV1 }, async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'], (c) => {
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
  });
  const c = await f.rt.create('cg-oom', { bundle: b.dir, stdio: 'ignore' });
  await c.start();
  assert.deepEqual(await c.wait(), { code: null, signal: 9 });
  const types = (await c.history()).map((e) => e.type);
  assert.ok(types.includes('OomKilled'), types.join(' '));
  assert.ok(types.indexOf('OomKilled') < types.indexOf('Exited'));
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('pause freezes (a counter stops) and resume thaws; replay shows paused', { skip: skipV1 }, async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done']);
  const c = await f.rt.create('cg-pause', { bundle: b.dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const out = output(c.stdio.stdout);
  await c.start();
  await sleep(200);
  await c.pause();
  assert.equal((await c.state()).status, 'paused');
  assert.equal(cg('freezer', 'cg-pause', 'freezer.state'), 'FROZEN');
  const frozenAt = out().length;
  await sleep(300);
  assert.equal(out().length, frozenAt, 'no output while frozen');
  // a second process sees it paused (its probe reads the freezer)
  const st = await berth(f.root, ['state', 'cg-pause']);
  assert.equal(JSON.parse(st.stdout).status, 'paused');
  await assert.rejects(c.start(), { code: 'ILLEGAL_STATE' });
  await c.resume();
  await sleep(200);
  assert.ok(out().length > frozenAt, 'output resumes');
  assert.equal((await c.state()).status, 'running');
  assert.equal((await f.rt.replay('cg-pause'))?.status, 'running');
  const history = await c.history();
  const paused = history.find((e) => e.type === 'Paused')!;
  assert.equal((await f.rt.replay('cg-pause', { at: paused.version }))?.status, 'paused');
  await c.pause();
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('update changes the live files and the log; replay shows the limits in force at each point', { skip: skipV1 }, async () => {
  const before = snapshot();
  const b = bundle(['sleep', '1000'], (c) => {
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } };
  });
  const c = await f.rt.create('cg-update', { bundle: b.dir, stdio: 'ignore' });
  await c.start();
  const r = await berth(f.root, ['update', '--memory', '128m', '--pids-limit', '30', '--cpu-quota', '20000', 'cg-update']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(cg('memory', 'cg-update', 'memory.limit_in_bytes'), String(128 * 1024 * 1024));
  assert.equal(cg('pids', 'cg-update', 'pids.max'), '30');
  assert.equal(cg('cpu', 'cg-update', 'cpu.cfs_quota_us'), '20000');
  const history = await c.history();
  const updated = history.find((e) => e.type === 'Updated')!;
  assert.deepEqual((updated.data.resources as { memory: unknown }).memory, { limit: 128 * 1024 * 1024 });
  const bad = await berth(f.root, ['update', '--memory', 'lots', 'cg-update']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--memory lots: not a size/);
  // A -r that is not a readable file names the flag (a directory was INTERNAL: EISDIR; input fuzz).
  for (const file of [b.dir, join(b.dir, 'missing.json')]) {
    const unreadable = await berth(f.root, ['update', '-r', file, 'cg-update']);
    assert.equal(unreadable.status, 2, unreadable.stderr);
    assert.match(unreadable.stderr, new RegExp(`--resources: ${file}: (EISDIR|ENOENT).*\\[INVALID_ARGUMENT\\]`));
  }
  assert.equal((await c.history()).filter((e) => e.type === 'UpdateRequested').length, 1, 'nothing logged for them');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('stats report real usage; ps lists the processes; kill --all signals every one', { skip: skipV1 }, async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'sleep 1000 & sleep 1000 & trap "exit 0" TERM; wait']);
  const c = await f.rt.create('cg-stats', { bundle: b.dir, stdio: 'ignore' });
  await c.start();
  let pids: number[] = [];
  for (let i = 0; i < 50 && pids.length < 3; i++) {
    await sleep(20);
    pids = await c.ps();
  }
  assert.equal(pids.length, 3);
  const stats = await c.stats() as { memory: { usage: { usage: number } }; pids: { current: number } };
  assert.ok(stats.memory.usage.usage > 0);
  assert.equal(stats.pids.current, 3);
  const cli = await berth(f.root, ['events', '--stats', 'cg-stats']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(JSON.parse(cli.stdout).type, 'stats');
  const ps = await berth(f.root, ['ps', '--format', 'json', 'cg-stats']);
  assert.deepEqual(JSON.parse(ps.stdout).sort(), [...pids].sort());
  await c.kill('KILL', { all: true });
  assert.deepEqual(await c.wait(), { code: null, signal: 9 });
  const signaled = (await c.history()).find((e) => e.type === 'Signaled');
  assert.equal(signaled?.data.count, 3);
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('bad resources are refused naming the field, leaving no cgroup', async () => {
  const before = snapshot();
  const b = bundle(['true'], (c) => { c.linux!.cgroupsPath = '/../../escape'; });
  await assert.rejects(f.rt.create('cg-bad-path', { bundle: b.dir, stdio: 'ignore' }), { code: 'INVALID_CONFIG', field: 'linux.cgroupsPath' });
  const b2 = bundle(['true'], (c) => { c.linux!.resources = { ...c.linux!.resources, memory: { limit: -5 } }; });
  await assert.rejects(f.rt.create('cg-bad-mem', { bundle: b2.dir, stdio: 'ignore' }), (e: { code: string; field?: string }) => e.code === 'INVALID_CONFIG' && /memory/.test(e.field ?? ''));
  assert.deepEqual(berthCgroups(), []);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('an OOM kill inside a container whose init survives is logged as it happens', { skip: skipV1, timeout: 20_000 }, async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', '(x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done); echo hog-died; sleep 1000'], (c) => {
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
  });
  const c = await f.rt.create('cg-oom-live', { bundle: b.dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const out = output(c.stdio.stdout);
  const seen = new Promise<number>((resolve) => {
    const sub = c.events$.subscribe((e) => {
      if (e.type === 'OomKilled') {
        sub.unsubscribe();
        resolve(e.data.count as number);
      }
    });
  });
  await c.start();
  assert.equal(await seen, 1, 'OomKilled arrives on events$ while the container runs');
  for (let i = 0; i < 100 && !out().includes('hog-died'); i++) await sleep(20);
  assert.equal((await c.state()).status, 'running');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a create interrupted before Created was logged is undone: the orphan in its cgroup is killed, the cgroup removed', async () => {
  const before = snapshot();
  const b = bundle(['true']);
  // What a runtime killed mid-create leaves: the intent in the log, a helper in the cgroup.
  await f.rt.log.append('cg-crashed', [{ type: 'CreateRequested', data: { bundle: b.dir, pidFile: null, owner: '' } }], { expectedVersion: 'no_stream', sync: true });
  const cg = cgroupManager(layout, defaultCgroupPath(f.root, 'cg-crashed')!);
  cg.create(undefined);
  const orphan = spawn('/bin/busybox', ['sleep', '1000'], { stdio: 'ignore' });
  const exited = new Promise((r) => orphan.on('exit', (_code, signal) => r(signal)));
  await cg.join(orphan.pid!);
  await assert.rejects(f.rt.state('cg-crashed'), { code: 'NOT_EXISTS' });
  assert.equal(await exited, 'SIGKILL');
  assert.equal(cg.exists(), false);
  const history = await f.rt.history('cg-crashed');
  assert.deepEqual(history.map((e) => [e.type, e.data.status]), [['CreateRequested', undefined], ['Observed', 'deleted']]);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('memory pressure is reported while a container reclaims its page cache', { skip: skipV1, timeout: 30_000 }, async (t) => {
  const before = snapshot();
  const big = join(f.root, 'big.file');
  writeFileSync(big, Buffer.alloc(64 * 1024 * 1024, 1));
  t.after(() => rmSync(big, { force: true }));
  // Pages stay charged to the cgroup that first cached them (this test's): drop them so the
  // container's reads fault them into its own, small, cgroup.
  execFileSync('sh', ['-c', 'sync && echo 1 > /proc/sys/vm/drop_caches']);
  const b = bundle(['sh', '-c', 'while :; do cat /data > /dev/null; done'], (c) => {
    c.mounts = [...(c.mounts ?? []), { destination: '/data', type: 'bind', source: big, options: ['rbind', 'ro'] }];
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 16 * 1024 * 1024 } };
  });
  const c = await f.rt.create('cg-pressure', { bundle: b.dir, stdio: 'ignore' });
  const first = firstValueFrom(f.rt.memoryPressure$('cg-pressure', 'low'));
  await c.start();
  assert.equal(await first, 'low');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
