import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { busyboxRootfs, tempRoot } from '../helpers/bundle.js';
import { openRuntime } from '../../src/index.js';
import { berth, CLI } from '../helpers/cli.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * `berth container …` over the manager, one CLI process per command as a shell would run
 * them: the containers and their log copiers outlive each command.
 */
let root = '';
let cleanupRoot = () => undefined as void;
const rootfs = mkdtempSync(join(tmpdir(), 'berth-mgr-cli-rootfs-'));
before(() => {
  actAsShim();
  ({ root, cleanup: cleanupRoot } = tempRoot());
  execFileSync('cp', ['-a', `${busyboxRootfs()}/.`, rootfs]);
});
after(() => {
  cleanupRoot();
  rmSync(rootfs, { recursive: true, force: true });
});

const ok = async (args: string[]) => {
  const r = await berth(root, args);
  assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

test('container run in the foreground prints both streams and exits with the status; --rm leaves nothing', async () => {
  const at = snapshot();
  const r = await berth(root, ['container', 'run', '--rm', '--rootfs', rootfs, '-e', 'A=1', 'fg', 'sh', '-c', 'echo out $A; echo err >&2; exit 3']);
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stdout, 'out 1\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(await ok(['container', 'ls', '--format', 'json']), '[]\n');
  await assertNoLeaks(at, root);
});

test('run -d, ls, exec, logs, stop, restart, rm: each a separate command', async (t) => {
  const at = snapshot();
  t.after(() => berth(root, ['container', 'rm', '-f', 'bg']));
  await ok(['container', 'run', '-d', '--rootfs', rootfs, '--user', 'nobody', '--stop-timeout', '1', 'bg', 'sh', '-c', 'echo hi; echo oops >&2; sleep 1000']);
  const ls = JSON.parse(await ok(['container', 'ls', '--format', 'json'])) as { name: string; state: { status: string } }[];
  assert.deepEqual(ls.map((i) => [i.name, i.state.status]), [['bg', 'running']]);
  assert.equal(await ok(['container', 'exec', 'bg', 'sh', '-c', 'echo $HOSTNAME $(id -u)']), 'bg 65534\n');
  assert.equal((await berth(root, ['container', 'exec', 'bg', 'sh', '-c', 'exit 4'])).status, 4);
  // the pid 1 shell has no TERM handler: stop escalates to SIGKILL after the 1 s timeout
  await ok(['container', 'stop', 'bg']);
  assert.equal(JSON.parse(await ok(['container', 'inspect', 'bg'])).state.status, 'stopped');
  const logs = await berth(root, ['container', 'logs', '--follow', 'bg']);
  assert.deepEqual([logs.stdout, logs.stderr], ['hi\n', 'oops\n']);
  await ok(['container', 'restart', '-t', '0', 'bg']);
  assert.equal(JSON.parse(await ok(['container', 'inspect', 'bg'])).state.status, 'running');
  assert.equal((await berth(root, ['container', 'rm', 'bg'])).status, 6, 'a running container is removed only with --force');
  await ok(['container', 'rm', '-f', 'bg']);
  assert.equal(existsSync(join(root, 'manager', 'bg')), false);
  await assertNoLeaks(at, root);
});

test('bad input: coded exit statuses naming the option; nothing left', async () => {
  const at = snapshot();
  const r = await berth(root, ['container', 'create', '--rootfs', rootfs, '--user', 'nosuch', 'bad', 'true']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /user: unknown user "nosuch"/);
  assert.equal((await berth(root, ['container', 'create', '--rootfs', rootfs, '-v', '/tmp:/proc/x', 'bad', 'true'])).status, 2);
  assert.equal((await berth(root, ['container', 'create', 'bad', 'true'])).status, 2, '--rootfs is required');
  assert.equal((await berth(root, ['container', 'logs', 'nosuch'])).status, 4);
  assert.equal((await berth(root, ['container', 'frob'])).status, 2);
  assert.deepEqual(existsSync(join(root, 'manager')) ? readdirSync(join(root, 'manager')) : [], []);
  const help = await ok(['container', '--help']);
  for (const sub of ['create', 'run', 'start', 'stop', 'restart', 'rm', 'ls', 'inspect', 'logs', 'exec']) assert.match(help, new RegExp(`^  ${sub} `, 'm'));
  assert.match(await ok(['container', 'create', '--help']), /--rootfs/);
  await assertNoLeaks(at, root);
});

test('berth pod create|start|stop|rm|ls with members joined by container create --pod', async (t) => {
  const at = snapshot();
  t.after(() => berth(root, ['pod', 'rm', '-f', 'cp']));
  await ok(['pod', 'create', '--rootfs', rootfs, 'cp']);
  await ok(['container', 'create', '--rootfs', rootfs, '--pod', 'cp', 'cp-a', 'sleep', '1000']);
  await ok(['container', 'create', '--rootfs', rootfs, '--pod', 'cp', 'cp-b', 'sleep', '1000']);
  await ok(['pod', 'start', 'cp']);
  const pods = JSON.parse(await ok(['pod', 'ls', '--format', 'json'])) as { name: string; members: string[]; holder: { state: { status: string } } }[];
  assert.deepEqual(pods.map((p) => [p.name, p.members, p.holder.state.status]), [['cp', ['cp-a', 'cp-b'], 'running']]);
  assert.equal(await ok(['container', 'exec', 'cp-b', 'hostname']), 'cp\n');
  // A member's network and ports are the pod's; a pod has a network of its own.
  const refusals: Array<[string[], string]> = [
    [['container', 'create', '--rootfs', rootfs, '--pod', 'cp', '-p', '8080:80', 'cp-x', 'true'], 'ports'],
    [['container', 'create', '--rootfs', rootfs, '--pod', 'cp', '--network', 'bridge', 'cp-x', 'true'], 'network'],
    [['pod', 'create', '--rootfs', rootfs, '--network', 'container:cp-a', 'cp2'], 'network'],
    [['pod', 'create', '--rootfs', rootfs, '--network', 'bridge:no/such', 'cp2'], 'network'],
  ];
  for (const [args, field] of refusals) {
    const r = await berth(root, args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`: ${field}: .*\\[INVALID_ARGUMENT\\]`));
  }
  assert.equal(existsSync(join(root, 'manager', 'cp-x')), false);
  assert.equal(existsSync(join(root, 'manager', 'cp2.pod')), false);
  assert.equal((await berth(root, ['pod', 'rm', 'cp'])).status, 6, 'a pod with members is removed only with --force');
  await ok(['pod', 'stop', '-t', '0', 'cp']);
  assert.equal(JSON.parse(await ok(['container', 'inspect', 'cp-a'])).state.status, 'stopped');
  await ok(['pod', 'rm', '-f', 'cp']);
  assert.equal(await ok(['pod', 'ls', '--format', 'json']), '[]\n');
  assert.equal(await ok(['container', 'ls', '--format', 'json']), '[]\n');
  assert.equal((await berth(root, ['pod', 'start', 'cp'])).status, 4);
  await assertNoLeaks(at, root);
});

