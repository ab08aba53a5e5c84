import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempRoot } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import type { CreateOptions } from '../../src/index.js';

/**
 * Bad input gets a clear, coded error naming the field or object, and leaves the host as if
 * nothing had been attempted: no process, mount, fifo, fd or container directory. The log
 * records the failed attempt (CreateRequested, CreateFailed) and the id stays free.
 */
const f = runtimeFixture();
const bundle = f.bundle;

interface Expect { code: string; field?: string; message: RegExp }

/** Create must fail with `expect`, leave nothing, log the attempt, and leave the id usable. */
async function createFails(id: string, bundleDir: string, expect: Expect, opts: Partial<CreateOptions> = {}) {
  const before = snapshot();
  const err = await f.rt.create(id, { bundle: bundleDir, stdio: 'ignore', ...opts }).then(() => null, (e: unknown) => e as { code: string; field?: string; message: string });
  assert.ok(err, `create ${id} should have failed`);
  assert.equal(err.code, expect.code, err.message);
  if (expect.field) assert.equal(err.field, expect.field);
  assert.match(err.message, expect.message);
  await assertNoLeaks(before, f.root, { openRuntime: true });
  await assert.rejects(f.rt.state(id), { code: 'NOT_EXISTS' });
  const history = await f.rt.history(id);
  assert.deepEqual(history.slice(-2).map((e) => e.type), ['CreateRequested', 'CreateFailed']);
  assert.equal((history.at(-1)?.data.error as { code: string }).code, expect.code);
  assert.ok(!(await f.rt.list()).some((s) => s.id === id), 'a failed create is not listed');
}

test('a config field of the wrong type is named', async () => {
  const b = bundle(['true'], (c) => { (c.process as unknown as { args: unknown }).args = 'true'; });
  await createFails('bad-args', b.dir, { code: 'INVALID_CONFIG', field: 'process.args', message: /process\.args/ });
});

test('malformed config.json', async () => {
  const b = bundle(['true']);
  writeFileSync(join(b.dir, 'config.json'), '{ "ociVersion": ');
  await createFails('bad-json', b.dir, { code: 'INVALID_CONFIG', field: 'config.json', message: /not valid JSON/ });
});

test('a bundle without config.json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-empty-'));
  try {
    await createFails('no-config', dir, { code: 'INVALID_CONFIG', field: 'config.json', message: /config\.json does not exist/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing rootfs', async () => {
  const b = bundle(['true'], (c) => { c.root.path = '/nonexistent/rootfs'; });
  await createFails('no-rootfs', b.dir, { code: 'INVALID_CONFIG', field: 'root.path', message: /\/nonexistent\/rootfs is not an existing directory/ });
});

test('absurd limits: an rlimit whose soft value exceeds its hard value', async () => {
  const b = bundle(['true'], (c) => { c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 1024 }]; });
  await createFails('bad-rlimit', b.dir, { code: 'INVALID_CONFIG', message: /rlimits/ });
});

test('a process that does not exist in the rootfs is named', async () => {
  const b = bundle(['no-such-binary']);
  await createFails('no-binary', b.dir, { code: 'INVALID_CONFIG', field: 'process.args', message: /no-such-binary: executable file not found/ });
});

test('a cwd that does not exist in the rootfs', async () => {
  const b = bundle(['true'], (c) => { c.process.cwd = '/no/such/dir'; });
  await createFails('bad-cwd', b.dir, { code: 'INVALID_CONFIG', field: 'process.cwd', message: /\/no\/such\/dir/ });
});

test('a mount the kernel refuses fails in the init helper, naming the step, and undoes everything', async () => {
  const b = bundle(['true'], (c) => { c.mounts = [...(c.mounts ?? []), { destination: '/mnt', type: 'nosuchfs', source: 'none' }]; });
  await createFails('bad-mount', b.dir, { code: 'SYSCALL', message: /mount .*\/mnt.*ENODEV/ });
});

test('terminal: a console socket that does not exist is named, nothing is left', async () => {
  const b = bundle(['true'], (c) => { c.process.terminal = true; });
  await createFails('tty-nosock', b.dir, { code: 'INVALID_ARGUMENT', field: 'consoleSocket', message: /--console-socket \/nonexistent\/console\.sock: ENOENT/ },
    { consoleSocket: '/nonexistent/console.sock', detached: true });
});

test('terminal: a detached create with a terminal needs a console socket (runc\'s rule)', async () => {
  const b = bundle(['true'], (c) => { c.process.terminal = true; });
  await createFails('tty-detached', b.dir, { code: 'INVALID_ARGUMENT', field: 'process.terminal', message: /cannot allocate tty if berth will detach without setting console socket/ },
    { detached: true });
});

