import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { openRuntime, type Runtime } from '../../src/index.js';
import { replay } from '../../src/machines/replay.js';
import { readProcStat } from '../../src/effects/procfs.js';
import { makeBundle, tempRoot, type Bundle } from '../helpers/bundle.js';
import { berth, CLI, errorCode } from '../helpers/cli.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * Many processes, one root: library programs and CLI commands hammer the same and different
 * containers at once. Whoever holds the log (a library program serving it, or a one-shot
 * command between them), every command succeeds or is refused with a lifecycle code, no
 * stream's history ever forks, and a follower in yet another process sees what they all did.
 */

const HAMMER = fileURLToPath(new URL('./fixtures/hammerChild.mjs', import.meta.url));
/** Refusals the lifecycle law gives a command that lost a race; anything else is a bug. */
const REFUSALS = new Set(['ILLEGAL_STATE', 'CONFLICT', 'NOT_EXISTS', 'ID_IN_USE']);
const SEED = Number(process.env.BERTH_HAMMER_SEED ?? Date.now() % 100_000);

let root: string;
let cleanupRoot: () => void;
let bundle: Bundle;

before(() => {
  actAsShim();
  ({ root, cleanup: cleanupRoot } = tempRoot());
  bundle = makeBundle(['sleep', '1000']);
});
after(() => {
  bundle.cleanup();
  cleanupRoot();
});

interface Outcome { worker: string; op: string; id: string; ok?: boolean; code?: string; message?: string }

function hammer(name: string, seed: number, count: number, ids: string[]): { proc: ChildProcess; done: Promise<Outcome[]> } {
  const proc = spawn(process.execPath, [HAMMER, root, bundle.dir, String(seed), String(count), ids.join(',')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const outcomes: Outcome[] = [];
  const done = new Promise<Outcome[]>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Outcome & { done?: boolean };
      if (msg.done) resolve(outcomes);
      else outcomes.push({ ...msg, worker: name });
    });
    proc.on('exit', (code) => reject(new Error(`${name} exited ${code} before it was done; stderr: ${stderr}`)));
  });
  return { proc, done };
}

/** A CLI worker: one `berth` process per operation, one after the other. */
async function cliWorker(name: string, seed: number, count: number, ids: string[]): Promise<Outcome[]> {
  let s = seed >>> 0 || 1;
  const rand = (n: number) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
  const ops: Record<string, (id: string) => string[]> = {
    create: (id) => ['create', '--bundle', bundle.dir, id],
    start: (id) => ['start', id],
    pause: (id) => ['pause', id],
    resume: (id) => ['resume', id],
    kill: (id) => ['kill', id, 'KILL'],
    'delete-force': (id) => ['delete', '--force', id],
    state: (id) => ['state', id],
  };
  const names = Object.keys(ops);
  const out: Outcome[] = [];
  for (let i = 0; i < count; i++) {
    const op = names[rand(names.length)]!;
    const id = ids[rand(ids.length)]!;
    const r = await berth(root, ops[op]!(id), { timeoutMs: 60_000 });
    const code = errorCode(r.stderr);
    out.push(r.status === 0 ? { worker: name, op, id, ok: true } : { worker: name, op, id, code: code ?? `exit ${r.status}`, message: r.stderr.trim() });
  }
  return out;
}

