/**
 * Runtime-namespace hooks (src/effects/hooks.ts) as real processes: what a hook gets (argv,
 * environment, the state on stdin, its working directory) and how each way of failing is
 * reported. busybox (the busybox-static package) stands in for the hooks: it picks its applet
 * from argv[0], so it shows that args[0] is what the hook sees as argv[0].
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { isRuntimeError } from '../../src/errors.js';
import { ociState } from '../../src/effects/hookPlan.js';
import { checkHooks, helperHookFailure, runHook, runHooksWarning } from '../../src/effects/hooks.js';
import { defaultConfig, validateConfig, type OciHook } from '../../src/machines/spec.js';

const BUSYBOX = '/bin/busybox';
const skip = existsSync(BUSYBOX) ? undefined : 'requires /bin/busybox (the busybox-static package)';
const dir = mkdtempSync(join(tmpdir(), 'berth-hooks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const state = ociState({ id: 'web', bundle: dir, config: null }, 'creating', 1234);
const sh = (script: string, extra: Partial<OciHook> = {}): OciHook => ({ path: BUSYBOX, args: ['sh', '-c', script], ...extra });

async function fails(hook: OciHook, message: RegExp): Promise<void> {
  await assert.rejects(runHook(hook, 'hooks.prestart[0]', state, 'create web', dir), (e: unknown) => {
    assert.ok(isRuntimeError(e, 'HOOK_FAILED'), String(e));
    assert.equal(e.step, 'hooks.prestart[0]');
    assert.match(e.message, message);
    return true;
  });
}

test('a hook gets the state on stdin, args as argv (args[0] is argv[0]), only its env, the given cwd', { skip }, async () => {
  const out = join(dir, 'seen');
  await runHook(sh(`cat > ${out}.json; echo "$0 $1" > ${out}.argv; env > ${out}.env; pwd > ${out}.cwd`, { env: ['FOO=bar baz', 'EMPTY='] }), 'hooks.prestart[0]', state, 'create web', dir);
  assert.deepEqual(JSON.parse(readFileSync(`${out}.json`, 'utf8')), state);
  assert.equal(readFileSync(`${out}.argv`, 'utf8'), 'sh \n', 'busybox ran its sh applet: argv[0] was "sh"');
  const env = readFileSync(`${out}.env`, 'utf8').split('\n').filter(Boolean).sort();
  // the shell adds PWD, SHLVL and, when none is set, its default PATH; nothing comes from this
  // process's environment
  const shells = /^(PWD|SHLVL|OLDPWD)=|^PATH=\/sbin:\/usr\/sbin:\/bin:\/usr\/bin$/;
  assert.deepEqual(env.filter((e) => !shells.test(e)), ['EMPTY=', 'FOO=bar baz']);
  assert.equal(readFileSync(`${out}.cwd`, 'utf8'), `${dir}\n`);
});

test('without args the hook\'s argv is its path', { skip }, async () => {
  const script = join(dir, 'argv0.sh');
  writeFileSync(script, `#!${BUSYBOX} sh\necho "$#" > ${dir}/argc\n`);
  chmodSync(script, 0o755);
  await runHook({ path: script }, 'hooks.prestart[0]', state, 'create web', dir);
  assert.equal(readFileSync(join(dir, 'argc'), 'utf8'), '0\n');
});

test('a non-zero exit names the hook, the status and the tail of stderr', { skip }, async () => {
  await fails(sh('echo first line >&2; printf "%0300d" 0 >&2; echo >&2; echo last words >&2; exit 3'), /^create web: hooks\.prestart\[0\] exited with status 3: 0+ last words$/);
});

test('a hook killed by a signal', { skip }, async () => {
  await fails(sh('echo dying >&2; kill -9 $$'), /hooks\.prestart\[0\] killed by signal 9: dying$/);
});

test('a hook past its timeout is killed and fails', { skip }, async () => {
  const pidFile = join(dir, 'slow.pid');
  await fails(sh(`echo $$ > ${pidFile}; echo waiting >&2; exec sleep 60`, { timeout: 1 }), /hooks\.prestart\[0\] timed out after 1s: waiting$/);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.equal(existsSync(`/proc/${pid}`), false, 'the hook was killed and reaped');
});

test('a hook that cannot be executed', { skip }, async () => {
  await fails({ path: join(dir, 'missing') }, /hooks\.prestart\[0\] exec .*missing: ENOENT$/);
});

test('a hook that exits while its background child holds its pipes does not stall the operation', { skip }, async () => {
  const pidFile = join(dir, 'bg.pid');
  await runHook(sh(`sleep 60 & echo $! > ${pidFile}; exit 0`), 'hooks.prestart[0]', state, 'create web', dir);
  process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
});

test('a hook that never reads its stdin is fine (the state write gets EPIPE)', { skip }, async () => {
  const big = ociState({ id: 'web', bundle: dir, config: { ...defaultConfig(), annotations: { a: 'x'.repeat(1 << 20) } } }, 'creating', 1);
  await runHook(sh('exit 0'), 'hooks.prestart[0]', big, 'create web', dir);
});

test('poststart and poststop: every hook runs, failures become warnings (logged)', { skip }, async () => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => { lines.push(l); } });
  const ran = join(dir, 'ran');
  const config = validateConfig({ ...defaultConfig(), hooks: { poststop: [sh('exit 2'), sh(`touch ${ran}`), sh('echo no >&2; exit 4')] } });
  const warnings = await runHooksWarning('poststop', config, ociState({ id: 'web', bundle: dir, config }, 'stopped'), 'delete web', dir, log);
  assert.ok(existsSync(ran), 'the hook after a failed one still ran');
  assert.deepEqual(warnings, [
    { code: 'HOOK_FAILED', message: 'delete web: hooks.poststop[0] exited with status 2', step: 'hooks.poststop[0]' },
    { code: 'HOOK_FAILED', message: 'delete web: hooks.poststop[2] exited with status 4: no', step: 'hooks.poststop[2]' },
  ]);
  assert.deepEqual(lines.map((l) => JSON.parse(l).hook), ['hooks.poststop[0]', 'hooks.poststop[2]']);
});

test('hooks resolved in the runtime namespace are checked before anything is made', { skip }, () => {
  const plain = join(dir, 'plain');
  writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
  const cases: [Record<string, OciHook[]>, string, RegExp][] = [
    [{ prestart: [{ path: join(dir, 'nope') }] }, 'hooks.prestart[0].path', /does not exist/],
    [{ poststop: [sh('true'), { path: dir }] }, 'hooks.poststop[1].path', /is not a regular file/],
    [{ createContainer: [{ path: plain }] }, 'hooks.createContainer[0].path', /is not executable/],
  ];
  for (const [hooks, field, message] of cases) {
    const config = validateConfig({ ...defaultConfig(), hooks });
    assert.throws(() => checkHooks(config), (e: unknown) => isRuntimeError(e, 'INVALID_CONFIG') && e.field === field && message.test(e.message), field);
  }
  // startContainer paths resolve in the container: only the helper can check them
  checkHooks(validateConfig({ ...defaultConfig(), hooks: { startContainer: [{ path: '/only/in/the/container' }] } }));
});

test('the helper\'s hook reports read as the runtime\'s own', () => {
  const e = helperHookFailure('start web', 2, 'hooks.startContainer[0] exec /x');
  assert.deepEqual(e.toJSON(), { code: 'HOOK_FAILED', message: 'start web: hooks.startContainer[0] exec /x: ENOENT', step: 'hooks.startContainer[0]' });
  assert.equal(helperHookFailure('create web', 110, 'hooks.createContainer[1] timed out after 2s: slow').message, 'create web: hooks.createContainer[1] timed out after 2s: slow');
  assert.equal(helperHookFailure('create web', 0, 'hooks.createContainer[0] exited with status 1').message, 'create web: hooks.createContainer[0] exited with status 1');
});
