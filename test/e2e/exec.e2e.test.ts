import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openRuntime, type Container } from '../../src/index.js';
import { linuxSyscalls } from '../../src/effects/linux.js';
import { berth } from '../helpers/cli.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, containerProcesses, reapOrphans, snapshot } from '../helpers/leaks.js';
import { collect } from '../helpers/streams.js';

/**
 * berth exec, observed from inside the container: the exec'd process is in the container's
 * namespaces and cgroup, with its own user, capabilities and no_new_privs; its exit status
 * passes through; its start and exit are facts in the log.
 */
const f = runtimeFixture();

/** A started busybox container whose init sleeps; removed after the test whatever happens. */
async function running(t: { after(fn: () => Promise<unknown>): void }, id: string, args = ['sleep', '1000']): Promise<Container> {
  const b = f.bundle(args);
  const c = await f.rt.create(id, { bundle: b.dir, stdio: 'ignore' });
  t.after(() => f.rt.delete(id, true).catch(() => undefined));
  await c.start();
  return c;
}

const proc = (args: string[], extra: Record<string, unknown> = {}) => ({ args, cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], ...extra });

/** Run a process in `c` and return what it printed and its exit. */
async function execOut(c: Container, process: unknown) {
  const e = await c.exec(process, { stdio: ['ignore', 'pipe', 'pipe'] });
  const [out, err, exit] = await Promise.all([collect(e.stdio.stdout), collect(e.stdio.stderr), e.wait()]);
  return { out, err, exit, e };
}