test(`six processes on one root (seed ${SEED}): coded refusals only, no forked history, the follower sees everything`, async (t) => {
  const before = snapshot();
  const shared = ['m-shared-a', 'm-shared-b'];
  const libs = [0, 1, 2].map((i) => hammer(`lib${i}`, SEED + i, 30, [...shared, `m-lib${i}`]));
  const clis = [0, 1, 2].map((i) => cliWorker(`cli${i}`, SEED + 10 + i, 8, [...shared, `m-cli${i}`]));

  // A follower joins while they run: from its first event on, it must see every event, in order.
  const followOut = join(bundle.dir, 'follow.out');
  const fd = openSync(followOut, 'w');
  const follower = spawn(process.execPath, [CLI, '--root', root, 'events', '--follow'], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  const followerExit = new Promise((r) => follower.on('exit', r));

  const outcomes = [...(await Promise.all(libs.map((l) => l.done))).flat(), ...(await Promise.all(clis)).flat()];
  // Let the follower catch the last pushes, then stop everyone.
  await new Promise((r) => setTimeout(r, 500));
  follower.kill('SIGTERM');
  await followerExit;
  for (const l of libs) l.proc.stdin!.end();
  await Promise.all(libs.map((l) => new Promise((r) => (l.proc.exitCode !== null ? r(null) : l.proc.on('exit', r)))));

  const tally = new Map<string, number>();
  for (const o of outcomes) tally.set(o.ok ? 'ok' : o.code!, (tally.get(o.ok ? 'ok' : o.code!) ?? 0) + 1);
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(tally))}`);
  const bad = outcomes.filter((o) => !o.ok && !REFUSALS.has(o.code ?? ''));
  const rt = await openRuntime({ root, serve: false });
  // A failing run's histories say what happened; whatever the outcome, nothing is left for the next test.
  const history = async (r: Runtime, id: string): Promise<void> => {
    const events = await r.log.read(id);
    t.diagnostic(`${id}: ${events.map((e) => `${e.version}:${e.type}${e.meta ? `@${(e.meta.by as { pid: number }).pid}` : ''}${e.type === 'Observed' || e.type === 'Exited' ? JSON.stringify(e.data) : ''}`).join(' ')}`);
  };
  try {
    for (const id of new Set(bad.map((o) => o.id))) await history(rt, id);
    assert.deepEqual(bad, [], 'every command succeeded or was refused with a lifecycle code');
    assert.ok(outcomes.filter((o) => o.ok && o.op !== 'state').length >= 10, `enough operations went through: ${JSON.stringify(outcomes.map((o) => o.code ?? o.op))}`);

    const all = await rt.log.readAll();
    assert.deepEqual(all.map((e) => e.position), all.map((_, i) => i + 1), 'global positions are gapless');
    for (const id of await rt.log.streams()) {
      const events = await rt.log.read(id);
      assert.deepEqual(events.map((e) => e.version), events.map((_, i) => i + 1), `${id}: versions are contiguous`);
      const r = replay(id, events);
      assert.deepEqual(r.rejected, [], `${id}: every event is one the machine accepts at that point (a legal path, never a fork)`);
    }
    const followed = existsSync(followOut) ? readFileSync(followOut, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { position: number; stream: string; type: string }) : [];
    assert.ok(followed.length > 0, 'the follower saw operations made by other processes');
    const first = followed[0]!.position;
    assert.deepEqual(followed.map((e) => [e.position, e.stream, e.type]), all.filter((e) => e.position >= first).map((e) => [e.position, e.stream, e.type]), 'the follower saw every event from its first on, in order');

    // A kill is logged as delivered (Signaled); its exit is logged by whoever watches the init.
    // When the signalling process exited right after (a CLI command, a worker told to stop),
    // nobody was left to watch: the log lags until the next reader reconciles, as `state` does.
    // Only that lag is settled here; any other difference is the kernel check's to report.
    for (const r of await rt.verify()) {
      const last = (await rt.log.read(r.id)).at(-1);
      if (last?.type !== 'Signaled' || r.differences.length === 0) continue;
      assert.deepEqual(r.differences.map((d) => d.check), ['init'], `${r.id}: a signalled container differs only in its init`);
      assert.equal((await rt.state(r.id)).status, 'stopped', `${r.id}: reconciled, its exit is logged`);
    }
    const kernel = (await rt.verify()).filter((r) => r.differences.length > 0 || r.busy);
    for (const r of kernel) await history(rt, r.id);
    assert.deepEqual(kernel, [], 'what the log says of every container is what the kernel shows');
  } finally {
    for (const s of await rt.list()) await rt.delete(s.id, true);
    const reports = await rt.verify();
    await rt.close();
    assert.deepEqual(reports.filter((r) => r.differences.length > 0), [], 'after delete --force, nothing of any container is left');
  }
  await assertNoLeaks(before, root);
});

test('a container in another live process\'s hands is waited for, not reconciled; a dead executor\'s operation is', async () => {
  const before = snapshot();
  assert.equal((await berth(root, ['run', '--detach', '--bundle', bundle.dir, 'm-busy'])).status, 0);
  // Stand-ins for runtimes that appended an intent and are still (or no longer) carrying it out.
  const alive = spawn('sleep', ['60'], { stdio: 'ignore' });
  const dead = spawn('sleep', ['60'], { stdio: 'ignore' });
  const executor = (pid: number) => ({ by: { pid, start: readProcStat(pid)!.startTime, rt: 'elsewhere' } });
  const deadBy = executor(dead.pid!);
  dead.kill('SIGKILL');
  await new Promise((r) => dead.on('exit', r));
  const rt = await openRuntime({ root });
  try {
    const v = await rt.log.version('m-busy');
    await rt.log.append('m-busy', [{ type: 'PauseRequested', data: {}, meta: executor(alive.pid!) }], { expectedVersion: v });

    const st = await berth(root, ['state', 'm-busy']);
    assert.equal(JSON.parse(st.stdout).status, 'running', 'the log\'s view, without a probe');
    const verified = JSON.parse((await berth(root, ['replay', '--verify', '--format', 'json', 'm-busy'])).stdout) as Array<{ busy: boolean }>;
    assert.equal(verified[0]?.busy, true);
    assert.equal(await rt.log.version('m-busy'), v + 1, 'nobody appended over the operation in flight');

    // A kill from another process waits for the outcome, then goes ahead.
    const kill = berth(root, ['kill', 'm-busy', 'KILL']);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await rt.log.version('m-busy'), v + 1, 'the kill is still waiting');
    await rt.log.append('m-busy', [{ type: 'PauseFailed', data: { error: { code: 'SYSCALL', message: 'stand-in' } } }], { expectedVersion: v + 1 });
    assert.equal((await kill).status, 0);
    const types = (await rt.history('m-busy')).slice(v).map((e) => e.type);
    assert.deepEqual(types.slice(0, 3), ['PauseRequested', 'PauseFailed', 'KillRequested']);

    // An intent whose executor died is reconciled by the next process that loads it.
    assert.equal((await rt.state('m-busy')).status, 'stopped');
    const w = await rt.log.version('m-busy');
    await rt.log.append('m-busy', [{ type: 'DeleteRequested', data: { force: false }, meta: deadBy }], { expectedVersion: w });
    const after = await berth(root, ['state', 'm-busy']);
    assert.equal(JSON.parse(after.stdout).status, 'stopped');
    const last = (await rt.history('m-busy')).at(-1);
    assert.deepEqual([last?.type, last?.data.status], ['Observed', 'stopped'], 'reconciled: the dead executor\'s delete never ran');
    await rt.delete('m-busy');
  } finally {
    alive.kill('SIGKILL');
    await rt.close();
  }
  await assertNoLeaks(before, root);
});
