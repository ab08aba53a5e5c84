import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { filter, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { RuntimeError, type ContainerOptions } from '../../src/index.js';
import { defaultCgroupPath } from '../../src/effects/cgroup.js';
import { busyboxRootfs } from '../helpers/bundle.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * The container manager on real containers: the spec it generates, users resolved in the
 * rootfs, the files it provides, systemd mode, shared namespaces, logs, stop and restart, and
 * bad options that leave nothing behind (no process, mount, bundle directory or event).
 */
const f = runtimeFixture();

// A private copy of the busybox rootfs: containers write their mount targets (/etc/hosts…)
// into it, and /etc/group gives nobody a supplementary group.
const rootfs = mkdtempSync(join(tmpdir(), 'berth-mgr-rootfs-'));
execFileSync('cp', ['-a', `${busyboxRootfs()}/.`, rootfs]);
writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nusers:x:100:nobody,other\nnogroup:x:65534:\n');
after(() => rmSync(rootfs, { recursive: true, force: true }));

const opts = (name: string, command: string[], extra: Partial<ContainerOptions> = {}): ContainerOptions => ({ name, rootfs, command, ...extra });

/** Run a managed container to its end and return its log lines. */
async function runToEnd(o: ContainerOptions) {
  const c = await f.rt.containers.create(o);
  await c.start();
  const lines = await lastValueFrom(c.logs$.pipe(toArray()));
  // The output ends (the copier sees the pipes close) a moment before the init's exit is a fact.
  await (await f.rt.get(o.name)).wait();
  return { c, lines, out: lines.filter((l) => l.stream === 'stdout').map((l) => l.line) };
}

function assertManagerClean(name: string): void {
  assert.equal(existsSync(join(f.root, 'manager', name)), false, 'the bundle directory is gone');
}

test('user nobody runs as nobody with its supplementary groups and the extra ones', async () => {
  const before = snapshot();
  const { c, out } = await runToEnd(opts('m-nobody', ['sh', '-c', 'grep -E "^(Uid|Gid|Groups):" /proc/self/status; echo HOME=$HOME'], { user: 'nobody', groups: ['root'] }));
  assert.deepEqual(out.map((l) => l.replace(/\s+/g, ' ').trim()), [
    'Uid: 65534 65534 65534 65534', 'Gid: 65534 65534 65534 65534', 'Groups: 0 100', 'HOME=/',
  ]);
  await c.remove();
  assertManagerClean('m-nobody');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('the generated spec: env, hostname, provided files, /dev/shm size, annotations, loopback up', async () => {
  const before = snapshot();
  const script = 'echo env $HOSTNAME $container $A; hostname; cat /etc/hostname; grep -c localhost /etc/hosts; grep -c "^nameserver 127\\." /etc/resolv.conf; '
    + 'df -k /dev/shm | tail -1 | awk "{print \\"shm\\", \\$2}"; cat /sys/class/net/lo/flags';
  const { c, out } = await runToEnd(opts('m-spec', ['sh', '-c', script], { env: { A: 'x' }, shmSize: '8m' }));
  assert.deepEqual(out, ['env m-spec berth x', 'm-spec', 'm-spec', '2', '0', 'shm 8192', '0x9']);
  const info = await c.inspect();
  const config = JSON.parse(readFileSync(join(info.dir, 'config.json'), 'utf8'));
  assert.equal(config.annotations['berth.stop-signal'], 'SIGTERM');
  assert.equal(config.annotations['berth.created'], info.created);
  // No cgroup parent: the runtime's default for this root, so another root's m-spec has a cgroup of its own.
  assert.equal(config.linux.cgroupsPath, undefined);
  const made = (await f.rt.history('m-spec')).find((e) => e.type === 'Created');
  assert.equal(made?.data.cgroup, defaultCgroupPath(f.root, 'm-spec'));
  await c.remove();
  assertManagerClean('m-spec');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('logs capture stdout and stderr in order, with tail and since', async () => {
  const before = snapshot();
  const { c, lines } = await runToEnd(opts('m-logs', ['sh', '-c', 'echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; printf partial']));
  assert.deepEqual(lines.map((l) => [l.stream, l.line]), [['stdout', 'out1'], ['stderr', 'err1'], ['stdout', 'out2'], ['stdout', 'partial']]);
  const tail = await lastValueFrom(f.rt.containers.logs$('m-logs', { tail: 2 }).pipe(toArray()));
  assert.deepEqual(tail.map((l) => l.line), ['out2', 'partial']);
  const since = await lastValueFrom(f.rt.containers.logs$('m-logs', { since: new Date(lines[1]!.time) }).pipe(toArray()));
  assert.deepEqual(since.map((l) => l.line), ['err1', 'out2', 'partial']);
  await c.remove();
  // JSON escaping of what a line can hold, and a line longer than the copier's 16 KiB split
  const odd = await runToEnd(opts('m-logs2', ['sh', '-c', 'printf \'a"b\\\\c\\td\\001\\n\'; head -c 20000 /dev/zero | tr "\\0" x']));
  assert.deepEqual(odd.out.map((l) => (l.length > 40 ? `${l[0]}*${l.length}` : l)), ['a"b\\c\td\u0001', 'x*16384', 'x*3616']);
  await odd.c.remove();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('systemd mode: tmpfs on /run, /run/lock, /tmp, /var/log/journal, the cgroup mount, stop signal SIGRTMIN+3', async () => {
  const before = snapshot();
  const { c, out } = await runToEnd(opts('m-systemd', ['sh', '-c', 'cat /proc/self/mounts'], { systemd: true }));
  const fsAt = new Map(out.map((l) => l.split(' ')).map((p) => [p[1], p[2]]));
  for (const d of ['/run', '/run/lock', '/tmp', '/var/log/journal']) assert.equal(fsAt.get(d), 'tmpfs', d);
  assert.ok(fsAt.has('/sys/fs/cgroup'), 'the cgroup mount');
  assert.equal((await c.inspect()).stopSignal, 37);
  await c.remove();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('share net: the second container is in the first one\'s network namespace', async (t) => {
  const before = snapshot();
  const a = await f.rt.containers.create(opts('m-net-a', ['sleep', '1000']));
  t.after(() => a.remove({ force: true }).catch(() => undefined));
  await a.start();
  const b = await f.rt.containers.create(opts('m-net-b', ['sleep', '1000'], { share: { net: 'm-net-a' } }));
  t.after(() => b.remove({ force: true }).catch(() => undefined));
  const pa = (await a.inspect()).state!.pid;
  const pb = (await b.inspect()).state!.pid;
  assert.equal(readlinkSync(`/proc/${pb}/ns/net`), readlinkSync(`/proc/${pa}/ns/net`));
  assert.notEqual(readlinkSync(`/proc/${pb}/ns/uts`), readlinkSync(`/proc/${pa}/ns/uts`), 'only what was asked is shared');
  await b.remove({ force: true });
  const h = await f.rt.containers.create(opts('m-net-host', ['sleep', '1000'], { network: 'host' }));
  assert.equal(readlinkSync(`/proc/${(await h.inspect()).state!.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'network host: no network namespace of its own');
  await h.remove();
  await a.stop({ timeout: 0 });
  await assert.rejects(f.rt.containers.create(opts('m-net-c', ['true'], { share: { net: 'm-net-a' } })), { code: 'INVALID_ARGUMENT', field: 'share.net' });
  assertManagerClean('m-net-c');
  await a.remove();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('stop: the stop signal, then SIGKILL after the timeout; restart runs it anew; each step is an event', async (t) => {
  const before = snapshot();
  // The trap is set before `ready` is printed: a stop before it would find pid 1 ignoring SIGTERM.
  const c = await f.rt.containers.create(opts('m-stop', ['sh', '-c', 'trap "exit 3" TERM; echo ready; while true; do sleep 0.1; done']));
  t.after(() => c.remove({ force: true }).catch(() => undefined));
  await c.start();
  await firstValueFrom(f.rt.containers.logs$('m-stop', { follow: true }).pipe(filter((l) => l.line === 'ready')));
  await c.stop();
  assert.deepEqual((await c.inspect()).state?.exit, { code: 3, signal: null });
  await c.restart();
  const again = (await c.inspect()).state!;
  assert.equal(again.status, 'running');
  const stubborn = await f.rt.containers.create(opts('m-stubborn', ['sleep', '1000'], { stopTimeout: 0.2 }));
  t.after(() => stubborn.remove({ force: true }).catch(() => undefined));
  await stubborn.start();
  await stubborn.stop(); // pid 1 ignores SIGTERM it has no handler for
  assert.equal((await stubborn.inspect()).state?.status, 'stopped');
  const types = (await f.rt.containers.history('m-stubborn')).map((e) => e.type);
  assert.deepEqual(types, ['ContainerDefined', 'StopRequested', 'StopEscalated']);
  assert.deepEqual((await f.rt.containers.history('m-stop')).map((e) => e.type), ['ContainerDefined', 'StopRequested', 'ContainerRecreated']);
  await assert.rejects(c.remove(), { code: 'ILLEGAL_STATE' });
  await c.remove({ force: true });
  await stubborn.remove();
  assert.deepEqual((await f.rt.containers.list()).map((i) => i.name), []);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('bad options are refused naming the option, and leave nothing: no bundle, event, container or process', async () => {
  const before = snapshot();
  const cases: [Partial<ContainerOptions>, string, string][] = [
    [{ user: 'nosuch' }, 'INVALID_ARGUMENT', 'user'],
    [{ user: 'nobody:nosuch' }, 'INVALID_ARGUMENT', 'user'],
    [{ groups: ['nosuch'] }, 'INVALID_ARGUMENT', 'groups'],
    [{ mounts: [{ source: '/tmp', destination: '/proc/sys' }] }, 'INVALID_ARGUMENT', 'mounts[0].destination'],
    [{ mounts: [{ source: '/tmp', destination: '/a/../../etc' }] }, 'INVALID_ARGUMENT', 'mounts[0].destination'],
    [{ mounts: [{ source: 'tmp', destination: '/mnt' }] }, 'INVALID_ARGUMENT', 'mounts[0].source'],
    [{ rootfs: 'relative' }, 'INVALID_ARGUMENT', 'rootfs'],
    [{ rootfs: '/nonexistent-rootfs' }, 'INVALID_ARGUMENT', 'rootfs'],
    [{ command: [] }, 'INVALID_ARGUMENT', 'command'],
    [{ share: { ipc: 'nosuch' } }, 'INVALID_ARGUMENT', 'share.ipc'],
    [{ network: 'container:nosuch' }, 'INVALID_ARGUMENT', 'network'],
    [{ network: 'bogus' }, 'INVALID_ARGUMENT', 'network'],
    [{ network: 'bridge', ports: ['80:nope'] }, 'INVALID_ARGUMENT', 'ports[0]'],
    [{ ports: ['8080:80/tcp'] }, 'INVALID_ARGUMENT', 'ports'],
    [{ shmSize: '12q' }, 'INVALID_ARGUMENT', 'shmSize'],
    [{ stopSignal: 'SIGNOPE' }, 'INVALID_ARGUMENT', 'stopSignal'],
    [{ resources: { memory: { limit: -5 } } }, 'INVALID_CONFIG', 'linux.resources.memory.limit'],
  ];
  for (const [extra, code, field] of cases) {
    await assert.rejects(f.rt.containers.create(opts('m-bad', ['true'], extra)), (e: { code: string; field?: string; message: string }) => {
      assert.equal(e.code, code, `${JSON.stringify(extra)}: ${e.message}`);
      assert.equal(e.field, field, JSON.stringify(extra));
      return true;
    });
    assertManagerClean('m-bad');
    assert.deepEqual(await f.rt.containers.history('m-bad'), [], JSON.stringify(extra));
  }
  // A rootfs whose /etc/passwd links to a host file naming a user: the link is resolved
  // inside the rootfs, where it leads nowhere, so the user is unknown.
  const evil = mkdtempSync(join(tmpdir(), 'berth-mgr-evil-'));
  const hostPasswd = join(evil, 'host-passwd');
  writeFileSync(hostPasswd, 'intruder:x:4242:4242::/:/bin/sh\n');
  execFileSync('cp', ['-a', `${rootfs}/.`, join(evil, 'rootfs')]);
  rmSync(join(evil, 'rootfs/etc/passwd'));
  execFileSync('ln', ['-s', `../../../../../../..${hostPasswd}`, join(evil, 'rootfs/etc/passwd')]);
  await assert.rejects(f.rt.containers.create(opts('m-bad', ['true'], { rootfs: join(evil, 'rootfs'), user: 'intruder' })), { code: 'INVALID_ARGUMENT', field: 'user' });
  rmSync(evil, { recursive: true, force: true });
  // Refused by the runtime's create (the init finds no such executable): the definition is
  // undone — bundle gone, no runtime container, the record says removed — and the name is free.
  await assert.rejects(f.rt.containers.create(opts('m-bad', ['/nonexistent'])), { code: 'INVALID_CONFIG', field: 'process.args' });
  assertManagerClean('m-bad');
  assert.deepEqual((await f.rt.containers.history('m-bad')).map((e) => e.type), ['ContainerDefined', 'ContainerRemoved']);
  assert.deepEqual(await f.rt.containers.list(), []);
  assert.deepEqual(readdirSync(f.root).includes('manager') ? readdirSync(join(f.root, 'manager')) : [], []);
  assert.deepEqual(await f.rt.list(), []);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a restart policy on-failure:2 restarts a failing container twice, each restart an event, then leaves it stopped', async (t) => {
  const before = snapshot();
  const supervisor = f.rt.containers.supervise();
  t.after(() => supervisor.unsubscribe());
  const exits = firstValueFrom(f.rt.eventsFrom$().pipe(filter((e) => e.stream === 'm-policy' && e.type === 'Exited'), take(3), toArray()));
  const c = await f.rt.containers.create(opts('m-policy', ['sh', '-c', 'echo run; exit 7'], { restart: 'on-failure:2' }));
  t.after(() => c.remove({ force: true }).catch(() => undefined));
  await c.start();
  assert.deepEqual((await exits).map((e) => e.data.code), [7, 7, 7]);
  const restarts = (await f.rt.containers.history('m-policy')).filter((e) => e.type === 'RestartedByPolicy');
  assert.deepEqual(restarts.map((e) => e.data), [{ attempt: 1, exit: { code: 7, signal: null } }, { attempt: 2, exit: { code: 7, signal: null } }]);
  supervisor.unsubscribe();
  assert.equal((await c.inspect()).state?.status, 'stopped');
  const runs = await lastValueFrom(c.logs$.pipe(toArray()));
  assert.deepEqual(runs.map((l) => l.line), ['run', 'run', 'run'], 'one log across the restarts');
  await c.remove();
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a pod: two members reach each other over the pod\'s loopback, share its hostname, and list each other in /etc/hosts', async (t) => {
  const before = snapshot();
  await f.rt.pods.create({ name: 'p1', rootfs });
  t.after(() => f.rt.pods.remove('p1', { force: true }).catch(() => undefined));
  // The server listens until a connection brings "hello"; the client keeps sending until the
  // pod is stopped (a connection may come before the server listens, or bring nothing).
  const srv = await f.rt.containers.create(opts('p1-srv', ['sh', '-c', 'until nc -l -p 8080 > /tmp/p1-got; grep -q hello /tmp/p1-got; do :; done; cat /tmp/p1-got'], { pod: 'p1' }));
  const cli = await f.rt.containers.create(opts('p1-cli', ['sh', '-c', 'hostname; grep 127.0.1.1 /etc/hosts; while :; do echo hello | nc 127.0.0.1 8080 2>/dev/null; sleep 0.1; done'], { pod: 'p1', stopTimeout: 0 }));
  await assert.rejects(f.rt.containers.create(opts('p1-cli', ['true'], { pod: 'p1' })), { code: 'ID_IN_USE' }, 'a member added twice');
  await assert.rejects(f.rt.containers.create(opts('p1-x', ['true'], { pod: 'p1', network: 'host' })), { code: 'INVALID_ARGUMENT', field: 'network' });
  await assert.rejects(f.rt.containers.create(opts('p1-x', ['true'], { pod: 'nopod' })), { code: 'INVALID_ARGUMENT', field: 'pod' });
  await f.rt.pods.start('p1');
  const got = await lastValueFrom(srv.logs$.pipe(toArray()));
  assert.deepEqual(got.map((l) => l.line), ['hello']);
  assert.deepEqual((await f.rt.pods.list()).map((p) => [p.name, p.members]), [['p1', ['p1-srv', 'p1-cli']]]);
  await assert.rejects(f.rt.pods.remove('p1'), { code: 'ILLEGAL_STATE' });
  await f.rt.pods.stop('p1');
  const sent = await lastValueFrom(cli.logs$.pipe(toArray()));
  assert.deepEqual(sent.map((l) => l.line), ['p1', '127.0.1.1\tp1 p1-srv p1-cli']);
  await f.rt.pods.remove('p1', { force: true });
  const types = (await f.rt.log.read('pod:p1')).map((e) => e.type);
  assert.deepEqual(types, ['PodCreated', 'PodMemberAdded', 'PodMemberAdded', 'PodStarted', 'PodStopped', 'PodMemberRemoved', 'PodMemberRemoved', 'PodRemoved']);
  assert.deepEqual(await f.rt.containers.list(), []);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('bridge networking plugs in: attach after create with the init\'s pid, before start; /etc/hosts has the address; detach on stop, restart and remove', async (t) => {
  const before = snapshot();
  // A recording stand-in for src/network/ (built separately): the manager's side of the contract.
  const calls: string[] = [];
  f.rt.containers.useNetworks({
    async attach(req) {
      calls.push(`attach ${req.container} pid=${readlinkSync(`/proc/${req.pid}/ns/net`) !== readlinkSync('/proc/self/ns/net')} ${JSON.stringify(req.ports)}`);
      return { container: req.container, network: 'berth0', address: '10.88.0.7', prefixLength: 16, gateway: '10.88.0.1', ports: req.ports ?? [] };
    },
    async detach(container) {
      calls.push(`detach ${container}`);
    },
    parsePorts: (specs) => specs.map((p) => {
      const m = /^(\d+):(\d+)\/(tcp|udp)$/.exec(p);
      if (!m) throw new RuntimeError('INVALID_ARGUMENT', `ports: bad ${p}`, { field: 'ports' });
      return { hostPort: Number(m[1]), containerPort: Number(m[2]), protocol: m[3] as 'tcp' };
    }),
  });
  t.after(() => f.rt.containers.useNetworks(undefined));
  await assert.rejects(f.rt.containers.create(opts('m-br', ['true'], { network: 'bridge', ports: ['nope'] })), { code: 'INVALID_ARGUMENT', field: 'ports' });
  assert.deepEqual(calls, [], 'a bad port is refused before anything is attached');
  const c = await f.rt.containers.create(opts('m-br', ['sh', '-c', 'grep 10.88 /etc/hosts; sleep 1000'], { network: 'bridge', ports: ['8080:80/tcp'] }));
  t.after(() => c.remove({ force: true }).catch(() => undefined));
  assert.deepEqual(calls, ['attach m-br pid=true [{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]']);
  await c.start();
  let hosts: string[] = [];
  for (let i = 0; i < 200 && hosts.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    hosts = (await lastValueFrom(c.logs().pipe(toArray()))).map((l) => l.line);
  }
  assert.deepEqual(hosts, ['10.88.0.7\tm-br'], 'the container is named at its bridge address');
  await c.restart({ timeout: 0 });
  await c.remove({ force: true });
  assert.deepEqual(calls.slice(1), ['detach m-br', 'detach m-br', 'attach m-br pid=true [{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]', 'detach m-br', 'detach m-br']);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('a pod on the host network: its members are in the host\'s network namespace, not a network of their own', async (t) => {
  const before = snapshot();
  await f.rt.pods.create({ name: 'ph', rootfs, network: 'host' });
  t.after(() => f.rt.pods.remove('ph', { force: true }).catch(() => undefined));
  const m = await f.rt.containers.create(opts('ph-m', ['sleep', '1000'], { pod: 'ph' }));
  await f.rt.pods.start('ph');
  const pid = (await m.inspect()).state!.pid;
  assert.equal(readlinkSync(`/proc/${pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'the member\'s netns is the host\'s');
  assert.notEqual(readlinkSync(`/proc/${pid}/ns/uts`), readlinkSync('/proc/self/ns/uts'), 'its uts namespace is still the pod\'s');
  await f.rt.pods.remove('ph', { force: true });
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
