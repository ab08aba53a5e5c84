import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Container } from '../../src/index.js';
import type { OciConfig } from '../../src/machines/spec.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { collect } from '../helpers/streams.js';

/**
 * Namespaces joined by path (linux.namespaces[i].path) and time namespace offsets, observed
 * from inside the container.
 */
const f = runtimeFixture();

/** Create, start, wait for `args` in a container; returns its stdout and exit. */
async function runOnce(id: string, args: string[], edit: (c: OciConfig) => void) {
  const b = f.bundle(args, edit);
  const c = await f.rt.create(id, { bundle: b.dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const out = collect(c.stdio.stdout);
  await c.start();
  const exit = await c.wait();
  await c.delete();
  return { out: await out, exit };
}

const nsIndex = (c: OciConfig, type: string) => c.linux!.namespaces!.findIndex((n) => n.type === type);

test('a network namespace made by ip netns add is joined, by the container and by what it execs', async (t) => {
  const before = snapshot();
  const name = `berth-e2e-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  const removeNetns = () => { if (existsSync(`/var/run/netns/${name}`)) execFileSync('ip', ['netns', 'del', name]); };
  t.after(removeNetns);
  const path = `/var/run/netns/${name}`;
  const b = f.bundle(['sh', '-c', 'readlink /proc/self/ns/net; exec sleep 1000'], (c) => {
    c.linux!.namespaces![nsIndex(c, 'network')] = { type: 'network', path };
  });
  const c = await f.rt.create('ns-net', { bundle: b.dir, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => f.rt.delete('ns-net', true).catch(() => undefined));
  const first = firstLine(c);
  await c.start();
  assert.equal(await first, `net:[${statSync(path).ino}]`);
  const e = await c.exec({ args: ['readlink', '/proc/self/ns/net'], cwd: '/', user: { uid: 0, gid: 0 } }, { stdio: ['ignore', 'pipe', 'inherit'] });
  assert.equal((await collect(e.stdio.stdout)).trim(), `net:[${statSync(path).ino}]`, 'exec joins the same namespace');
  await e.wait();
  // the other namespaces are still the container's own, made after the join
  const pid = (await c.state()).pid;
  assert.notEqual(readlinkSync(`/proc/${pid}/ns/uts`), readlinkSync('/proc/self/ns/uts'));
  assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'latin1'), 'sleep\x001000\x00', 'the tracked pid is the container\'s init (the forked child)');
  await c.delete({ force: true });
  removeNetns();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('the pid namespace of another container is joined: its init is pid 1 there', async (t) => {
  const before = snapshot();
  const a = await f.rt.create('ns-pid-a', { bundle: f.bundle(['sleep', '1001']).dir, stdio: 'ignore' });
  t.after(() => f.rt.delete('ns-pid-a', true).catch(() => undefined));
  await a.start();
  const aPid = (await a.state()).pid;
  const r = await runOnce('ns-pid-b', ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; echo pid=$$; ls /proc | grep -c "^[0-9]"'], (c) => {
    c.linux!.namespaces![nsIndex(c, 'pid')] = { type: 'pid', path: `/proc/${aPid}/ns/pid` };
  });
  assert.deepEqual(r.exit, { code: 0, signal: null });
  const [cmdline, pidLine, count] = r.out.split('\n');
  assert.equal(cmdline, 'sleep 1001 ', 'pid 1 is the other container\'s init');
  assert.notEqual(pidLine, 'pid=1');
  assert.ok(Number(count) >= 2, 'it sees the other container\'s processes');
  await a.delete({ force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('time offsets: /proc/self/timens_offsets shows them and /proc/uptime is shifted by the boottime offset', async () => {
  const before = snapshot();
  const week = 7 * 86400;
  const hostUptime = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const start = hostUptime();
  const r = await runOnce('ns-time', ['sh', '-c', 'cat /proc/self/timens_offsets; cat /proc/uptime'], (c) => {
    c.linux!.namespaces!.push({ type: 'time' });
    c.linux!.timeOffsets = { monotonic: { secs: 3 * 86400 }, boottime: { secs: week, nanosecs: 500 } };
  });
  const end = hostUptime();
  assert.deepEqual(r.exit, { code: 0, signal: null });
  assert.match(r.out, /^monotonic\s+259200\s+0$/m);
  assert.match(r.out, /^boottime\s+604800\s+500$/m);
  const uptime = Number(/^(\d+\.\d+) /m.exec(r.out)?.[1]);
  assert.ok(uptime >= start + week && uptime <= end + week, `uptime ${uptime} is the host's (${start}..${end}) plus a week`);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a user namespace is joined first; the container\'s other namespaces are made inside it', async (t) => {
  const before = snapshot();
  // A user namespace with a map of our choosing (setgroups allowed: written as root from outside).
  const holder = spawn('unshare', ['--user', 'sleep', '1000'], { stdio: 'ignore' });
  t.after(() => { holder.kill('SIGKILL'); });
  await new Promise((r) => holder.once('spawn', r));
  const ns = `/proc/${holder.pid}/ns/user`;
  for (let i = 0; i < 100 && readlinkSync(ns) === readlinkSync('/proc/self/ns/user'); i++) await new Promise((r) => setTimeout(r, 10));
  writeFileSync(`/proc/${holder.pid}/uid_map`, '0 0 65536\n');
  writeFileSync(`/proc/${holder.pid}/gid_map`, '0 0 65536\n');
  const userNs = readlinkSync(ns);
  const r = await runOnce('ns-user', ['sh', '-c', 'readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u'], (c) => {
    c.linux!.namespaces!.push({ type: 'user', path: ns });
  });
  assert.deepEqual(r.exit, { code: 0, signal: null });
  const [nsLine, map, uid] = r.out.split('\n');
  assert.equal(nsLine, userNs);
  assert.match(map ?? '', /^\s*0\s+0\s+65536$/);
  assert.equal(uid, '0');
  holder.kill('SIGKILL');
  await new Promise((res) => holder.once('exit', res));
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a namespace path that is missing or of another type is INVALID_CONFIG naming it; nothing is left', async () => {
  const before = snapshot();
  const bad = async (id: string, path: string, message: RegExp) => {
    const b = f.bundle(['true'], (c) => {
      c.linux!.namespaces![nsIndex(c, 'network')] = { type: 'network', path };
    });
    await assert.rejects(f.rt.create(id, { bundle: b.dir, stdio: 'ignore' }), { code: 'INVALID_CONFIG', field: 'linux.namespaces[1].path', message });
    await assert.rejects(f.rt.state(id), { code: 'NOT_EXISTS' });
    assert.equal(existsSync(`/sys/fs/cgroup/memory/berth`) && existsSync(`/sys/fs/cgroup/memory/berth/${id}`), false);
  };
  await bad('ns-missing', '/var/run/netns/berth-none', /\/var\/run\/netns\/berth-none: ENOENT/);
  await bad('ns-wrong', '/proc/self/ns/uts', /\/proc\/self\/ns\/uts is not a network namespace \(it is a uts namespace\)/);
  await bad('ns-file', '/etc/hostname', /\/etc\/hostname is not a network namespace$/);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

/** The first line the container prints on stdout (its stream stays open). */
function firstLine(c: Container): Promise<string> {
  return new Promise((resolve) => {
    let seen = '';
    c.stdio.stdout?.setEncoding('utf8');
    c.stdio.stdout?.on('data', (d: string) => {
      seen += d;
      const nl = seen.indexOf('\n');
      if (nl >= 0) resolve(seen.slice(0, nl));
    });
  });
}
