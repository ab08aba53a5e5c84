import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filter, firstValueFrom, toArray, take } from 'rxjs';
import { readdirSync } from 'node:fs';
import { ROOTFS } from '../helpers/bundle.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { berth } from '../helpers/cli.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { collect } from '../helpers/streams.js';

const f = runtimeFixture();
const bundle = f.bundle;

test('library: create → start → wait → delete, with state$ following the log', async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'echo pid=$$ host=$(hostname); ls /; exit 3']);
  const c = await f.rt.create('lib-lifecycle', { bundle: b.dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const statuses = c.state$.pipe(take(4), toArray());
  const seen = firstValueFrom(statuses);
  const out = collect(c.stdio.stdout);
  const st = await c.state();
  assert.equal(st.status, 'created');
  assert.ok(st.pid > 0);
  assert.equal(st.bundle, b.dir);
  await c.start();
  const exit = await c.wait();
  assert.deepEqual(exit, { code: 3, signal: null });
  const text = await out;
  assert.match(text, /^pid=1 host=berth-test$/m, 'the process is pid 1 in its namespace and has its own hostname');
  const rootfsEntries = readdirSync(ROOTFS).filter((n) => !n.startsWith('.')).sort();
  assert.deepEqual(text.split('\n').slice(1).filter(Boolean).sort(), rootfsEntries, 'it sees only its rootfs');
  await c.delete();
  const history = await c.history();
  // A process this short may exit before the start effect has reported: the exit is recorded
  // while starting and Started then lands it in stopped. Both orders are the machine's.
  const exitedFirst = history[3]?.type === 'Exited';
  assert.deepEqual((await seen).map((s) => s.status), ['created', 'created', exitedFirst ? 'created' : 'running', 'stopped']);
  assert.deepEqual(history.map((e) => e.type), [
    'CreateRequested', 'Created', 'StartRequested', ...(exitedFirst ? ['Exited', 'Started'] : ['Started', 'Exited']), 'DeleteRequested', 'Deleted',
  ]);
  assert.deepEqual(history.map((e) => e.version), [1, 2, 3, 4, 5, 6, 7]);
  await assert.rejects(c.state(), { code: 'NOT_EXISTS' });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library: kill by signal gives 128+n semantics in the exit, and masked paths are masked', async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'cat /proc/kcore | wc -c; (echo x > /proc/sys/kernel/domainname) 2>&1; echo ready; exec sleep 1000']);
  const c = await f.rt.create('lib-kill', { bundle: b.dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const out = collect(c.stdio.stdout);
  // Listen before starting: under load "ready" can arrive before the state$ check is done.
  const printed = until(c.stdio.stdout, /ready/);
  const ready = firstValueFrom(c.state$.pipe(filter((s) => s.status === 'running')));
  await c.start();
  assert.equal((await ready).status, 'running');
  await printed;
  await c.kill('KILL');
  assert.deepEqual(await c.wait(), { code: null, signal: 9 });
  const text = await out;
  assert.match(text, /^0$/m, '/proc/kcore is masked (reads empty)');
  assert.match(text, /Read-only file system/, '/proc/sys is read-only');
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library: the process gets its user, groups, env and cwd, no inherited fd, and a read-only root', async () => {
  const before = snapshot();
  const b = bundle(['sh', '-c', 'id; echo "GREETING=$GREETING"; pwd; ls /proc/self/fd | tr "\\n" " "; echo; touch /x 2>&1; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status'], (c) => {
    c.process.user = { uid: 65534, gid: 65534, additionalGids: [5, 7] };
    c.process.env = [...c.process.env ?? [], 'GREETING=hello'];
    c.process.cwd = '/tmp';
  });
  const c = await f.rt.create('lib-proc', { bundle: b.dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const out = collect(c.stdio.stdout);
  await c.start();
  assert.deepEqual(await c.wait(), { code: 0, signal: null });
  const text = await out;
  assert.match(text, /^uid=65534\(nobody\) gid=65534\(nogroup\) groups=5,7$/m);
  assert.match(text, /^GREETING=hello$/m);
  assert.match(text, /^\/tmp$/m);
  assert.match(text, /^0 1 2 3 $/m, 'only stdio (and the fd ls itself opened) reach the process');
  assert.match(text, /touch: \/x: Read-only file system/);
  assert.match(text, /^CapEff:\t0000000000000000$/m, 'a non-root user keeps no effective capability');
  assert.match(text, /^NoNewPrivs:\t1$/m);
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library: delete --force of a running container kills it and leaves nothing', async () => {
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  const c = await f.rt.create('lib-force', { bundle: b.dir, stdio: 'ignore' });
  await c.start();
  await assert.rejects(c.delete(), { code: 'ILLEGAL_STATE' });
  await c.delete({ force: true });
  // the refused delete is not in the log; the forced one carries the exit
  const history = await c.history();
  assert.deepEqual(history.map((e) => e.type), ['CreateRequested', 'Created', 'StartRequested', 'Started', 'DeleteRequested', 'Deleted']);
  assert.deepEqual(history.at(-1)?.data, { exit: { code: null, signal: 9 } });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library: a created container can be deleted with force before it ever ran', async () => {
  const before = snapshot();
  const b = bundle(['true']);
  const c = await f.rt.create('lib-created', { bundle: b.dir, stdio: 'ignore' });
  await assert.rejects(c.start().then(() => c.start()), { code: 'ILLEGAL_STATE' });
  await c.wait();
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library and CLI share a root: the CLI reaches the library process that owns the log', async () => {
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  const c = await f.rt.create('lib-shared', { bundle: b.dir, stdio: 'ignore' });
  assert.equal(f.rt.mode, 'owner');
  // a second process reads what the first wrote, and changes it, through the owner's socket
  const st = await berth(f.root, ['state', 'lib-shared']);
  assert.equal(st.status, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout).status, 'created');
  const seen = firstValueFrom(c.state$.pipe(filter((s) => s.status === 'running')));
  assert.equal((await berth(f.root, ['start', 'lib-shared'])).status, 0);
  assert.equal((await seen).status, 'running', 'the library sees the CLI\'s start live on state$');
  const list = await berth(f.root, ['list', '--format', 'json']);
  assert.deepEqual(JSON.parse(list.stdout).map((s: { id: string }) => s.id), ['lib-shared']);
  // the library process is the init's parent: its view of the exit is exact
  assert.equal((await berth(f.root, ['kill', 'lib-shared', 'KILL'])).status, 0);
  assert.deepEqual(await c.wait(), { code: null, signal: 9 });
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/** Resolve once the stream has shown text matching `re`. */
function until(stream: NodeJS.ReadableStream | null, re: RegExp): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const on = (d: string | Buffer) => {
      seen += String(d);
      if (re.test(seen)) {
        stream?.off('data', on);
        resolve();
      }
    };
    stream?.on('data', on);
  });
}

test('library: a kill sent again while the first one\'s SIGKILL is taking the init down is done or refused, never left without an outcome', async (t) => {
  // The second kill is appended while the init's exit is on its way to the live machine; when the
  // exit arrives during that append, the log has the intent first and the exit after it.
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  const seen = new Map<string, number>();
  for (let i = 0; i < 25; i++) {
    const id = `lib-rekill-${i}`;
    const c = await f.rt.create(id, { bundle: b.dir, stdio: 'ignore' });
    await c.start();
    await f.rt.kill(id, 9);
    const second = await f.rt.kill(id, 9).then(() => 'done', (e: { code?: string }) => e.code ?? String(e));
    seen.set(second, (seen.get(second) ?? 0) + 1);
    assert.ok(second === 'done' || second === 'ILLEGAL_STATE', `the second kill: ${second}`);
    // A log left in `killing` never shows the exit: a hang guard turns that into a failure.
    const exit = await c.wait({ signal: AbortSignal.timeout(20_000) }).catch(async (e: Error) => {
      throw new Error(`${id}: no exit in the log (${(await c.history()).map((h) => h.type).join(' ')}): ${e.message}`);
    });
    assert.deepEqual(exit, { code: null, signal: 9 });
    const [report] = await f.rt.verify(id);
    assert.deepEqual([report?.state, report?.differences, report?.busy], ['stopped', [], false], `${id}: ${(await c.history()).map((e) => e.type).join(' ')}`);
    await c.delete();
  }
  t.diagnostic(`second kills: ${JSON.stringify(Object.fromEntries(seen))}`);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
