import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeBundle, tempRoot, type Bundle } from '../helpers/bundle.js';
import { berth, CLI } from '../helpers/cli.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';

let root: string;
let cleanupRoot: () => void;
const bundles: Bundle[] = [];
const bundle = (...a: Parameters<typeof makeBundle>) => {
  const b = makeBundle(...a);
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

async function state(id: string) {
  return JSON.parse((await ok(['state', id])).stdout) as { status: string; pid: number; id: string; bundle: string; ociVersion: string; created: string };
}

/** Force-delete `id` after the test, pass or fail, so one failure does not spill into the next. */
function cleanup(t: { after(fn: () => Promise<unknown>): void }, id: string) {
  t.after(() => berth(root, ['delete', '--force', id]));
}

test('cli: create → start → state → kill → delete, each a separate process', async (t) => {
  cleanup(t, 'cli-life');
  const before = snapshot();
  // pid 1 of a pid namespace ignores SIGTERM unless it handles it (as under runc)
  const b = bundle(['sh', '-c', 'trap "exit 143" TERM; while true; do sleep 0.1; done']);
  const pidFile = join(b.dir, 'init.pid');
  await ok(['create', '--bundle', b.dir, '--pid-file', pidFile, 'cli-life']);
  const created = await state('cli-life');
  assert.equal(created.status, 'created');
  assert.equal(created.id, 'cli-life');
  assert.equal(created.bundle, b.dir);
  assert.equal(created.ociVersion, '1.0.2');
  assert.ok(Date.parse(created.created) > 0);
  assert.equal(Number(readFileSync(pidFile, 'utf8')), created.pid, 'pid file holds the init pid');
  assert.ok(existsSync(join(root, 'containers/cli-life/exec.fifo')));

  await ok(['start', 'cli-life']);
  const running = await state('cli-life');
  assert.equal(running.status, 'running');
  assert.equal(running.pid, created.pid);
  assert.equal(existsSync(join(root, 'containers/cli-life/exec.fifo')), false, 'the exec fifo is gone after start');

  const list = JSON.parse((await ok(['list', '--format', 'json'])).stdout) as { id: string; status: string }[];
  assert.deepEqual(list.map((c) => [c.id, c.status]), [['cli-life', 'running']]);
  assert.match((await ok(['list'])).stdout, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\ncli-life\s+\d+\s+running\s/);

  await ok(['kill', 'cli-life', 'TERM']);
  // The init exited while no berth process watched: the next command observes it.
  let st = await state('cli-life');
  for (let i = 0; i < 50 && st.status !== 'stopped'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    st = await state('cli-life');
  }
  assert.equal(st.status, 'stopped');
  assert.equal(st.pid, 0);
  await ok(['delete', 'cli-life']);
  const gone = await berth(root, ['state', 'cli-life']);
  assert.equal(gone.status, 4);
  assert.match(gone.stderr, /container cli-life does not exist \[NOT_EXISTS\]/);
  // A plain delete of a deleted container fails; a forced one succeeds and logs nothing (runc).
  assert.equal((await berth(root, ['delete', 'cli-life'])).status, 4);
  assert.equal((await berth(root, ['delete', '--force', 'cli-life'])).status, 0);
  assert.equal((await berth(root, ['delete', '--force', 'never-existed'])).status, 0);

  const history = (await ok(['history', '--format', 'json', 'cli-life'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; version: number; at: string; data: Record<string, unknown> });
  assert.deepEqual(history.map((e) => e.type), [
    'CreateRequested', 'Created', 'StartRequested', 'Started', 'KillRequested', 'Signaled', history[6]?.type, 'DeleteRequested', 'Deleted',
  ]);
  // The exit is seen either by the `kill` process while it still watched the init (Exited, code
  // unknown: not its child) or by the next command's probe (Observed stopped).
  assert.ok(history[6]?.type === 'Exited' || (history[6]?.type === 'Observed' && history[6].data.status === 'stopped'), JSON.stringify(history[6]));

  assert.ok(history.every((e, i) => e.version === i + 1 && Date.parse(e.at) > 0));
  const table = (await ok(['history', 'cli-life'])).stdout;
  assert.match(table, /^SEQ\s+TIME\s+EVENT\s+DETAILS$/m);
  assert.match(table, /^5\s+\S+\s+KillRequested\s+signal=SIGTERM$/m);
  await assertNoLeaks(before, root);
});

for (const [args, status] of [[['true'], 0], [['sh', '-c', 'exit 3'], 3]] as const) {
  test(`cli: run passes the exit status through (${args.join(' ')} → ${status})`, async (t) => {
    cleanup(t, `cli-run-${status}`);
    const before = snapshot();
    const b = bundle([...args]);
    const r = await berth(root, ['run', '--bundle', b.dir, `cli-run-${status}`]);
    assert.equal(r.status, status, r.stderr);
    assert.equal((await berth(root, ['state', `cli-run-${status}`])).status, 4, 'run deletes the container');
    await assertNoLeaks(before, root);
  });
}

test('cli: a second process kills a container that a foreground run holds: run exits 128+9', async (t) => {
  cleanup(t, 'cli-run-killed');
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  // The foreground run owns the root's log and serves it; `state` and `kill` reach it over the socket.
  const pidFile = join(b.dir, 'run.pid');
  const run = berth(root, ['run', '--pid-file', pidFile, '--bundle', b.dir, 'cli-run-killed']);
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
  let st = await state('cli-run-killed');
  for (let i = 0; i < 50 && st.status !== 'running'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    st = await state('cli-run-killed');
  }
  assert.equal(st.status, 'running');
  await ok(['kill', 'cli-run-killed', 'SIGKILL']);
  const r = await run;
  assert.equal(r.status, 137, r.stderr);
  const history = (await ok(['history', '--format', 'json', 'cli-run-killed'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
  // The kill process and the run process both watch the init and race for the log: the kill
  // process may log the exit first, without its status (it is not the parent), and the run
  // process then completes it. Every order is a history the machine accepts; none is forked.
  const types = history.map((e) => e.type);
  assert.deepEqual(types.slice(0, 5), ['CreateRequested', 'Created', 'StartRequested', 'Started', 'KillRequested']);
  assert.deepEqual(types.slice(-2), ['DeleteRequested', 'Deleted']);
  const middle = history.slice(5, -2);
  assert.deepEqual([...new Set(middle.map((e) => e.type))].sort(), ['Exited', 'Signaled']);
  assert.deepEqual(middle.filter((e) => e.type === 'Exited').at(-1)?.data, { code: null, signal: 9 }, 'the run process, the init\'s parent, knows how it ended');
  await assertNoLeaks(before, root);
});

test('cli: run --detach returns with the container running; delete --force removes it', async (t) => {
  cleanup(t, 'cli-detach');
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  await ok(['run', '--detach', '--bundle', b.dir, 'cli-detach']);
  assert.equal((await state('cli-detach')).status, 'running');
  const refused = await berth(root, ['delete', 'cli-detach']);
  assert.equal(refused.status, 6);
  assert.match(refused.stderr, /cannot delete container that is not stopped: running \[ILLEGAL_STATE\]/);
  await ok(['delete', '--force', 'cli-detach']);
  await assertNoLeaks(before, root);
});

test('cli: spec writes a config that runs; a second spec refuses to overwrite', async () => {
  const b = bundle(['true']);
  rmSync(join(b.dir, 'config.json'));
  await ok(['spec', '--bundle', b.dir]);
  const config = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')) as { process: { args: string[] }; root: { path: string } };
  assert.equal(config.root.path, 'rootfs');
  assert.equal((await berth(root, ['spec', '--bundle', b.dir])).status, 2);
});

test('cli: events --follow tails the log live while other commands run; replay rebuilds any point', async (t) => {
  cleanup(t, 'cli-log');
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  // The follower opens the root first and serves it; every later command goes through it.
  const out = join(b.dir, 'follow.out');
  const fd = openSync(out, 'w');
  const follower = spawn(process.execPath, [CLI, '--root', root, 'events', '--follow'], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  t.after(() => follower.kill('SIGKILL'));
  for (let i = 0; i < 200 && !existsSync(join(root, 'log.sock')); i++) await new Promise((r) => setTimeout(r, 25));
  await ok(['create', '--bundle', b.dir, 'cli-log']);
  await ok(['start', 'cli-log']);
  await ok(['kill', 'cli-log', 'KILL']);
  await ok(['delete', '--force', 'cli-log']);
  const exited = new Promise((r) => follower.on('exit', r));
  follower.kill('SIGTERM');
  await exited;
  const followed = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { stream: string; type: string; version: number });
  const history = (await ok(['history', '--format', 'json', 'cli-log'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; version: number; at: string });
  assert.deepEqual(followed.map((e) => [e.stream, e.version, e.type]), history.map((e) => ['cli-log', e.version, e.type]), 'the follower saw every event, in order');

  const at = async (...args: string[]) => JSON.parse((await ok(['replay', ...args, 'cli-log'])).stdout) as { status: string; state: string; version: number } | null;
  assert.equal((await at('--at', '2'))?.status, 'created');
  const started = history.find((e) => e.type === 'Started')!;
  assert.equal((await at('--at-time', started.at))?.status, 'running');
  assert.equal((await at('--at', '0')), null, 'before the first event there was no container');
  assert.equal((await at())?.state, 'deleted');
  const all = JSON.parse((await ok(['replay', '--all'])).stdout) as unknown[];
  assert.deepEqual(all, [], 'replay --all lists the containers that exist');
  assert.equal((await berth(root, ['replay', '--at', 'x', 'cli-log'])).status, 2);
  await assertNoLeaks(before, root);
});

test('cli: every report command takes --format table|json with its own default; anything else is refused by name before the root is touched', async (t) => {
  cleanup(t, 'cli-fmt');
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  await ok(['run', '--detach', '--bundle', b.dir, 'cli-fmt']);
  const pid = (await state('cli-fmt')).pid;
  const firstLine = (text: string) => text.split('\n')[0]!;
  const reports: { args: string[]; fallback: 'table' | 'json'; header: RegExp; json(out: string): void }[] = [
    { args: ['list'], fallback: 'table', header: /^ID +PID +STATUS +BUNDLE +CREATED +OWNER$/, json: (o) => assert.ok((JSON.parse(o) as { id: string }[]).some((c) => c.id === 'cli-fmt')) },
    // runc's ps --format json: an array of host pids.
    { args: ['ps', 'cli-fmt'], fallback: 'table', header: /^PID +CMD$/, json: (o) => assert.deepEqual(JSON.parse(o), [pid]) },
    // The log's events: one JSON object per line, as events --follow streams them.
    { args: ['history', 'cli-fmt'], fallback: 'table', header: /^SEQ +TIME +EVENT +DETAILS$/, json: (o) => assert.deepEqual(o.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type), ['CreateRequested', 'Created', 'StartRequested', 'Started']) },
    { args: ['replay', 'cli-fmt'], fallback: 'json', header: /^ID +STATE +STATUS +PID +SEQ +EXIT$/, json: (o) => assert.equal((JSON.parse(o) as { status: string }).status, 'running') },
    { args: ['replay', '--all'], fallback: 'json', header: /^ID +STATE +STATUS +PID +SEQ +EXIT$/, json: (o) => assert.ok((JSON.parse(o) as { id: string }[]).some((c) => c.id === 'cli-fmt')) },
    { args: ['replay', '--verify'], fallback: 'table', header: /^\d+ container\(s\): the log matches the kernel$/, json: (o) => assert.deepEqual((JSON.parse(o) as { id: string; differences: unknown[] }[]).find((r) => r.id === 'cli-fmt')?.differences, []) },
    // Only streams deleted an hour ago: the other tests' stay.
    { args: ['gc', '--older-than', '1h'], fallback: 'table', header: /^ID +EVENTS +ARCHIVE$/, json: (o) => {
      const r = JSON.parse(o) as { pruned: unknown[]; kept: string[] };
      assert.deepEqual(r.pruned, []);
      assert.ok(r.kept.includes('cli-fmt'));
    } },
    { args: ['features'], fallback: 'json', header: /^FIELD +VALUE$/, json: (o) => assert.equal((JSON.parse(o) as { ociVersionMax: string }).ociVersionMax, '1.2.0') },
    { args: ['events', '--stats', 'cli-fmt'], fallback: 'json', header: /^TIME +TYPE +CPU_NS +MEMORY +PIDS +DETAILS$/, json: (o) => assert.equal((JSON.parse(o) as { type: string }).type, 'stats') },
  ];
  const fresh = join(b.dir, 'no-root');
  for (const r of reports) {
    const what = r.args.join(' ');
    const table = (await ok([...r.args, '--format', 'table'])).stdout;
    assert.match(firstLine(table), r.header, `${what} --format table`);
    r.json((await ok([...r.args, '-f', 'json'])).stdout);
    const plain = (await ok(r.args)).stdout;
    if (r.fallback === 'table') assert.match(firstLine(plain), r.header, `${what} defaults to a table`);
    else r.json(plain);
    const bad = await berth(fresh, [...r.args, '--format', 'yaml']);
    assert.equal(bad.status, 2, `${what} --format yaml`);
    assert.equal(bad.stderr, 'berth: --format yaml: use table or json [INVALID_ARGUMENT]\n');
    assert.equal(existsSync(fresh), false, `${what} --format yaml refused before the root was opened`);
  }
  assert.match((await ok(['replay', '--format', 'table', 'cli-fmt'])).stdout.split('\n')[1]!, new RegExp(`^cli-fmt +running +running +${pid} +4 +-$`));
  assert.match((await ok(['features', '--format', 'table'])).stdout, /^linux\.namespaces +cgroup,ipc,mount,network,pid,time,user,uts$/m);
  assert.match((await ok(['events', '--stats', '--format', 'table', 'cli-fmt'])).stdout.split('\n')[1]!, /^\S+Z +stats +\d+ +\d+ +1 *$/);

  // events --follow as a table: a header, then one row per committed event.
  const out = join(b.dir, 'follow.out');
  const fd = openSync(out, 'w');
  const follower = spawn(process.execPath, [CLI, '--root', root, 'events', '--follow', '--format', 'table', 'cli-fmt'], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  t.after(() => follower.kill('SIGKILL'));
  for (let i = 0; i < 200 && !existsSync(join(root, 'log.sock')); i++) await new Promise((r) => setTimeout(r, 25));
  await ok(['pause', 'cli-fmt']);
  await ok(['resume', 'cli-fmt']);
  const exited = new Promise((r) => follower.on('exit', r));
  follower.kill('SIGTERM');
  await exited;
  const rows = readFileSync(out, 'utf8').trim().split('\n');
  assert.match(rows[0]!, /^TIME +ID +SEQ +EVENT +DETAILS$/);
  assert.deepEqual(rows.slice(1).map((l) => l.split(/ +/).slice(1, 4)), [
    ['cli-fmt', '5', 'PauseRequested'], ['cli-fmt', '6', 'Paused'], ['cli-fmt', '7', 'ResumeRequested'], ['cli-fmt', '8', 'Resumed'],
  ]);
  await ok(['delete', '--force', 'cli-fmt']);
  await assertNoLeaks(before, root);
});