test('container supervise restarts a container that a CLI command started, by its policy, until SIGTERM', async (t) => {
  const at = snapshot();
  const supervisor = spawn(process.execPath, [CLI, '--root', root, 'container', 'supervise', '--interval', '100'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => supervisor.once('exit', (code) => resolve(code)));
  t.after(() => supervisor.kill('SIGKILL'));
  t.after(() => berth(root, ['container', 'rm', '-f', 'pol']));
  while (!existsSync(join(root, 'log.sock'))) await new Promise((r) => setTimeout(r, 50));
  await ok(['container', 'run', '-d', '--rootfs', rootfs, '--restart', 'on-failure:2', 'pol', 'sh', '-c', 'echo run; exit 3']);
  let lines = '';
  for (let i = 0; i < 600 && lines.split('\n').length < 4; i++) {
    await new Promise((r) => setTimeout(r, 50));
    lines = await ok(['container', 'logs', 'pol']);
  }
  assert.equal(lines, 'run\nrun\nrun\n');
  const rt = await openRuntime({ root, serve: false });
  let restarts: unknown[] = [];
  try {
    // the last run's exit is decided on (no third restart) once it is in the log
    restarts = (await rt.containers.history('pol')).filter((e) => e.type === 'RestartedByPolicy').map((e) => e.data.attempt);
  } finally {
    await rt.close();
  }
  assert.deepEqual(restarts, [1, 2]);
  supervisor.kill('SIGTERM');
  assert.equal(await exited, 0);
  await ok(['container', 'rm', 'pol']);
  await assertNoLeaks(at, root);
});
