import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { firstValueFrom, take, toArray } from 'rxjs';
import { logs$ } from '../../src/manager/logs.js';

/** logs$ over a log file written by hand, as berth-logs writes it (one JSON object a line). */
const dir = mkdtempSync(join(tmpdir(), 'berth-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const line = (n: number) => `${JSON.stringify({ stream: 'stdout', time: new Date(0).toISOString(), line: String(n) })}\n`;
/** The timers keeping this process alive (unref'd ones are not listed). */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('a follower that unsubscribes inside next() (take) leaves no poll behind', async () => {
  const file = join(dir, 'take.log');
  writeFileSync(file, '');
  const before = timers();
  const got = firstValueFrom(logs$(file, { follow: true }, 5).pipe(take(2), toArray()));
  // the lines come in a later poll, which is where take's unsubscription happens
  appendFileSync(file, line(1) + line(2) + line(3));
  assert.deepEqual((await got).map((l) => l.line), ['1', '2']);
  assert.equal(timers(), before, 'no timer left polling a file whose copier may never finish');
});

test('a follower that unsubscribes during the first read leaves no poll behind', async () => {
  const file = join(dir, 'first.log');
  writeFileSync(file, line(1) + line(2) + line(3));
  const before = timers();
  assert.deepEqual((await firstValueFrom(logs$(file, { follow: true }, 5).pipe(take(2), toArray()))).map((l) => l.line), ['1', '2']);
  assert.equal(timers(), before);
});

test('following ends when the copier has finished, with every line and a tail', async () => {
  const file = join(dir, 'closed.log');
  writeFileSync(file, line(1) + line(2) + line(3));
  const before = timers();
  const got = firstValueFrom(logs$(file, { follow: true, tail: 1 }, 5).pipe(toArray()));
  appendFileSync(file, line(4));
  writeFileSync(`${file}.closed`, '');
  assert.deepEqual((await got).map((l) => l.line), ['3', '4']);
  assert.equal(timers(), before);
});
