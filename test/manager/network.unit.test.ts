import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bridgeOf } from '../../src/manager/network.js';

test('bridgeOf: bridge is the default network, bridge:<name> another; other modes are not bridges; a bad name is refused naming network', () => {
  assert.deepEqual(bridgeOf('bridge'), {});
  assert.deepEqual(bridgeOf('bridge:lab'), { network: 'lab' });
  for (const mode of [undefined, 'none', 'host', 'container:web', 'bridged']) assert.equal(bridgeOf(mode), null, String(mode));
  for (const bad of ['bridge:', 'bridge:a/b', 'bridge:..']) assert.throws(() => bridgeOf(bad), { code: 'INVALID_ARGUMENT', field: 'network' }, bad);
});
