/**
 * OCI hooks on real containers (runtime-spec config.md "POSIX-platform Hooks", runtime.md
 * "Lifecycle"): when each stage runs, in which namespace, with which state on stdin, and which
 * operation a failing hook fails. The hooks are busybox shells (args[0] "sh" picks the applet);
 * what they saw is read back from inside the container where they ran in or reached it, and from
 * the host otherwise. Every test proves it left nothing behind.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { OciHook, OciHooks } from '../../src/machines/spec.js';
import { ROOTFS } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { collect } from '../helpers/streams.js';

const out = mkdtempSync(join(tmpdir(), 'berth-hooks-out-'));
const f = runtimeFixture({ afterAll: () => rmSync(out, { recursive: true, force: true }) });

/** A hook running `script` in busybox's sh (/bin/busybox on the host, and in the rootfs). */
const sh = (script: string, extra: Partial<OciHook> = {}): OciHook => ({ path: '/bin/busybox', args: ['sh', '-c', script], ...extra });
/** The pid in a state JSON on stdin, saved to `file` first (busybox has no JSON tool). */
const save = (file: string) => `cat > ${file}; pid=$(sed 's/.*"pid":\\([0-9]*\\).*/\\1/' ${file})`;

/** A fresh directory for one test's hook output, writable by the container's user too. */
function outDir(name: string): string {
  const d = mkdtempSync(join(out, `${name}-`));
  chmodSync(d, 0o777);
  return d;
}

/** Force-delete `id` after the test, pass or fail, so one failure does not spill into the next. */
function cleanup(t: { after(fn: () => Promise<unknown>): void }, id: string) {
  t.after(() => f.rt.delete(id, true).catch(() => undefined));
}

const read = (file: string) => readFileSync(file, 'utf8');
const json = (file: string) => JSON.parse(read(file)) as Record<string, unknown>;
const lines = (file: string) => (existsSync(file) ? read(file).split('\n').filter(Boolean) : []);

