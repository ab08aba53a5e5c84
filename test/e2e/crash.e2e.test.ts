import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CRASH_ENV, CRASH_POINTS, type CrashPoint } from '../../src/crash.js';
import { openRuntime, type Runtime } from '../../src/index.js';
import { makeBundle, tempRoot, type Bundle } from '../helpers/bundle.js';
import { CLI } from '../helpers/cli.js';
import { criuSkip, tempDir } from '../helpers/criu.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * Fault injection: for every crash point (src/crash.ts) a separate process runs the operation
 * and is SIGKILLed at that point. Then a fresh runtime opens the root and must find: every event
 * the dead process saw committed still in the log, a state that reconciliation made equal to the
 * kernel (`verify` shows no difference) and that is the one the point implies (the effect was
 * not re-run), and `delete --force` leaving nothing behind.
 */

const CHILD = fileURLToPath(new URL('./fixtures/lifecycleChild.mjs', import.meta.url));

/** The steps that reach an operation, and the states its crash points may leave (after reconciliation). */
const OPS: Record<string, { steps: string[] }> = {
  create: { steps: ['create'] },
  start: { steps: ['create', 'start'] },
  kill: { steps: ['create', 'start', 'kill'] },
  pause: { steps: ['create', 'start', 'pause'] },
  resume: { steps: ['create', 'start', 'pause', 'resume'] },
  update: { steps: ['create', 'start', 'update'] },
  delete: { steps: ['create', 'start', 'delete-force'] },
  checkpoint: { steps: ['create', 'start', 'checkpoint'] },
};

/** What must be true after reconciliation: the effect ran as far as the point, and no further. */
const EXPECT: Record<CrashPoint, string[]> = {
  'create:intent': ['gone'],
  'create:cgroup': ['gone'],
  'create:fifo': ['gone'],
  'create:spawned': ['gone'],
  'create:ready': ['gone'],
  'create:outcome': ['gone'],
  'start:intent': ['created'],
  // The init was released: it exec'd, or (if this process died before it wrote its byte) died of SIGPIPE.
  'start:fifo': ['running', 'stopped'],
  'start:read': ['running'],
  'start:outcome': ['running'],
  'kill:intent': ['running'],
  'kill:signaled': ['stopped'],
  'kill:outcome': ['stopped'],
  'pause:intent': ['running'],
  'pause:outcome': ['paused'],
  'resume:intent': ['paused'],
  'resume:outcome': ['running'],
  'update:intent': ['running'],
  'update:written': ['running'],
  'update:outcome': ['running'],
  'delete:intent': ['running'],
  'delete:killed': ['stopped'],
  'delete:cgroup': ['stopped', 'gone'],
  'delete:outcome': ['gone'],
  // berth's record is in the images: the reconciling runtime finishes the checkpoint's release.
  'checkpoint:dumped': ['checkpointed'],
};

interface Said {
  events: Array<{ stream: string; version: number; type: string }>;
  acks: string[];
  errors: unknown[];
  stderr: string;
  signal: NodeJS.Signals | null;
}

function runChild(root: string, id: string, bundle: string, steps: string[], point: CrashPoint, images: string): Promise<Said> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, root, id, bundle, steps.join(','), images], {
      env: { ...process.env, [CRASH_ENV]: point },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({
        events: lines.filter((l) => l.event).map((l) => l.event as Said['events'][number]),
        acks: lines.filter((l) => l.ack).map((l) => l.ack as string),
        errors: lines.filter((l) => l.error),
        stderr,
        signal,
      });
    });
  });
}

let root: string;
let cleanupRoot: () => void;
let bundle: Bundle;
const covered = new Set<CrashPoint>();

before(() => {
  actAsShim();
  ({ root, cleanup: cleanupRoot } = tempRoot());
  bundle = makeBundle(['sleep', '1000']);
});
after(() => {
  bundle.cleanup();
  cleanupRoot();
});

async function withRuntime<T>(fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime({ root, serve: false });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

const noCriu = criuSkip();

for (const point of CRASH_POINTS) {
  const op = point.split(':')[0]!;
  test(`crash at ${point}: nothing acknowledged lost, the log equals the kernel, delete --force cleans up`, { skip: op === 'checkpoint' && noCriu }, async (t) => {
    const id = `crash-${point.replace(':', '-')}`;
    const images = tempDir('berth-crash-img-');
    t.after(images.cleanup);
    const before = snapshot();
    const said = await runChild(root, id, bundle.dir, OPS[op]!.steps, point, images.dir);
    assert.equal(said.signal, 'SIGKILL', `the runtime died at the crash point; stderr: ${said.stderr}; errors: ${JSON.stringify(said.errors)}`);
    assert.match(said.stderr, new RegExp(`crash point ${point}\\n`));
    assert.deepEqual(said.errors, [], 'every step before the crash succeeded');
    assert.deepEqual(said.acks, OPS[op]!.steps.slice(0, -1), 'the operation under test was never acknowledged');

    await withRuntime(async (rt) => {
      // Every event the dead process saw committed is in the log, as it saw it.
      const log = await rt.log.read(id);
      for (const e of said.events) {
        assert.equal(log[e.version - 1]?.type, e.type, `acknowledged ${e.stream}@${e.version} ${e.type} is in the log`);
      }
      // Loading reconciles: the probe appends what the kernel shows.
      const st = await rt.state(id).then((s) => s.state, (e: { code?: string }) => {
        assert.equal(e.code, 'NOT_EXISTS');
        return 'gone';
      });
      assert.ok(EXPECT[point].includes(st), `after ${point}: ${st}, expected ${EXPECT[point].join(' or ')}`);
      const [report] = await rt.verify(id);
      assert.deepEqual(report?.differences, [], `the replayed state equals the kernel after ${point}`);
      if (op === 'update') {
        const limits = (await rt.state(id)).resources;
        const applied = point !== 'update:intent';
        assert.equal(limits?.pids?.limit === 57, applied, `limits in force after ${point}: ${JSON.stringify(limits)}`);
      }
      // Reconciliation never runs an effect twice: a reopened log ends in a settled state.
      const history = await rt.history(id);
      assert.ok(history.every((e, i) => e.version === i + 1), 'versions are contiguous');
      if (st !== 'gone') await rt.delete(id, true);
      const [gone] = await rt.verify(id);
      assert.equal(gone?.state, 'deleted');
      assert.deepEqual(gone?.differences, [], 'no process, cgroup or directory of the container is left');
    });
    await assertNoLeaks(before, root);
    covered.add(point);
  });
}

test('every crash point was exercised', () => {
  // Checkpoint points need criu; without it their tests say so as skips.
  const expected = CRASH_POINTS.filter((p) => !(p.startsWith('checkpoint:') && noCriu));
  assert.deepEqual([...covered].sort(), [...expected].sort());
  // The count is reported in docs/log.md.
  assert.equal(covered.size, expected.length);
});

test('an unknown crash point is refused when the runtime opens', async () => {
  const child = spawn(process.execPath, [CLI, '--root', root, 'list'], { env: { ...process.env, [CRASH_ENV]: 'start:nowhere' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 2);
  assert.match(err, /BERTH_CRASH_AT=start:nowhere: not a crash point .* \[INVALID_ARGUMENT\]/);
});