test('terminal: a console socket for a process without a terminal is refused', async () => {
  const b = bundle(['true']);
  await createFails('tty-notty', b.dir, { code: 'INVALID_ARGUMENT', field: 'consoleSocket', message: /cannot use console socket if berth will not detach or allocate tty/ },
    { consoleSocket: join(f.root, 'unused.sock'), detached: true });
});

test('terminal: without a devpts at /dev/pts there is no pty of the container\'s own to give', async () => {
  const b = bundle(['true'], (c) => {
    c.process.terminal = true;
    c.mounts = c.mounts?.filter((m) => m.destination !== '/dev/pts');
  });
  await createFails('tty-nodevpts', b.dir, { code: 'INVALID_CONFIG', field: 'process.terminal', message: /terminal: resolve \/dev\/pts\/ptmx: ENOENT \(a terminal needs a devpts mount at \/dev\/pts\)/ });
});

test('a relative bundle and a bad id are refused before anything is logged', async () => {
  await assert.rejects(f.rt.create('rel', { bundle: 'relative/bundle' }), { code: 'INVALID_ARGUMENT', field: 'bundle' });
  for (const id of ['', '..', 'a/b', 'a\0b', 'x'.repeat(1025), 'sp ace']) {
    await assert.rejects(f.rt.create(id, { bundle: '/tmp' }), { code: 'INVALID_ID' }, JSON.stringify(id));
  }
  assert.deepEqual((await f.rt.log.streams()).filter((s) => s === 'rel' || s === '..'), []);
});

test('a duplicate id, and operations in the wrong state', async (t) => {
  t.after(() => f.rt.delete('dup', true).catch(() => undefined));
  const before = snapshot();
  const b = bundle(['sleep', '1000']);
  const c = await f.rt.create('dup', { bundle: b.dir, stdio: 'ignore' });
  await assert.rejects(f.rt.create('dup', { bundle: b.dir }), { code: 'ID_IN_USE', message: /container with id dup already exists/ });
  await assert.rejects(c.delete(), { code: 'ILLEGAL_STATE', message: /not stopped: created/ });
  await c.start();
  await assert.rejects(c.start(), { code: 'ILLEGAL_STATE', message: /cannot start an already running container/ });
  await assert.rejects(c.kill('NOPE'), { code: 'INVALID_ARGUMENT', message: /NOPE/ });
  await c.kill('KILL');
  await c.wait();
  await assert.rejects(c.kill('TERM'), { code: 'ILLEGAL_STATE', message: /container not running/ });
  await assert.rejects(c.start(), { code: 'ILLEGAL_STATE', message: /stopped/ });
  await c.delete();
  await assert.rejects(c.delete(), { code: 'NOT_EXISTS' });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: bad input maps to stable exit statuses and one line on stderr', async () => {
  const cli = tempRoot();
  try {
    const b = bundle(['true'], (c) => { c.root.path = '/nonexistent/rootfs'; });
    const cases: [string[], number, RegExp][] = [
      [['create', '--bundle', b.dir, 'x'], 3, /root\.path .* \[INVALID_CONFIG\]/],
      [['state', 'nope'], 4, /container nope does not exist \[NOT_EXISTS\]/],
      [['create', '--bundle', b.dir, 'a/b'], 2, /invalid container id "a\/b".* \[INVALID_ID\]/],
      [['kill', 'nope', 'SIGFOO'], 2, /unknown signal SIGFOO \[INVALID_ARGUMENT\]/],
      [['create', '--bogus', 'x'], 2, /flag provided but not defined: --bogus \[INVALID_ARGUMENT\]/],
      [['start'], 2, /start: expected <container-id>/],
      [['frobnicate'], 2, /unknown command "frobnicate"/],
      // Found by the input fuzzer (seed 339849920): a directory as --log was an INTERNAL EISDIR.
      [['--log', cli.root, 'state', 'nope'], 2, /--log ".*": cannot open for appending \(EISDIR\) \[INVALID_ARGUMENT\]/],
      [['--log-format', 'yaml', 'state', 'nope'], 2, /--log-format: "yaml" is neither text nor json \[INVALID_ARGUMENT\]/],
    ];
    for (const [args, status, stderr] of cases) {
      const r = await berth(cli.root, args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, stderr);
      assert.equal(r.stdout, '', args.join(' '));
    }
    const log = join(cli.root, 'err.json');
    const r = await berth(cli.root, ['--log', log, '--log-format', 'json', 'state', 'nope']);
    assert.equal(r.status, 4);
    const { readFileSync } = await import('node:fs');
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!) as { level: number; msg: string; code: string };
    assert.equal(line.msg, 'container nope does not exist');
    assert.equal(line.code, 'NOT_EXISTS');
  } finally {
    cli.cleanup();
  }
});