test('all six stages, in order, where and with what the runtime-spec says', async (t) => {
  cleanup(t, 'hooks-all');
  const before = snapshot();
  const o = outDir('order');
  writeFileSync(join(o, 'order'), '', { mode: 0o666 }); // the container's user appends too
  chmodSync(join(o, 'order'), 0o666);
  const env = [`OUT=${o}`, `ROOTFS=${ROOTFS}`];
  const hooks: OciHooks = {
    // runtime namespace, before pivot_root: the init's root is still the host's tree, and the
    // container's mounts are reachable through it
    prestart: [sh(`${save('$OUT/prestart.json')}; echo prestart >> $OUT/order; readlink /proc/$pid/root > $OUT/prestart.root; echo from-prestart > /proc/$pid/root$ROOTFS/run/prestart`, { env })],
    createRuntime: [sh(`${save('$OUT/createRuntime.json')}; echo createRuntime >> $OUT/order; echo from-createRuntime > /proc/$pid/root$ROOTFS/run/createRuntime`, { env })],
    // the container's mount namespace, before pivot_root, cwd the rootfs
    createContainer: [sh('cat > run/createContainer.json; pwd > run/createContainer.pwd; readlink /proc/self/ns/mnt > run/createContainer.mnt; echo createContainer >> $OUT/order', { env, timeout: 30 })],
    // in the container, as its user, before its process
    startContainer: [sh('cat > /run/startContainer.json; id -u > /run/startContainer.uid; echo startContainer >> /hooklog/order')],
    // runtime namespace, once the user process executes
    poststart: [sh(`${save('$OUT/poststart.json')}; readlink /proc/$pid/exe > $OUT/poststart.exe; echo poststart >> $OUT/order`, { env })],
    // runtime namespace, after delete removed the container
    poststop: [sh(`cat > $OUT/poststop.json; echo poststop >> $OUT/order; ls ${f.root}/containers > $OUT/poststop.ls`, { env })],
  };
  const b = f.bundle(['sh', '-c', [
    'cat /run/prestart /run/createRuntime',
    'cat /run/createContainer.json; echo',
    'cat /run/createContainer.pwd /run/createContainer.mnt',
    'readlink /proc/self/ns/mnt',
    'cat /run/startContainer.json; echo',
    'cat /run/startContainer.uid',
  ].join('; ')], (c) => {
    c.mounts!.push({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777'] });
    c.mounts!.push({ destination: '/hooklog', type: 'bind', source: o, options: ['rbind', 'rw'] });
    c.process.user = { uid: 65534, gid: 65534 };
    c.annotations = { 'org.example/team': 'berth' };
    c.hooks = hooks;
  });
  const c = await f.rt.create('hooks-all', { bundle: b.dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const stdout = collect(c.stdio.stdout);
  const { pid } = await c.state();
  assert.deepEqual(lines(join(o, 'order')), ['prestart', 'createRuntime', 'createContainer'], 'create ran the create-time hooks only');
  await c.start();
  assert.deepEqual(await c.wait(), { code: 0, signal: null });
  await c.delete();

  const base = { ociVersion: '1.0.2', id: 'hooks-all', bundle: b.dir, annotations: { 'org.example/team': 'berth' } };
  assert.deepEqual(json(join(o, 'prestart.json')), { ...base, status: 'creating', pid });
  assert.deepEqual(json(join(o, 'createRuntime.json')), { ...base, status: 'creating', pid });
  assert.deepEqual(json(join(o, 'poststart.json')), { ...base, status: 'running', pid });
  assert.deepEqual(json(join(o, 'poststop.json')), { ...base, status: 'stopped' }, 'no pid once stopped (as runc)');
  assert.equal(read(join(o, 'prestart.root')), '/\n', 'prestart ran before pivot_root');
  assert.doesNotMatch(read(join(o, 'poststart.exe')), /memfd:berth-init/, 'poststart ran once the user process had replaced the init');
  assert.equal(read(join(o, 'poststop.ls')), '', 'poststop ran after the container\'s state was removed');
  // (the process itself read what startContainer wrote: it ran after it; poststart saw it running)
  assert.deepEqual(lines(join(o, 'order')), ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);

  // what the container itself shows
  const [pre, rt, cc, ccPwd, ccMnt, ownMnt, sc, scUid] = (await stdout).split('\n');
  assert.equal(pre, 'from-prestart');
  assert.equal(rt, 'from-createRuntime');
  assert.deepEqual(JSON.parse(cc ?? ''), { ...base, status: 'creating', pid }, 'createContainer: the init\'s host pid');
  assert.equal(ccPwd, ROOTFS, 'createContainer ran in the rootfs');
  assert.equal(ccMnt, ownMnt, 'createContainer ran in the container\'s mount namespace');
  assert.deepEqual(JSON.parse(sc ?? ''), { ...base, status: 'created', pid });
  assert.equal(scUid, '65534', 'startContainer ran as the container\'s user');

  const history = await c.history();
  const types = history.map((e) => e.type);
  // the process may exit while the poststart hooks still run: Exited can precede Started
  assert.deepEqual([...types.slice(0, 3), ...types.slice(3, 5).sort(), ...types.slice(5)], ['CreateRequested', 'Created', 'StartRequested', 'Exited', 'Started', 'DeleteRequested', 'Deleted']);
  assert.deepEqual(history.find((e) => e.type === 'Started')?.data, {}, 'no warnings');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/** Create must fail on `step`, leave nothing, log the attempt, and run the poststop hooks. */
async function createFails(id: string, hooks: OciHooks, expect: { code: string; step?: string; field?: string; message: RegExp }) {
  const before = snapshot();
  const b = f.bundle(['sh', '-c', 'echo RAN'], (c) => { c.hooks = hooks; });
  const err = await f.rt.create(id, { bundle: b.dir, stdio: 'ignore' }).then(() => null, (e: unknown) => e as { code: string; step?: string; field?: string; message: string });
  assert.ok(err, `create ${id} should have failed`);
  assert.equal(err.code, expect.code, err.message);
  assert.equal(err.step, expect.step);
  assert.equal(err.field, expect.field);
  assert.match(err.message, expect.message);
  await assertNoLeaks(before, f.root, { openRuntime: true });
  await assert.rejects(f.rt.state(id), { code: 'NOT_EXISTS' });
  const history = await f.rt.history(id);
  assert.deepEqual(history.map((e) => e.type), ['CreateRequested', 'CreateFailed']);
  assert.deepEqual(history[1]?.data.error, { code: expect.code, message: err.message, ...(expect.step ? { step: expect.step } : {}), ...(expect.field ? { field: expect.field } : {}) });
}

test('a failing prestart hook fails create: its status and stderr named, everything undone, poststop run', async () => {
  const o = outDir('prestart-fails');
  await createFails('hooks-prestart', {
    prestart: [sh('echo "no network for you" >&2; exit 3')],
    createRuntime: [sh(`touch ${o}/createRuntime`)],
    poststop: [sh(`cat > ${o}/poststop.json`)],
  }, { code: 'HOOK_FAILED', step: 'hooks.prestart[0]', message: /^create hooks-prestart: hooks\.prestart\[0\] exited with status 3: no network for you$/ });
  assert.equal(existsSync(join(o, 'createRuntime')), false, 'no hook after the failed one');
  assert.equal(json(join(o, 'poststop.json')).status, 'stopped', 'runtime.md: a failed create hook continues at delete and poststop (as runc)');
});

test('a createRuntime hook that fails after another succeeded is named by its index', async () => {
  const o = outDir('createRuntime-fails');
  await createFails('hooks-cr', {
    createRuntime: [sh(`touch ${o}/first`), sh('kill -9 $$')],
    createContainer: [sh(`touch ${o}/createContainer`)],
  }, { code: 'HOOK_FAILED', step: 'hooks.createRuntime[1]', message: /hooks\.createRuntime\[1\] killed by signal 9$/ });
  assert.ok(existsSync(join(o, 'first')));
  assert.equal(existsSync(join(o, 'createContainer')), false);
});

test('a createContainer hook past its timeout is killed and fails create', async () => {
  const o = outDir('createContainer-timeout');
  await createFails('hooks-cc', {
    createContainer: [sh(`echo $$ > ${o}/pid; echo stuck >&2; exec sleep 60`, { timeout: 1 })],
  }, { code: 'HOOK_FAILED', step: 'hooks.createContainer[0]', message: /hooks\.createContainer\[0\] timed out after 1s: stuck$/ });
  // it ran in the container's pid namespace (its pid there is small); the whole namespace is gone
  assert.ok(Number(read(join(o, 'pid'))) < 10);
});

test('a hook that is not executable is bad input: nothing runs, nothing is left', async () => {
  const o = outDir('not-executable');
  await createFails('hooks-noexec', {
    createRuntime: [sh(`touch ${o}/ran`)],
    poststop: [sh(`touch ${o}/poststop`), { path: join(o, 'nope') }],
  }, { code: 'INVALID_CONFIG', field: 'hooks.poststop[1].path', message: /hooks\.poststop\[1\]\.path .*nope does not exist/ });
  assert.equal(existsSync(join(o, 'ran')), false);
  assert.equal(existsSync(join(o, 'poststop')), false, 'invalid config: no hook ran');
});

test('a failing startContainer hook fails start and stops the container; its process never runs', async (t) => {
  cleanup(t, 'hooks-sc');
  const before = snapshot();
  const o = outDir('startContainer-fails');
  const b = f.bundle(['sh', '-c', 'echo RAN'], (c) => {
    c.hooks = { startContainer: [sh('echo "ldconfig failed" >&2; exit 1')], poststart: [sh(`touch ${o}/poststart`)], poststop: [sh(`touch ${o}/poststop`)] };
  });
  const c = await f.rt.create('hooks-sc', { bundle: b.dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const stdout = collect(c.stdio.stdout);
  await assert.rejects(c.start(), (e: { code: string; step: string; message: string }) => {
    assert.equal(e.code, 'HOOK_FAILED');
    assert.equal(e.step, 'hooks.startContainer[0]');
    assert.equal(e.message, 'start hooks-sc: hooks.startContainer[0] exited with status 1: ldconfig failed');
    return true;
  });
  assert.equal((await c.state()).status, 'stopped');
  assert.equal(await stdout, '', 'the user process never ran');
  assert.equal(existsSync(join(o, 'poststart')), false);
  const history = await c.history();
  assert.deepEqual(history.slice(-3).map((e) => e.type), ['StartRequested', 'Exited', 'StartFailed']);
  await c.delete();
  assert.ok(existsSync(join(o, 'poststop')), 'delete ran poststop');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('failing poststart and poststop hooks are warnings: start and delete succeed, the events record them', async (t) => {
  cleanup(t, 'hooks-warn');
  const before = snapshot();
  const o = outDir('warnings');
  const b = f.bundle(['sleep', '1000'], (c) => {
    c.hooks = {
      poststart: [sh('echo "no dns" >&2; exit 2'), sh(`touch ${o}/poststart1`)],
      poststop: [sh(`touch ${o}/poststop0`), sh('exit 5')],
    };
  });
  const c = await f.rt.create('hooks-warn', { bundle: b.dir, stdio: 'ignore' });
  await c.start();
  assert.equal((await c.state()).status, 'running', 'the container runs despite the failed poststart hook');
  assert.ok(existsSync(join(o, 'poststart1')), 'the remaining poststart hooks ran');
  await c.kill('KILL');
  await c.wait();
  await c.delete();
  assert.ok(existsSync(join(o, 'poststop0')));
  const history = await c.history();
  assert.deepEqual(history.find((e) => e.type === 'Started')?.data, {
    warnings: [{ code: 'HOOK_FAILED', message: 'start hooks-warn: hooks.poststart[0] exited with status 2: no dns', step: 'hooks.poststart[0]' }],
  });
  assert.deepEqual(history.at(-1)?.data, {
    exit: { code: null, signal: 9 },
    warnings: [{ code: 'HOOK_FAILED', message: 'delete hooks-warn: hooks.poststop[1] exited with status 5', step: 'hooks.poststop[1]' }],
  });
  await assert.rejects(c.state(), { code: 'NOT_EXISTS' });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: a failing hook is one line on stderr and exit status 1; a poststart warning goes to stderr and start succeeds', async (t) => {
  const before = snapshot();
  const bad = f.bundle(['true'], (c) => { c.hooks = { prestart: [sh('exit 4')] }; });
  const r = await berth(f.root, ['run', '--bundle', bad.dir, 'hooks-cli-bad']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^berth: create hooks-cli-bad: hooks\.prestart\[0\] exited with status 4 \[HOOK_FAILED\]$/m);
  const warn = f.bundle(['sleep', '1000'], (c) => { c.hooks = { poststart: [sh('echo late >&2; exit 6')] }; });
  t.after(() => berth(f.root, ['delete', '--force', 'hooks-cli-warn']));
  assert.equal((await berth(f.root, ['create', '--bundle', warn.dir, 'hooks-cli-warn'])).status, 0);
  const s = await berth(f.root, ['start', 'hooks-cli-warn']);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stderr, /hooks\.poststart\[0\] exited with status 6: late/);
  assert.equal((await berth(f.root, ['delete', '--force', 'hooks-cli-warn'])).status, 0);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
