import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inNetns } from '../../src/effects/criuRecover.js';

// Found by the lifecycle fuzz: reconciling a killed checkpoint unlocked the network of an init
// that died meanwhile; nsenter exited before reading its input and the EPIPE crashed the runtime.
test('running a command in the network namespace of a process that is gone fails quietly, whatever its input', async () => {
  const gone = 0x3fffff + 1; // above pid_max: never a process
  assert.equal(await inNetns(gone, ['iptables-restore', '-w', '--noflush'], 'x'.repeat(1 << 20)), false);
});
