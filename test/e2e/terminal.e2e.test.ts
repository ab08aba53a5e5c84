/**
 * process.terminal end to end: the pty is made inside the container from its own devpts, is
 * the process's stdio and controlling terminal, and its master reaches the caller — kept by the
 * library (`container.console`), sent to a `--console-socket` (as containerd and podman receive
 * it from runc), or relayed by a foreground `berth run`. Every test proves it left nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, fstatSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { linuxSyscalls } from '../../src/effects/linux.js';
import type { OciConfig } from '../../src/machines/spec.js';
import { berth, CLI } from '../helpers/cli.js';
import { listenConsoleSocket, type ConsoleSocket } from '../helpers/consoleSocket.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, reapOrphans, snapshot } from '../helpers/leaks.js';
import { readConsole, readPty } from '../helpers/pty.js';

const f = runtimeFixture();
const sys = linuxSyscalls();

const terminal = (size?: { height: number; width: number }) => (c: OciConfig) => {
  c.process.terminal = true;
  if (size) c.process.consoleSize = size;
};

/** "key=value" lines of a terminal's output. */
function fields(out: string): Record<string, string> {
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** What the container reports about its terminal (all busybox applets). */
const PROBE = [
  'echo "tty=$(tty)"',
  'test -t 0 && test -t 1 && test -t 2 && echo stdio=tty',
  'echo "size=$(stty size)"',
  'echo "pty=$(stat -c %d:%i $(tty))"',
  'echo "console=$(stat -L -c %d:%i /dev/console)"',
  'echo "devpts=$(stat -c %d /dev/pts)"',
  'echo "ctty=$( (echo ok > /dev/tty) 2>&1 && echo yes)"',
].join('; ');

async function withSocket<T>(fn: (s: ConsoleSocket) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-console-'));
  const s = await listenConsoleSocket(sys, dir);
  try {
    return await fn(s);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('library: a terminal container gets a pty of its own devpts as stdio and controlling terminal, sized by consoleSize', async () => {
  const before = snapshot();
  const b = f.bundle(['sh', '-c', `${PROBE}; exit 4`], terminal({ height: 30, width: 91 }));
  const c = await f.rt.create('tty-lib', { bundle: b.dir });
  assert.ok(c.console, 'the library keeps the master');
  let out = '';
  c.console.setEncoding('utf8');
  c.console.on('data', (d: string) => { out += d; });
  const ended = new Promise((resolve) => c.console!.once('end', resolve));
  await c.start();
  assert.deepEqual(await c.wait(), { code: 4, signal: null });
  await ended;
  const v = fields(out.replace(/\r\n/g, '\n'));
  assert.match(v.tty ?? '', /^\/dev\/pts\/\d+$/);
  assert.equal(v.stdio, 'tty', 'stdin, stdout and stderr are the terminal (test -t)');
  assert.equal(v.size, '30 91', 'stty size shows process.consoleSize');
  assert.equal(v.ctty, 'yes', '/dev/tty opens: it is the controlling terminal');
  assert.equal(v.console, v.pty, '/dev/console is the pty (runtime-spec default devices)');
  assert.equal(v.pty?.split(':')[0], v.devpts, 'the pty is on the container\'s /dev/pts');
  assert.notEqual(v.devpts, String(statSync('/dev/pts').dev), 'a devpts instance of its own, not the host\'s');
  await c.delete();
  assert.equal(c.console, null, 'delete closes the master');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library: a command written to the master runs; its output and the window size read back', async () => {
  const before = snapshot();
  const b = f.bundle(['sh'], terminal());
  const c = await f.rt.create('tty-io', { bundle: b.dir });
  const con = c.console!;
  let out = '';
  con.setEncoding('utf8');
  con.on('data', (d: string) => { out += d; });
  const ended = new Promise((resolve) => con.once('end', resolve));
  await c.start();
  c.resizeConsole(50, 132);
  con.write('echo "answer=$((6 * 7))"; echo "size=$(stty size)"; exit 5\n');
  assert.deepEqual(await c.wait(), { code: 5, signal: null });
  await ended;
  const v = fields(out.replace(/\r\n/g, '\n'));
  assert.equal(v.answer, '42');
  assert.equal(v.size, '50 132');
  await c.delete();
  assert.throws(() => c.resizeConsole(1, 1), { code: 'INVALID_ARGUMENT' });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library: with consoleSocket the master goes to the socket (data "/dev/ptmx"), is the container\'s devpts, and no copy stays here', async () => {
  const before = snapshot();
  await withSocket(async (sock) => {
    const b = f.bundle(['sh', '-c', PROBE], terminal());
    const c = await f.rt.create('tty-sock', { bundle: b.dir, consoleSocket: sock.path });
    assert.equal(c.console, null);
    const got = await sock.received;
    assert.equal(got.name, '/dev/ptmx', 'runc\'s message data');
    const masterDev = fstatSync(got.fd).dev;
    const pty = readPty(got.fd);
    await c.start();
    await c.wait();
    const v = fields(await pty.output);
    assert.equal(v.stdio, 'tty');
    assert.equal(String(masterDev), v.devpts, 'the master received is the ptmx of the container\'s devpts');
    await c.delete();
  });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: create --console-socket sends the master; start runs the process on it', async (t) => {
  t.after(() => berth(f.root, ['delete', '--force', 'tty-cli']));
  const before = snapshot();
  await withSocket(async (sock) => {
    const b = f.bundle(['sh', '-c', 'echo "tty=$(tty)"; read line; echo "got=$line"'], terminal());
    const created = await berth(f.root, ['create', '--bundle', b.dir, '--console-socket', sock.path, 'tty-cli']);
    assert.equal(created.status, 0, created.stderr);
    const got = await sock.received;
    const pty = readPty(got.fd);
    const started = await berth(f.root, ['start', 'tty-cli']);
    assert.equal(started.status, 0, started.stderr);
    pty.stream.write('hello\n');
    const v = fields(await pty.output);
    assert.match(v.tty ?? '', /^\/dev\/pts\/\d+$/);
    assert.equal(v.got, 'hello', 'input written to the master reached the process');
    const deleted = await berth(f.root, ['delete', '--force', 'tty-cli']);
    assert.equal(deleted.status, 0, deleted.stderr);
  });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/** `berth <args>` in the foreground with stdin a pipe we write to and stdout a pipe we read. */
function foreground(args: string[], input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--root', f.root, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

test('cli: a foreground run relays its stdio to the terminal and exits with the container\'s status', async () => {
  const before = snapshot();
  const b = f.bundle(['sh'], terminal({ height: 12, width: 34 }));
  const r = await foreground(['run', '--bundle', b.dir, 'tty-run'], 'echo "tty=$(tty)"; echo "size=$(stty size)"; exit 6\n');
  assert.equal(r.status, 6, r.stderr);
  const v = fields(r.stdout.replace(/\r\n/g, '\n'));
  assert.match(v.tty ?? '', /^\/dev\/pts\/\d+$/, r.stdout);
  assert.equal(v.size, '12 34', 'not a terminal here: consoleSize stands');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: bad terminal input is refused with runc\'s wording and leaves nothing', async () => {
  const before = snapshot();
  const tty = f.bundle(['true'], terminal());
  const plain = f.bundle(['true']);
  const detachedTty = /cannot allocate tty if berth will detach without setting console socket \[INVALID_ARGUMENT\]/;
  const unusedSocket = /cannot use console socket if berth will not detach or allocate tty \[INVALID_ARGUMENT\]/;
  const cases: [string[], RegExp][] = [
    [['create', '--bundle', tty.dir, 'tty-bad1'], detachedTty],
    [['run', '--detach', '--bundle', tty.dir, 'tty-bad2'], detachedTty],
    [['run', '--bundle', tty.dir, '--console-socket', join(f.root, 'x.sock'), 'tty-bad3'], unusedSocket],
    [['create', '--bundle', plain.dir, '--console-socket', join(f.root, 'x.sock'), 'tty-bad4'], unusedSocket],
    [['create', '--bundle', tty.dir, '--console-socket', '/nonexistent/x.sock', 'tty-bad5'], /--console-socket \/nonexistent\/x\.sock: ENOENT \[INVALID_ARGUMENT\]/],
  ];
  for (const [args, stderr] of cases) {
    const r = await berth(f.root, args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr);
    const id = args.at(-1)!;
    assert.equal((await berth(f.root, ['state', id])).status, 4, `${id} does not exist`);
  }
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

// --- exec with a terminal (runc exec --tty) ---------------------------------------------------

/** What an exec'd process reports about its terminal; a container without a terminal has no /dev/console pty. */
const EXEC_PROBE = PROBE.split('; ').filter((l) => !l.includes('/dev/console')).join('; ');

/** A started busybox container without a terminal whose init sleeps; removed after the test. */
async function sleeping(t: { after(fn: () => Promise<unknown>): void }, id: string) {
  const c = await f.rt.create(id, { bundle: f.bundle(['sleep', '1000']).dir, stdio: 'ignore' });
  t.after(() => f.rt.delete(id, true).catch(() => undefined));
  await c.start();
  return c;
}

const ttyProc = (args: string[], extra: Record<string, unknown> = {}) => ({ args, cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], terminal: true, ...extra });

test('library exec with terminal: a pty of the container\'s devpts, stdio and controlling terminal, consoleSize, exit status', async (t) => {
  const before = snapshot();
  const c = await sleeping(t, 'tty-exec-lib');
  const e = await c.exec(ttyProc(['sh', '-c', `${EXEC_PROBE}; exit 3`], { consoleSize: { height: 25, width: 77 } }));
  assert.ok(e.console, 'the library keeps the exec\'s master');
  const pty = readConsole(e.console);
  assert.deepEqual(await e.wait(), { code: 3, signal: null });
  const v = fields(await pty.output);
  assert.match(v.tty ?? '', /^\/dev\/pts\/\d+$/);
  assert.equal(v.stdio, 'tty', 'stdin, stdout and stderr are the terminal (test -t)');
  assert.equal(v.size, '25 77', 'stty size shows the exec process\'s consoleSize');
  assert.equal(v.ctty, 'yes', '/dev/tty opens: it is the controlling terminal');
  assert.equal(v.pty?.split(':')[0], v.devpts, 'the pty is on the container\'s /dev/pts');
  assert.notEqual(v.devpts, String(statSync('/dev/pts').dev), 'not the host\'s devpts');
  await c.delete({ force: true });
  assert.equal(e.console, null, 'delete closes the exec\'s master');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('library exec with terminal: input written to the master runs; resizeConsole applies', async (t) => {
  const before = snapshot();
  const c = await sleeping(t, 'tty-exec-io');
  const e = await c.exec(ttyProc(['sh']));
  const con = e.console!;
  let out = '';
  con.setEncoding('utf8');
  con.on('data', (d: string) => { out += d; });
  const ended = new Promise((resolve) => con.once('end', resolve));
  e.resizeConsole(40, 100);
  con.write('echo "answer=$((6 * 7))"; echo "size=$(stty size)"; exit 9\n');
  assert.deepEqual(await e.wait(), { code: 9, signal: null });
  await ended;
  const v = fields(out.replace(/\r\n/g, '\n'));
  assert.equal(v.answer, '42');
  assert.equal(v.size, '40 100');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: exec --detach --tty --console-socket sends the master ("/dev/ptmx") of the container\'s devpts', async (t) => {
  const before = snapshot();
  const c = await sleeping(t, 'tty-exec-sock');
  await withSocket(async (sock) => {
    const pidFile = join(f.root, 'exec.pid');
    const r = await berth(f.root, ['exec', '--detach', '--tty', '--console-socket', sock.path, '--pid-file', pidFile, 'tty-exec-sock',
      'sh', '-c', `${EXEC_PROBE}; echo "fd0=$(ls -l /proc/self/fd/0 | sed 's/.*-> //')"; read line; echo "got=$line"`]);
    assert.equal(r.status, 0, r.stderr);
    const got = await sock.received;
    assert.equal(got.name, '/dev/ptmx', 'runc\'s message data');
    const masterDev = fstatSync(got.fd).dev;
    const pty = readPty(got.fd);
    pty.stream.write('hello\n');
    const v = fields(await pty.output);
    assert.equal(v.stdio, 'tty');
    assert.equal(v.fd0, v.tty, 'fd 0 is the pty');
    assert.equal(v.got, 'hello', 'input written to the master reached the process');
    assert.equal(String(masterDev), v.devpts, 'the master received is the ptmx of the container\'s devpts');
    // the detached process was reparented to this process (the shim): reap it, as a shim does
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) {
      reapOrphans(before.pids);
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(existsSync(`/proc/${pid}`), false, 'the exec\'d process ended with its input');
  });
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: a foreground exec --tty relays the terminal and exits with the process\'s status', async (t) => {
  const before = snapshot();
  const c = await sleeping(t, 'tty-exec-fg');
  const r = await foreground(['exec', '--tty', 'tty-exec-fg', 'sh'], 'echo "tty=$(tty)"; test -t 0 && echo stdio=tty; exit 6\n');
  assert.equal(r.status, 6, r.stderr);
  const v = fields(r.stdout.replace(/\r\n/g, '\n'));
  assert.match(v.tty ?? '', /^\/dev\/pts\/\d+$/, r.stdout);
  assert.equal(v.stdio, 'tty');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: bad exec terminal input is refused with runc\'s wording, starts nothing and leaves nothing', async (t) => {
  const before = snapshot();
  const c = await sleeping(t, 'tty-exec-bad');
  const pids = await c.ps();
  const detachedTty = /cannot allocate tty if berth will detach without setting console socket \[INVALID_ARGUMENT\]/;
  const unusedSocket = /cannot use console socket if berth will not detach or allocate tty \[INVALID_ARGUMENT\]/;
  const sock = join(f.root, 'x.sock');
  const cases: [string[], RegExp][] = [
    [['exec', '--detach', '--tty', 'tty-exec-bad', 'true'], detachedTty],
    [['exec', '--tty', '--console-socket', sock, 'tty-exec-bad', 'true'], unusedSocket],
    [['exec', '--detach', '--console-socket', sock, 'tty-exec-bad', 'true'], unusedSocket],
    [['exec', '--detach', '--tty', '--console-socket', '/nonexistent/x.sock', 'tty-exec-bad', 'true'], /--console-socket \/nonexistent\/x\.sock: ENOENT \[INVALID_ARGUMENT\]/],
  ];
  for (const [args, stderr] of cases) {
    const r = await berth(f.root, args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr);
  }
  await assert.rejects(c.exec(ttyProc(['true']), { detached: true }), { code: 'INVALID_ARGUMENT', field: 'process.terminal' });
  await assert.rejects(c.exec(ttyProc(['true']), { consoleSocket: '' }), { code: 'INVALID_ARGUMENT', field: 'consoleSocket' });
  assert.deepEqual(await c.ps(), pids, 'no process was started in the container');
  assert.deepEqual((await c.state()).execs, []);
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
