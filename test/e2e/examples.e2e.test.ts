import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeBundle, tempRoot } from '../helpers/bundle.js';
import { assertNoLeaks, snapshot, type HostSnapshot } from '../helpers/leaks.js';

/** The programs in examples/ run as a user would run them, against the built package. */
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

function example(name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(EXAMPLES, name), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('examples', () => {
  let root: ReturnType<typeof tempRoot>;
  let atStart: HostSnapshot;
  before(() => {
    root = tempRoot();
    atStart = snapshot();
  });
  after(async () => {
    await assertNoLeaks(atStart, root.root);
    root.cleanup();
  });

  it('run-and-watch streams every state and passes the exit code on', () => {
    const b = makeBundle(['sh', '-c', 'echo hello from $(hostname); exit 3']);
    try {
      const r = example('run-and-watch.ts', [b.dir, 'watched', '--root', root.root]);
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stdout, /hello from berth-test/);
      const states = [...r.stdout.matchAll(/^\[state\] (\w+)/gm)].map((m) => m[1]);
      assert.deepEqual(states, ['created', 'starting', 'running', 'stopped', 'deleting', 'deleted']);
      assert.match(r.stdout, /\[exit\] code 3 signal null/);
    } finally {
      b.cleanup();
    }
  });

  it('the supervisor restarts a failing container until it succeeds, learning of exits from events$', () => {
    const state = mkdtempSync(join(tmpdir(), 'berth-sup-'));
    // Fails on its first two runs, succeeds on the third: the count survives in a bind mount.
    const b = makeBundle(['sh', '-c', 'n=$(cat /supervised/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /supervised/n; [ $n -ge 3 ]'],
      (c) => c.mounts!.push({ destination: '/supervised', type: 'bind', source: state, options: ['rbind', 'rw'] }));
    try {
      const r = example('supervisor.ts', [b.dir, 'flaky', '--root', root.root, '--max-restarts', '5']);
      assert.equal(r.status, 0, r.stderr);
      const runs = [...r.stdout.matchAll(/run (\d): exit code (\d)/g)].map((m) => [Number(m[1]), Number(m[2])]);
      assert.deepEqual(runs, [[1, 1], [2, 1], [3, 0]]);
      assert.equal(readFileSync(join(state, 'n'), 'utf8').trim(), '3');
    } finally {
      b.cleanup();
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('the supervisor gives up when the restart budget is spent', () => {
    const b = makeBundle(['sh', '-c', 'exit 9']);
    try {
      const r = example('supervisor.ts', [b.dir, 'hopeless', '--root', root.root, '--max-restarts', '1']);
      assert.equal(r.status, 1, r.stderr);
      assert.equal([...r.stdout.matchAll(/exit code 9/g)].length, 2);
      assert.match(r.stdout, /giving up after 1 restarts/);
    } finally {
      b.cleanup();
    }
  });

  it('the audit tool prints a deleted container\'s history and replays it to a past moment', () => {
    // `watched` ran and was deleted in the first test; the log still holds all of it.
    const r = example('audit.ts', ['watched', '--root', root.root, '--at', '4']);
    assert.equal(r.status, 0, r.stderr);
    const types = [...r.stdout.matchAll(/^\s+\d+\s+\S+\s+(\w+)/gm)].map((m) => m[1]);
    assert.deepEqual(types, ['CreateRequested', 'Created', 'StartRequested', 'Started', 'Exited', 'DeleteRequested', 'Deleted']);
    assert.match(r.stdout, /at version 4: running \(oci: running, pid \d+\)/);
    const unknown = example('audit.ts', ['never-was', '--root', root.root]);
    assert.equal(unknown.status, 4);
    assert.match(unknown.stderr, /no history for never-was/);
  });
});
