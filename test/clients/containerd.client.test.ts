import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from '../helpers/cli.js';
import { assertNoLeaks, snapshot, type HostSnapshot } from '../helpers/leaks.js';
import { removeClientCgroups } from './cgroups.js';
import { clientImages, type ClientImages } from './image.js';

/**
 * containerd (Debian's) drives berth through its runc shim, as a Kubernetes node would:
 * `ctr --runc-binary <berth>`. A private containerd (own root, state and socket) and a
 * namespace of this run's own keep the host's containerd, if any, out of it.
 */
const run = promisify(execFile);
const NS = `berth-test-${process.pid}`;
/** The shim hands runc `--root /run/containerd/runc/<namespace>`: berth's root for this run. */
const BERTH_ROOT = `/run/containerd/runc/${NS}`;

describe('containerd drives berth', () => {
  let dir: string;
  let daemon: ChildProcess;
  let images: ClientImages;
  let atStart: HostSnapshot;
  const ctr = async (...args: string[]) => run('ctr', ['-a', join(dir, 'sock'), '-n', NS, ...args], { timeout: 60_000 });

  before(async () => {
    atStart = snapshot();
    dir = mkdtempSync(join(tmpdir(), 'berth-containerd-'));
    // The CRI plugin wants CNI and a network: not what is tested here.
    writeFileSync(join(dir, 'config.toml'), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
    daemon = spawn('containerd', ['--config', join(dir, 'config.toml'), '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--address', join(dir, 'sock')], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    for (let i = 0; i < 100 && !existsSync(join(dir, 'sock')); i++) await new Promise((r) => setTimeout(r, 50));
    images = clientImages();
    await ctr('images', 'import', '--base-name', 'localhost/busybox', images.ociArchive);
  });

  after(async () => {
    await ctr('images', 'rm', 'localhost/busybox:berth').catch(() => undefined);
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    images.cleanup();
    // The shims exit with their tasks: none may outlive the test.
    const shims = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(NS);
      } catch {
        return false;
      }
    });
    assert.deepEqual(shims, [], 'containerd shims left behind');
    await assertNoLeaks(atStart, BERTH_ROOT);
    rmSync(BERTH_ROOT, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    removeClientCgroups(NS);
  });

  it('ctr run --rm runs a container and passes its output', async () => {
    const { stdout } = await ctr('run', '--rm', '--runc-binary', CLI, 'localhost/busybox:berth', 'once', 'sh', '-c', 'echo hi from pid $$');
    // The init of a new pid namespace, as the container's process.
    assert.equal(stdout.trim(), 'hi from pid 1');
  });

  it('a detached task pauses, resumes, is killed, reports its exit and is removed', async () => {
    await ctr('run', '-d', '--runc-binary', CLI, 'localhost/busybox:berth', 'svc', 'sh', '-c', 'trap "exit 3" TERM; while :; do sleep 0.1; done');
    const status = async () => (await ctr('task', 'ls')).stdout.split('\n').find((l) => l.startsWith('svc '))?.trim().split(/\s+/)[2];
    assert.equal(await status(), 'RUNNING');
    // berth's own view agrees: the container is in berth's log under the shim's root.
    const state = JSON.parse((await run(process.execPath, [CLI, '--root', BERTH_ROOT, 'state', 'svc'])).stdout) as { status: string; pid: number };
    assert.equal(state.status, 'running');

    await ctr('task', 'pause', 'svc');
    assert.equal(await status(), 'PAUSED');
    await ctr('task', 'resume', 'svc');
    assert.equal(await status(), 'RUNNING');

    await ctr('task', 'kill', '-s', 'TERM', 'svc');
    let s = await status();
    for (let i = 0; i < 100 && s !== 'STOPPED'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      s = await status();
    }
    assert.equal(s, 'STOPPED');
    const history = (await run(process.execPath, [CLI, '--root', BERTH_ROOT, 'history', 'svc'])).stdout;
    for (const t of ['Created', 'Started', 'Paused', 'Resumed', 'Signaled']) assert.match(history, new RegExp(`\\b${t}\\b`));
    await ctr('task', 'rm', 'svc');
    await ctr('containers', 'rm', 'svc');
    assert.equal((await ctr('task', 'ls')).stdout.includes('svc'), false);
  });
});
