import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { isRuntimeError } from '../src/errors.js';
import { parseSignal, signalName } from '../src/signals.js';

test('names, SIG-prefixed names, any case, and numbers', () => {
  for (const input of ['TERM', 'SIGTERM', 'sigterm', 'Term', '15', 15]) assert.equal(parseSignal(input), 15, String(input));
  assert.equal(parseSignal('KILL'), 9);
  assert.equal(parseSignal('SIGCHLD'), 17);
  assert.equal(parseSignal('WINCH'), 28);
  assert.equal(parseSignal('SYS'), 31);
  assert.equal(parseSignal('64'), 64);
});

test('aliases of the C library', () => {
  assert.equal(parseSignal('SIGIOT'), 6);
  assert.equal(parseSignal('CLD'), 17);
  assert.equal(parseSignal('POLL'), 29);
  assert.equal(parseSignal('IO'), 29);
});

test('real-time signals relative to glibc SIGRTMIN 34 and SIGRTMAX 64', () => {
  assert.equal(parseSignal('SIGRTMIN'), 34);
  assert.equal(parseSignal('RTMIN'), 34);
  assert.equal(parseSignal('SIGRTMIN+3'), 37);
  assert.equal(parseSignal('rtmin+30'), 64);
  assert.equal(parseSignal('RTMAX-1'), 63);
  assert.equal(parseSignal('SIGRTMAX'), 64);
  assert.equal(parseSignal('RTMAX-30'), 34);
});

test('anything else is INVALID_ARGUMENT naming the input', () => {
  for (const input of ['FOO', 'SIG', '', '0', '65', 'RTMIN+31', 'RTMAX-31', 'RTMIN-1', 'RTMAX+1', 'RTMIN+', ' 15', '+15', '1.5', 0, 65, -9, 1.5, NaN]) {
    assert.throws(() => parseSignal(input), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'), String(input));
  }
  assert.throws(() => parseSignal('FOO'), { message: 'unknown signal FOO' });
});

test('signalName spells numbers as kill -l does, and parses back', () => {
  assert.equal(signalName(15), 'SIGTERM');
  assert.equal(signalName(29), 'SIGIO');
  assert.equal(signalName(6), 'SIGABRT');
  assert.equal(signalName(32), 'SIG32');
  assert.equal(signalName(34), 'SIGRTMIN');
  assert.equal(signalName(37), 'SIGRTMIN+3');
  assert.equal(signalName(49), 'SIGRTMIN+15');
  assert.equal(signalName(50), 'SIGRTMAX-14');
  assert.equal(signalName(64), 'SIGRTMAX');
  for (let n = 1; n <= 64; n++) assert.equal(parseSignal(signalName(n).replace(/^SIG(?=\d)/, '')), n);
  assert.throws(() => signalName(0), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => signalName(65), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
});

test('the table matches `kill -l` of this machine', (t) => {
  let listing: string;
  try {
    listing = execFileSync('bash', ['-c', 'kill -l'], { encoding: 'utf8' });
  } catch {
    t.skip('bash is not available');
    return;
  }
  const pairs = [...listing.matchAll(/(\d+)\) (SIG[A-Z0-9+-]+)/g)];
  assert.ok(pairs.length >= 60);
  for (const [, n, name] of pairs) assert.equal(signalName(Number(n)), name);
});