test('exec joins the container: its pid namespace, hostname, mount namespace and cgroup', async (t) => {
  const before = snapshot();
  const c = await running(t, 'ex-join');
  const initPid = (await c.state()).pid;
  const args = ['sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; echo pid=$$; ls /; echo ---; cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup'];
  const r = await execOut(c, proc(args));
  assert.deepEqual(r.exit, { code: 0, signal: null }, r.err);
  const [head = '', self = '', init = ''] = r.out.split('---\n');
  assert.match(head, /^berth-test\n/, 'the container\'s hostname');
  assert.match(head, /^sleep 1000 $/m, 'pid 1 is the container\'s init');
  assert.doesNotMatch(head, /^pid=1$/m, 'the exec\'d process is not pid 1');
  assert.match(head, /^bin$/m, 'the container\'s root');
  assert.equal(self, init, 'the same cgroups as the init, in every hierarchy');
  assert.ok(self.split('\n').filter(Boolean).length > 1);
  // from the host: the exec'd process (already gone) ran in the init's namespaces
  assert.equal(readlinkSync(`/proc/${initPid}/ns/pid`) !== readlinkSync('/proc/self/ns/pid'), true);
  const h = await c.history();
  const execEvents = h.filter((e) => e.type.startsWith('Exec'));
  assert.deepEqual(execEvents.map((e) => e.type), ['ExecRequested', 'ExecStarted', 'ExecExited']);
  assert.equal(execEvents[1]?.data.pid, r.e.pid);
  assert.deepEqual(execEvents[1]?.data.args, args);
  assert.deepEqual(execEvents[2]?.data, { execId: r.e.execId, code: 0, signal: null });
  assert.deepEqual((await c.state()).execs, []);
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('exec applies the process\'s own user, groups, capabilities (nothing inheritable), no_new_privs, cwd and env', async (t) => {
  const before = snapshot();
  const c = await running(t, 'ex-creds');
  const r = await execOut(c, proc(['sh', '-c', 'id; pwd; echo "X=$X"; grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status'], {
    user: { uid: 65534, gid: 65534, additionalGids: [5, 7] },
    cwd: '/tmp',
    env: ['PATH=/bin', 'X=42'],
    noNewPrivileges: true,
    capabilities: { bounding: ['CAP_KILL', 'CAP_CHOWN'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
  }));
  assert.deepEqual(r.exit, { code: 0, signal: null }, r.err);
  assert.match(r.out, /^uid=65534\(nobody\) gid=65534\(nogroup\) groups=5,7$/m);
  assert.match(r.out, /^\/tmp$/m);
  assert.match(r.out, /^X=42$/m);
  assert.match(r.out, /^CapInh:\t0000000000000000$/m, 'no inheritable capability unless asked (CVE-2022-29162)');
  assert.match(r.out, /^CapPrm:\t0000000000000000$/m, 'a non-root user keeps no permitted capability (no ambient set)');
  assert.match(r.out, /^CapBnd:\t0000000000000021$/m, 'bounding set: CAP_CHOWN and CAP_KILL');
  assert.match(r.out, /^NoNewPrivs:\t1$/m);
  // root, no capabilities given: the container's own process's capabilities (as runc)
  const root = await execOut(c, proc(['sh', '-c', 'grep -E "^(CapEff|CapInh|NoNewPrivs)" /proc/self/status']));
  assert.match(root.out, /^CapEff:\t0000000020000420$/m, 'CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE from the container\'s spec');
  assert.match(root.out, /^CapInh:\t0000000000000000$/m);
  assert.match(root.out, /^NoNewPrivs:\t0$/m, 'no_new_privs is the process\'s own');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('exit statuses pass through: a code, a signal', async (t) => {
  const before = snapshot();
  const c = await running(t, 'ex-status');
  assert.deepEqual((await execOut(c, proc(['sh', '-c', 'exit 7']))).exit, { code: 7, signal: null });
  assert.deepEqual((await execOut(c, proc(['sh', '-c', 'kill -9 $$']))).exit, { code: null, signal: 9 });
  const e = await c.exec(proc(['sleep', '1000']), { stdio: 'ignore' });
  assert.deepEqual((await c.state()).execs, [{ execId: e.execId, pid: e.pid, args: ['sleep', '1000'] }], 'state shows the running exec');
  e.kill('TERM');
  assert.deepEqual(await e.wait(), { code: null, signal: 15 });
  assert.deepEqual((await c.state()).execs, []);
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('exec is refused unless the container runs (created, paused, stopped): nothing runs, nothing is logged', async (t) => {
  const before = snapshot();
  const b = f.bundle(['sleep', '1000']);
  const c = await f.rt.create('ex-refused', { bundle: b.dir, stdio: 'ignore' });
  t.after(() => f.rt.delete('ex-refused', true).catch(() => undefined));
  const processesBefore = containerProcesses(before.pids).length;
  await assert.rejects(c.exec(proc(['id'])), { code: 'ILLEGAL_STATE', message: 'exec ex-refused: cannot exec in a container that has not been started' });
  await c.start();
  await c.pause();
  await assert.rejects(c.exec(proc(['id'])), { code: 'ILLEGAL_STATE', message: 'exec ex-refused: cannot exec in a paused container' });
  await c.resume();
  await c.kill('KILL');
  await c.wait();
  await assert.rejects(c.exec(proc(['id'])), { code: 'ILLEGAL_STATE', message: 'exec ex-refused: cannot exec in a stopped container' });
  assert.equal(containerProcesses(before.pids).length, processesBefore - 1, 'no exec\'d process, and the init is gone');
  assert.deepEqual((await c.history()).filter((e) => e.type.startsWith('Exec')), [], 'refused by the machine before any intent');
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a process with wrong types is INVALID_CONFIG naming the field; a missing command or cwd is logged as ExecFailed', async (t) => {
  const before = snapshot();
  const c = await running(t, 'ex-bad');
  await assert.rejects(c.exec({ args: ['id'], cwd: '/', user: { uid: '0', gid: 0 } }), { code: 'INVALID_CONFIG', field: 'process.user.uid' });
  await assert.rejects(c.exec({ args: 'id', cwd: '/', user: { uid: 0, gid: 0 } }), { code: 'INVALID_CONFIG', field: 'process.args' });
  await assert.rejects(c.exec(proc(['id'], { terminal: 'yes' })), { code: 'INVALID_CONFIG', field: 'process.terminal' });
  await assert.rejects(c.exec(proc(['id']), { execId: '../x' }), { code: 'INVALID_ID' });
  await assert.rejects(c.exec(proc(['nosuch'])), { code: 'INVALID_CONFIG', field: 'process.args', message: /^exec ex-bad: exec resolve nosuch: executable file not found in \$PATH$/ });
  await assert.rejects(c.exec(proc(['id'], { cwd: '/nope' })), { code: 'INVALID_CONFIG', field: 'process.cwd' });
  const h = (await c.history()).filter((e) => e.type.startsWith('Exec'));
  assert.deepEqual(h.map((e) => e.type), ['ExecRequested', 'ExecFailed', 'ExecRequested', 'ExecFailed']);
  assert.equal((await c.state()).status, 'running');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('when the init exits, an exec\'d process in its pid namespace dies with it, and its exit is logged', async (t) => {
  const before = snapshot();
  const c = await running(t, 'ex-init-exit');
  const e = await c.exec(proc(['sleep', '1000']), { stdio: 'ignore' });
  await c.kill('KILL');
  assert.deepEqual(await e.wait(), { code: null, signal: 9 });
  assert.deepEqual(await c.wait(), { code: null, signal: 9 });
  const h = await c.history();
  const types = h.map((x) => x.type);
  assert.ok(types.includes('ExecExited') && types.includes('Exited'), types.join(' '));
  assert.deepEqual(h.find((x) => x.type === 'ExecExited')?.data, { execId: e.execId, code: null, signal: 9 });
  await c.delete();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
// Found by the lifecycle fuzz: the reopened runtime took the exec for another process's and
// never reaped it; the init, waiting in its pid namespace's teardown, never exited, and the
// delete hung.
test('a runtime reopened in the same process reaps the exec\'d processes the closed one started', async (t) => {
  const before = snapshot();
  const c = await running(t, 'ex-reopened');
  const e = await c.exec(proc(['sleep', '1000']), { stdio: 'ignore' });
  await f.rt.close();
  f.rt = await openRuntime({ root: f.root });
  const reopened = { ...before, fds: snapshot().fds };
  await f.rt.delete('ex-reopened', true);
  const h = await f.rt.history('ex-reopened');
  assert.deepEqual(h.find((x) => x.type === 'ExecExited')?.data, { execId: e.execId, code: null, signal: 9 }, 'reaped here: the exact status');
  await assertNoLeaks(reopened, f.root, { openRuntime: true });
});


test('cli: berth exec passes the status through; flags build the process from the container\'s', async (t) => {
  const before = snapshot();
  await running(t, 'ex-cli');
  const r = await berth(f.root, ['exec', '--user', '65534:65534', '--additional-gids', '5', '-g', '7', '--env', 'A=1', '-e', 'B=2', '--cwd', '/tmp', '--no-new-privs', 'ex-cli',
    'sh', '-c', 'id; pwd; echo $A$B; grep -E "^(CapBnd|NoNewPrivs)" /proc/self/status; exit 5']);
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stdout, /^uid=65534\(nobody\) gid=65534\(nogroup\) groups=5,7$/m);
  assert.match(r.stdout, /^\/tmp\n12$/m);
  assert.match(r.stdout, /^CapBnd:\t0000000020000420$/m, 'the container\'s capabilities');
  assert.match(r.stdout, /^NoNewPrivs:\t1$/m);
  const capped = await berth(f.root, ['exec', '--cap', 'CAP_NET_ADMIN', 'ex-cli', 'grep', '^CapEff', '/proc/self/status']);
  assert.equal(capped.status, 0, capped.stderr);
  assert.match(capped.stdout, /^CapEff:\t0000000020001420$/m, '--cap adds CAP_NET_ADMIN');
  const killed = await berth(f.root, ['exec', 'ex-cli', 'sh', '-c', 'kill -9 $$']);
  assert.equal(killed.status, 137, '128 + SIGKILL');
  await f.rt.delete('ex-cli', true);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: exec --detach --pid-file returns at once; the exit of the detached process is logged once it is gone', async (t) => {
  const before = snapshot();
  const c = await running(t, 'ex-detach');
  const pidFile = join(f.root, 'exec.pid');
  const r = await berth(f.root, ['exec', '--detach', '--pid-file', pidFile, 'ex-detach', 'sleep', '1000']);
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.equal(readlinkSync(`/proc/${pid}/ns/pid`), readlinkSync(`/proc/${(await c.state()).pid}/ns/pid`), 'in the container\'s pid namespace');
  assert.deepEqual((await c.state()).execs.map((e) => e.pid), [pid]);
  process.kill(pid, 'SIGKILL');
  // the detached process was reparented to this process (the shim): reap it, as a shim does
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) {
    reapOrphans(before.pids);
    await new Promise((res) => setTimeout(res, 20));
  }
  // this library process watches it too (not its parent): it logs the exit once the process is gone
  let st = JSON.parse((await berth(f.root, ['replay', 'ex-detach'])).stdout);
  for (let i = 0; i < 50 && st.execs.length > 0; i++) {
    await new Promise((res) => setTimeout(res, 50));
    st = JSON.parse((await berth(f.root, ['replay', 'ex-detach'])).stdout);
  }
  assert.deepEqual(st.execs, [], 'its exit is in the log');
  const exited = (await c.history()).filter((e) => e.type === 'ExecExited');
  assert.deepEqual(exited.map((e) => [e.data.code, e.data.signal]), [[null, null]], 'not its parent: status unknown');
  await c.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: exec --detach of a process that ends at once leaves its exit status to the subreaper (podman\'s conmon reads it there)', async (t) => {
  const before = snapshot();
  await running(t, 'ex-quick');
  const sys = linuxSyscalls();
  for (let i = 0; i < 5; i++) {
    const pidFile = join(f.root, `quick-${i}.pid`);
    const r = await berth(f.root, ['exec', '--detach', '--pid-file', pidFile, 'ex-quick', 'sh', '-c', 'exit 7']);
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // berth has exited: the process (a zombie by now, or about to be) is this process's, the
    // shim's. Had berth reaped it, it would be gone and its status with it.
    const pidfd = sys.pidfdOpen(pid);
    try {
      let st = sys.waitid(pidfd);
      for (let j = 0; j < 200 && st === null; j++) {
        await new Promise((res) => setTimeout(res, 10));
        st = sys.waitid(pidfd);
      }
      assert.deepEqual(st && [st.code, st.signal], [7, null], `run ${i}: the shim reaps the exec'd process with its status`);
    } finally {
      sys.close(pidfd);
    }
  }
  await f.rt.delete('ex-quick', true);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('cli: bad input: a process.json with wrong types names the field, a stopped container', async (t) => {
  const before = snapshot();
  await running(t, 'ex-cli-bad');
  const file = join(f.root, 'process.json');
  writeFileSync(file, JSON.stringify({ args: ['id'], cwd: '/', user: { uid: 0, gid: 0 }, env: 'PATH=/bin' }));
  const bad = await berth(f.root, ['exec', '--process', file, 'ex-cli-bad']);
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, /process\.env must be an array \[INVALID_CONFIG\]/);
  writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'echo from-json; exit 4'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }));
  const good = await berth(f.root, ['exec', '-p', file, 'ex-cli-bad']);
  assert.equal(good.status, 4, good.stderr);
  assert.equal(good.stdout, 'from-json\n');
  const none = await berth(f.root, ['exec', 'ex-cli-bad']);
  assert.equal(none.status, 2);
  await f.rt.kill('ex-cli-bad', 9);
  await (await f.rt.get('ex-cli-bad')).wait();
  const stopped = await berth(f.root, ['exec', 'ex-cli-bad', 'id']);
  assert.equal(stopped.status, 6);
  assert.match(stopped.stderr, /cannot exec in a stopped container \[ILLEGAL_STATE\]/);
  await f.rt.delete('ex-cli-bad');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
