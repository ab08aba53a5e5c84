import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { lastValueFrom, timeout, toArray } from 'rxjs';
import { isRuntimeError } from '../../src/errors.js';
import { openLevelEventLog } from '../../src/store/levelEventLog.js';
import { serveEventLog } from '../../src/store/logServer.js';
import { createMemoryEventLog } from '../../src/store/memoryEventLog.js';
import { openEventLog } from '../../src/store/openLog.js';
import { connectEventLog } from '../../src/store/remoteEventLog.js';
import { eventLogContract, ev, rejectsWith, takeNext } from './eventLog.contract.js';
import { spawnFixture } from './fixtures/child.js';

async function tempDir(t?: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-remote-'));
  t?.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

eventLogContract('remote (level owner over a unix socket)', async () => {
  const dir = await tempDir();
  const owner = await openLevelEventLog(join(dir, 'log'));
  const server = await serveEventLog(owner, join(dir, 'log.sock'));
  const log = await connectEventLog(join(dir, 'log.sock'));
  return {
    log,
    async cleanup() {
      await log.close();
      await server.close();
      await owner.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test('the socket is 0600, a live one is never taken over, and close removes it', async (t) => {
  const dir = await tempDir(t);
  const sock = join(dir, 'log.sock');
  const owner = createMemoryEventLog();
  const server = await serveEventLog(owner, sock);
  t.after(() => server.close());
  assert.equal((await stat(sock)).mode & 0o777, 0o600);
  await rejectsWith(serveEventLog(createMemoryEventLog(), sock), 'STORE_LOCKED', /served by another process/);
  const client = await connectEventLog(sock);
  t.after(() => client.close());
  await client.append('web', [ev('A')], { expectedVersion: 'no_stream' });
  assert.equal(await owner.version('web'), 1, 'the first server still serves');
  await client.close();
  await server.close();
  assert.equal(existsSync(sock), false);
});

test('a stale socket left by a dead owner is removed; any other file is refused and kept', async (t) => {
  const dir = await tempDir(t);
  const sock = join(dir, 'log.sock');
  const dead = spawnFixture('listen', { socket: sock });
  t.after(() => dead.kill());
  await dead.next();
  assert.equal((await dead.next()).listening, true);
  await dead.kill(); // SIGKILL: the socket file stays behind with nobody listening
  assert.ok((await stat(sock)).isSocket());

  const server = await serveEventLog(createMemoryEventLog(), sock);
  t.after(() => server.close());
  const client = await connectEventLog(sock);
  t.after(() => client.close());
  assert.equal(await client.version('web'), 0);
  await client.close();
  await server.close();

  await writeFile(sock, 'not a socket');
  await rejectsWith(serveEventLog(createMemoryEventLog(), sock), 'INVALID_ARGUMENT', /not a socket/);
  assert.equal(await readFile(sock, 'utf8'), 'not a socket');
});

test('a malformed request is answered with an error and the connection is closed', async (t) => {
  const dir = await tempDir(t);
  const sock = join(dir, 'log.sock');
  const server = await serveEventLog(createMemoryEventLog(), sock);
  t.after(() => server.close());
  const conn = createConnection({ path: sock });
  let received = '';
  conn.on('data', (d) => (received += d.toString()));
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  // The line after the bad one is ignored.
  conn.write('{"id":1,"op":"version","args":["web"]}\n{"id":2,"op":"drop","args":[]}\n{"id":3,"op":"version","args":["web"]}\n');
  await closed;
  const lines = received.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const byId = new Map(lines.map((l) => [l.id, l]));
  assert.equal(lines.length, 2);
  assert.deepEqual(byId.get(1), { id: 1, ok: true, result: 0 });
  assert.equal(byId.get(2)?.ok, false);
  assert.equal((byId.get(2)?.error as { code: string }).code, 'INVALID_ARGUMENT');
});

test('when the owner closes, remote subscriptions complete and later calls fail clearly', async (t) => {
  const dir = await tempDir(t);
  const sock = join(dir, 'log.sock');
  const owner = createMemoryEventLog();
  const server = await serveEventLog(owner, sock);
  t.after(() => server.close());
  const client = await connectEventLog(sock);
  t.after(() => client.close());
  const all = lastValueFrom(client.events$().pipe(timeout(5000), toArray()));
  await client.append('web', [ev('A')], { expectedVersion: 'no_stream' });
  await server.close();
  await owner.close();
  assert.deepEqual((await all).map((e) => e.type), ['A']);
  await rejectsWith(client.version('web'), 'INTERNAL', /lost connection to event log owner/);
});

test('openEventLog: the first process owns and serves; close stops serving', async (t) => {
  const root = await tempDir(t);
  const first = await openEventLog(root, { serve: true });
  t.after(() => first.log.close());
  assert.equal(first.mode, 'owner');
  assert.ok((await stat(join(root, 'log.sock'))).isSocket());
  assert.equal((await stat(root)).mode & 0o777, 0o700);
  // A second open in the same process reaches the owner through the socket too.
  const second = await openEventLog(root, { serve: true, lockTimeoutMs: 0 });
  t.after(() => second.log.close());
  assert.equal(second.mode, 'remote');
  await second.log.append('web', [ev('A')], { expectedVersion: 'no_stream' });
  assert.equal(await first.log.version('web'), 1);
  await second.log.close();
  await first.log.close();
  assert.equal(existsSync(join(root, 'log.sock')), false);
});

test('openEventLog from a second process while the first serves: remote, and its appends reach our events$', async (t) => {
  const root = await tempDir(t);
  const { log, mode } = await openEventLog(root, { serve: true });
  t.after(() => log.close());
  assert.equal(mode, 'owner');
  await log.append('web', [ev('Created')], { expectedVersion: 'no_stream' });
  const seen = takeNext(log.events$('web'), 1, 15000);

  const child = spawnFixture('open-root', { root, stream: 'web', lockTimeoutMs: 2000 });
  t.after(() => child.kill());
  assert.equal((await child.next()).started, true);
  assert.equal((await child.next()).mode, 'remote');
  const { appended } = (await child.next()) as { appended: Array<{ version: number; position: number }> };
  assert.deepEqual(appended.map((e) => [e.version, e.position]), [[2, 2]]);
  assert.deepEqual((await child.next()).closed, true);

  const [event] = await seen;
  assert.equal(event?.type, 'FromChild');
  assert.equal(event?.data.pid, child.proc.pid);
  assert.deepEqual((await log.read('web')).map((e) => e.type), ['Created', 'FromChild']);
  assert.equal(await child.exited, 0);
});

test('when the holder does not serve, a second process waits and gets the lock once it closes', async (t) => {
  const root = await tempDir(t);
  const holder = await openEventLog(root, { serve: false });
  t.after(() => holder.log.close());
  assert.equal(holder.mode, 'owner');
  assert.equal(existsSync(join(root, 'log.sock')), false);

  const child = spawnFixture('open-root', { root, stream: 'web', lockTimeoutMs: 20000 });
  t.after(() => child.kill());
  await child.next(); // started: it is now trying to open
  await new Promise((r) => setTimeout(r, 700));
  assert.deepEqual(child.buffered(), [], 'the child must still be waiting');
  await holder.log.close();

  const opened = await child.next();
  assert.equal(opened.mode, 'owner');
  assert.ok((opened.waitedMs as number) >= 500, `waited ${String(opened.waitedMs)} ms`);
  assert.ok((await child.next()).appended);
  assert.equal((await child.next()).closed, true);
  assert.equal(await child.exited, 0);

  const after = await openEventLog(root, { serve: false });
  t.after(() => after.log.close());
  assert.deepEqual((await after.log.read('web')).map((e) => e.type), ['FromChild']);
});

test('a process waiting on a holder that never closes gives up with STORE_LOCKED naming the root', async (t) => {
  const root = await tempDir(t);
  const holder = await openEventLog(root, { serve: false });
  t.after(() => holder.log.close());
  const child = spawnFixture('open-root', { root, stream: 'web', lockTimeoutMs: 400 });
  t.after(() => child.kill());
  await child.next();
  const res = (await child.next()) as { error: { code: string; message: string }; waitedMs: number };
  assert.equal(res.error.code, 'STORE_LOCKED');
  assert.match(res.error.message, new RegExp(`event log in ${root} is locked`));
  assert.ok(res.waitedMs >= 400, `gave up after ${res.waitedMs} ms`);
  assert.ok(res.waitedMs < 5000, `gave up after ${res.waitedMs} ms`);
  assert.equal(await holder.log.version('web'), 0);
});

test('in-process: lockTimeoutMs 0 tries once', async (t) => {
  const root = await tempDir(t);
  const holder = await openEventLog(root, { serve: false });
  t.after(() => holder.log.close());
  const t0 = Date.now();
  await assert.rejects(openEventLog(root, { serve: false, lockTimeoutMs: 0 }), (e: unknown) => isRuntimeError(e, 'STORE_LOCKED'));
  assert.ok(Date.now() - t0 < 1000);
});
