import assert from 'node:assert/strict';
import { closeSync, constants as fsc, existsSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';
import { openRuntime } from '../../src/index.js';
import { berth } from '../helpers/cli.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * Failures the fuzz suites (test/fuzz/) found against real containers, kept as plain tests.
 * Each names the suite that found it; the fix is described in docs/testing.md.
 */
const f = runtimeFixture();

function pidfds(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[pidfd]' ? [fd] : [];
    } catch {
      return [];
    }
  });
}

test('input fuzz: kill with a signal that is not an integer 1..64 is refused before anything is logged', async (t) => {
  t.after(() => f.rt.delete('rg-sig', true).catch(() => undefined));
  const before = snapshot();
  const b = f.bundle(['true']);
  await f.rt.create('rg-sig', { bundle: b.dir, stdio: 'ignore' });
  const version = (await f.rt.state('rg-sig')).version;
  for (const signal of [0, -1, 65, 1.5, NaN, Infinity, null, '9', {}]) {
    await assert.rejects(f.rt.kill('rg-sig', signal as number), { code: 'INVALID_ARGUMENT' }, String(signal));
  }
  const c = await f.rt.get('rg-sig');
  await assert.rejects(c.kill(null as unknown as string), { code: 'INVALID_ARGUMENT' });
  const st = await f.rt.state('rg-sig');
  assert.equal(st.version, version, 'nothing was logged');
  assert.equal(st.status, 'created');
  await f.rt.delete('rg-sig', true);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('lifecycle fuzz: an id deleted and created again by other processes is the new container here, not the old one', async (t) => {
  t.after(() => f.rt.delete('rg-again', true).catch(() => undefined));
  const before = snapshot();
  const b = f.bundle(['sleep', '1000']);
  await f.rt.create('rg-again', { bundle: b.dir, stdio: 'ignore' });
  const first = await f.rt.state('rg-again');
  const fds = pidfds();
  // Another process deletes it and a third creates it again; this runtime still holds the first init.
  assert.equal((await berth(f.root, ['delete', '--force', 'rg-again'])).status, 0);
  const again = await berth(f.root, ['create', '--bundle', b.dir, 'rg-again']);
  assert.equal(again.status, 0, again.stderr);
  const second = await f.rt.state('rg-again');
  assert.equal(second.status, 'created', 'the new incarnation, not the exit of the old one');
  assert.notEqual(second.pid, first.pid);
  await f.rt.delete('rg-again', true);
  assert.ok(pidfds().length <= fds.length, 'the pidfd of the first init was closed');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('input fuzz: linux.resources.devices that is not a list is INVALID_CONFIG naming it, and leaves nothing', async () => {
  const before = snapshot();
  const b = f.bundle(['true'], (c) => { (c.linux!.resources as Record<string, unknown>).devices = 0; });
  await assert.rejects(f.rt.create('rg-devices', { bundle: b.dir, stdio: 'ignore' }), { code: 'INVALID_CONFIG', field: 'linux.resources.devices' });
  await assert.rejects(f.rt.state('rg-devices'), { code: 'NOT_EXISTS' });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('input fuzz: a 256-character id is INVALID_ID before anything is logged; 255 characters work end to end', async () => {
  const before = snapshot();
  const b = f.bundle(['true']);
  await assert.rejects(f.rt.create('x'.repeat(256), { bundle: b.dir, stdio: 'ignore' }), { code: 'INVALID_ID' });
  assert.ok(!(await f.rt.log.streams()).includes('x'.repeat(256)));
  const id = 'y'.repeat(255);
  const c = await f.rt.create(id, { bundle: b.dir, stdio: 'ignore' });
  await c.start();
  await c.wait();
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/** Is `pid` a zombie child of this process (an exit nobody reaped)? */
function ourZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return state === 'Z' && Number(ppid) === process.pid;
  } catch {
    return false;
  }
}

test('lifecycle fuzz: inits this process created and another process killed while its runtime was closed are reaped, with their status', async (t) => {
  t.after(() => f.rt.delete('rg-zombie-1', true).catch(() => undefined));
  t.after(() => f.rt.delete('rg-zombie-2', true).catch(() => undefined));
  const before = snapshot();
  const b = f.bundle(['sleep', '1000']);
  const one = await f.rt.create('rg-zombie-1', { bundle: b.dir, stdio: 'ignore' });
  const two = await f.rt.create('rg-zombie-2', { bundle: b.dir, stdio: 'ignore' });
  const [pid1, pid2] = [(await one.state()).pid, (await two.state()).pid];
  await f.rt.close();
  // Another process kills one and deletes the other; neither can reap them: this process is their parent.
  assert.equal((await berth(f.root, ['kill', 'rg-zombie-1', 'KILL'])).status, 0);
  assert.equal((await berth(f.root, ['delete', '--force', 'rg-zombie-2'])).status, 0);
  f.rt = await openRuntime({ root: f.root, serve: false }); // no socket: the fd check compares with the first runtime's
  const st = await f.rt.state('rg-zombie-1');
  assert.equal(st.status, 'stopped');
  assert.deepEqual(st.exit, { code: null, signal: 9 }, 'the parent knows the status');
  assert.equal(ourZombie(pid1), false, 'reaped');
  await assert.rejects(f.rt.state('rg-zombie-2'), { code: 'NOT_EXISTS' });
  assert.equal(ourZombie(pid2), false, 'reaped although deleted');
  await f.rt.delete('rg-zombie-1');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/**
 * What a runtime killed between an operation's effect and its outcome leaves: the intent in
 * the log, the effect done (by hand here), no outcome; then a runtime opens the root again.
 */
async function interrupted(id: string, intent: Record<string, unknown> & { type: string }, effect: (created: { pid: number; cgroup: string }) => Promise<void> | void): Promise<void> {
  const { type, ...data } = intent;
  const version = await f.rt.log.version(id);
  const created = (await f.rt.log.read(id)).find((e) => e.type === 'Created')!.data as { pid: number; cgroup: string };
  await f.rt.log.append(id, [{ type, data }], { expectedVersion: version, sync: true });
  await f.rt.close();
  await effect(created);
  f.rt = await openRuntime({ root: f.root, serve: false });
}

const freezer = (cgroup: string) => join(readCgroupLayout().v1.freezer!, cgroup, 'freezer.state');

test('crash fuzz: a start interrupted after the init was released is running, not created (a second start would wait for ever)', async (t) => {
  t.after(() => f.rt.delete('rg-start', true).catch(() => undefined));
  const before = snapshot();
  const b = f.bundle(['sleep', '1000']);
  await f.rt.create('rg-start', { bundle: b.dir, stdio: 'ignore' });
  const fifo = join(f.root, 'containers/rg-start/exec.fifo');
  await interrupted('rg-start', { type: 'StartRequested' }, async ({ pid }) => {
    const fd = openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK); // the handshake; the byte is never read
    for (let i = 0; i < 500 && readlinkSync(`/proc/${pid}/exe`).startsWith('/memfd:'); i++) await new Promise((r) => setTimeout(r, 10));
    closeSync(fd);
  });
  assert.equal((await f.rt.state('rg-start')).status, 'running');
  assert.equal(existsSync(fifo), false, 'the leftover fifo is removed');
  await assert.rejects(f.rt.start('rg-start'), { code: 'ILLEGAL_STATE' });
  await f.rt.delete('rg-start', true);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('crash fuzz: a pause of a created container interrupted after the freeze resumes to created', { skip: readCgroupLayout().v1.freezer ? false : 'requires the cgroup v1 freezer' }, async (t) => {
  t.after(() => f.rt.delete('rg-pause', true).catch(() => undefined));
  const before = snapshot();
  const b = f.bundle(['true']);
  await f.rt.create('rg-pause', { bundle: b.dir, stdio: 'ignore' });
  await interrupted('rg-pause', { type: 'PauseRequested' }, async ({ cgroup }) => {
    writeFileSync(freezer(cgroup), 'FROZEN');
    for (let i = 0; i < 200 && readFileSync(freezer(cgroup), 'utf8').trim() !== 'FROZEN'; i++) await new Promise((r) => setTimeout(r, 5));
  });
  assert.equal((await f.rt.state('rg-pause')).status, 'paused');
  await f.rt.resume('rg-pause');
  assert.equal((await f.rt.state('rg-pause')).status, 'created', 'not running: its program never started');
  await f.rt.start('rg-pause');
  const c = await f.rt.get('rg-pause');
  await c.wait();
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('crash fuzz: an update interrupted after writing part of the limits is logged as the cgroup shows it, not re-run', { skip: readCgroupLayout().v1.pids ? false : 'requires the cgroup v1 pids controller' }, async (t) => {
  t.after(() => f.rt.delete('rg-update', true).catch(() => undefined));
  const before = snapshot();
  const b = f.bundle(['sleep', '1000'], (c) => { c.linux!.resources = { ...c.linux!.resources, pids: { limit: 50 } }; });
  await f.rt.create('rg-update', { bundle: b.dir, stdio: 'ignore' });
  await interrupted('rg-update', { type: 'UpdateRequested', resources: { pids: { limit: 20 }, cpu: { shares: 300 } } }, ({ cgroup }) => {
    writeFileSync(join(readCgroupLayout().v1.pids!, cgroup, 'pids.max'), '20'); // only the first write made it
  });
  const st = await f.rt.state('rg-update');
  // Reconciliation reads back what the kernel applied (the pids limit) and writes nothing itself.
  assert.deepEqual([st.resources?.pids, (st.resources?.cpu as { shares?: number } | undefined)?.shares], [{ limit: 20 }, undefined]);
  const { cgroup } = (await f.rt.log.read('rg-update')).find((e) => e.type === 'Created')!.data as { cgroup: string };
  assert.notEqual(readFileSync(join(readCgroupLayout().v1.cpu!, cgroup, 'cpu.shares'), 'utf8').trim(), '300', 'the rest of the update was not re-run');
  assert.deepEqual(await f.rt.replay('rg-update'), st);
  await f.rt.delete('rg-update', true);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
