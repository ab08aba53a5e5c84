import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from '../helpers/cli.js';
import { consecutive, counts, criuSkip, untilCount } from '../helpers/criu.js';
import { assertNoLeaks, snapshot, type HostSnapshot } from '../helpers/leaks.js';
import { removeClientCgroups } from './cgroups.js';
import { clientImages, type ClientImages } from './image.js';

/**
 * podman (Debian's) drives berth as its OCI runtime: `podman --runtime <berth>`. Its storage,
 * run directory and berth's root are this run's own. This machine's bounding set lacks
 * CAP_SYS_RESOURCE, so podman's default ulimits (above the host's hard limits) would fail
 * under runc too: every container gets ulimits the host allows.
 */
const run = promisify(execFile);
const IMAGE = 'localhost/busybox:berth';
const ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768'];

describe('podman drives berth', () => {
  let dir: string;
  let images: ClientImages;
  let atStart: HostSnapshot;
  const berthRoot = () => join(dir, 'berth');
  const podmanArgs = (args: string[]) => [
    '--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--tmpdir', join(dir, 'tmp'),
    '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
    '--runtime', join(dir, 'berth-runtime'), ...args,
  ];
  const podman = (...args: string[]) => run('podman', podmanArgs(args), { timeout: 60_000 });

  const TERMINAL_SCRIPT = (status: number) => `tty; [ -t 0 ] && [ -t 1 ] && echo TTY; printf "ready> "; read x; echo "got:$x"; exit ${status}`;

  /**
   * podman with a terminal on its own stdin, as -it wants: script(1) gives it one, as a user's
   * shell would. Answers the first `ready> ` prompt with `hello`.
   */
  async function onTerminal(t: { after(fn: () => void): void }, args: string[]): Promise<{ status: number | null; lines: string[]; out: string }> {
    const cmd = ['podman', ...podmanArgs(args)];
    const child = spawn('script', ['-qec', cmd.map(shellQuote).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL')); // a no-op once it has exited
    child.stdin.on('error', () => undefined); // podman gone early: the status says why
    let out = '';
    child.stdout.setEncoding('utf8');
    const prompt = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: string) => {
        out += d;
        if (out.includes('ready> ')) resolve();
      });
    });
    const status = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await Promise.race([prompt, status]);
    child.stdin.write('hello\r');
    return { status: await status, lines: out.split(/\r?\n/), out };
  }

  function assertTerminal(lines: string[], out: string): void {
    assert.match(lines[0]!, /^\/dev\/pts\/\d+$/, 'tty names the container\'s pty');
    assert.equal(lines[1], 'TTY', 'stdin and stdout are a terminal');
    assert.ok(lines.includes('got:hello'), `the terminal's input reached the container: ${JSON.stringify(out)}`);
  }
  const history = async (id: string) => (await run(process.execPath, [CLI, '--root', berthRoot(), 'history', id])).stdout;

  before(async () => {
    atStart = snapshot();
    dir = mkdtempSync(join(tmpdir(), 'berth-podman-'));
    // berth on this run's own root. A wrapper, not `--runtime-flag root=`: podman 4.3 leaves
    // runtime flags out of conmon's exit command, whose cleanup (the delete after `run --rm`)
    // would then go to the default root.
    writeFileSync(join(dir, 'berth-runtime'), `#!/bin/sh\nexec ${process.execPath} ${CLI} --root ${berthRoot()} "$@"\n`, { mode: 0o755 });
    images = clientImages();
    await podman('import', images.rootfsTar, IMAGE);
  });

  after(async () => {
    await podman('rm', '--all', '--force').catch(() => undefined);
    await podman('rmi', '--all', '--force').catch(() => undefined);
    // podman keeps its storage mounted until told otherwise.
    await podman('system', 'reset', '--force').catch(() => undefined);
    images.cleanup();
    // conmon's exit command (podman container cleanup) deletes containers in the background,
    // through berth: give those deletes time to land before looking for leftovers.
    for (let i = 0; i < 300; i++) {
      const left = JSON.parse((await run(process.execPath, [CLI, '--root', berthRoot(), 'list', '--format', 'json'])).stdout) as unknown[];
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await assertNoLeaks(atStart, berthRoot());
    rmSync(dir, { recursive: true, force: true });
    removeClientCgroups('libpod_parent');
  });

  it('podman run --rm runs a container and passes its output and exit status', async () => {
    const { stdout } = await podman('run', '--rm', ...ULIMITS, IMAGE, 'sh', '-c', 'echo hi from pid $$');
    assert.equal(stdout.trim(), 'hi from pid 1');
    const failed = await podman('run', '--rm', ...ULIMITS, IMAGE, 'sh', '-c', 'exit 7').then(() => 0, (e: { code: number }) => e.code);
    assert.equal(failed, 7);
  });

  it('run -d, exec, pause/unpause, stop and rm', async () => {
    const id = (await podman('run', '-d', '--name', 'web', ...ULIMITS, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done')).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal((await podman('exec', 'web', 'sh', '-c', 'echo exec in $(cat /proc/1/cmdline | tr "\\0" " ")')).stdout.trim(), 'exec in sh -c trap "exit 0" TERM; while :; do sleep 0.1; done');
    await podman('pause', 'web');
    assert.equal((await podman('inspect', '--format', '{{.State.Status}}', 'web')).stdout.trim(), 'paused');
    await podman('unpause', 'web');
    assert.equal((await podman('inspect', '--format', '{{.State.Status}}', 'web')).stdout.trim(), 'running');
    await podman('stop', '--time', '10', 'web');
    assert.equal((await podman('inspect', '--format', '{{.State.ExitCode}}', 'web')).stdout.trim(), '0');
    await podman('rm', 'web');
    // berth's log has the whole story, including the exec. conmon's exit command (podman
    // container cleanup) deletes the container in the background: wait for it.
    let events = '';
    for (let i = 0; i < 300 && !/\bDeleted\b/.test(events); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      events = await history(id);
    }
    for (const t of ['Created', 'Started', 'ExecStarted', 'Paused', 'Resumed', 'Deleted']) assert.match(events, new RegExp(`\\b${t}\\b`));
  });

  it('--memory sets the container\'s memory limit', async () => {
    const { stdout } = await podman('run', '--rm', ...ULIMITS, '--memory', '64m', IMAGE, 'sh', '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max');
    assert.equal(stdout.trim(), String(64 * 1024 * 1024));
  });

  it('run -it: the container gets a terminal on stdin and stdout; input, output and exit status pass', { timeout: 60_000 }, async (t) => {
    const { status, lines, out } = await onTerminal(t, ['run', '--rm', '-it', ...ULIMITS, IMAGE, 'sh', '-c', TERMINAL_SCRIPT(3)]);
    assert.equal(status, 3, `exit status of the container's shell; output: ${JSON.stringify(out)}`);
    assertTerminal(lines, out);
  });

  it('exec -it: the exec\'d process gets a terminal of the container (berth exec -d -t --console-socket)', { timeout: 60_000 }, async (t) => {
    t.after(() => podman('rm', '--force', 'shell').catch(() => undefined));
    await podman('run', '-d', '--name', 'shell', ...ULIMITS, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done');
    const { status, lines, out } = await onTerminal(t, ['exec', '-it', 'shell', 'sh', '-c', TERMINAL_SCRIPT(4)]);
    assert.equal(status, 4, `exit status of the exec'd shell; output: ${JSON.stringify(out)}`);
    assertTerminal(lines, out);
    await podman('rm', '--force', 'shell');
  });

  it('podman container checkpoint and restore, also --export and --import: the counter goes on from its dumped value', { skip: criuSkip() }, async (t) => {
    // The count goes to a host directory: a restored shell appends the next value, a fresh one would start again at 1.
    const data = join(dir, 'count');
    mkdirSync(data);
    t.after(() => podman('rm', '--force', 'counter').catch(() => undefined));
    const id = (await podman('run', '-d', '--name', 'counter', ...ULIMITS, '-v', `${data}:/data`, IMAGE, 'sh', '-c',
      'i=0; while :; do i=$((i+1)); echo $i >> /data/log; sleep 0.05; done')).stdout.trim();
    await untilCount(data, 3);
    await podman('container', 'checkpoint', 'counter');
    assert.equal((await podman('inspect', '--format', '{{.State.Status}}', 'counter')).stdout.trim(), 'exited');
    const last = counts(data).at(-1)!;
    await podman('container', 'restore', 'counter');
    assert.equal((await podman('inspect', '--format', '{{.State.Status}}', 'counter')).stdout.trim(), 'running');
    const after = await untilCount(data, last + 3);
    assert.ok(consecutive(after), `the count goes on from ${last} without restarting: ${after.join(',')}`);
    for (const e of ['CheckpointRequested', 'Checkpointed', 'RestoreRequested', 'Restored']) assert.match(await history(id), new RegExp(`\\b${e}\\b`));

    // --export, remove the container, --import: the restore gets a fresh copy of the image.
    const archive = join(dir, 'counter.tar.gz');
    await podman('container', 'checkpoint', '--export', archive, 'counter');
    const exported = counts(data).at(-1)!;
    await podman('rm', 'counter');
    await podman('container', 'restore', '--import', archive);
    const imported = await untilCount(data, exported + 3);
    assert.ok(consecutive(imported), `the imported container goes on from ${exported}: ${imported.join(',')}`);
    await podman('rm', '--force', 'counter');
  });
});

/** One argument for sh -c, as typed. */
function shellQuote(a: string): string {
  return `'${a.replace(/'/g, `'\\''`)}'`;
}
