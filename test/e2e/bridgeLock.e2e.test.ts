import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { hostVethName } from '../../src/network/networks.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';
import { assertNetworkGone, testNetwork } from '../helpers/network.js';

/**
 * The bridge's lifetime across processes, on the real kernel: two library processes on one root
 * each attach a network namespace of their own to the same network and detach it, over and
 * over. Each detach may be the network's last and remove the bridge while the other process is
 * attaching its first; the bridge's lock (docs/network.md) makes every attach end with its veth
 * on the bridge and a gateway that answers. Without the lock, rounds fail with a veth on no
 * bridge or a `veth to bridge` step that found none.
 */
const CHILD = fileURLToPath(new URL('./fixtures/netChurnChild.mjs', import.meta.url));
const ROUNDS = 40;
const NET = testNetwork('lk');
const f = runtimeFixture();

function churn(container: string): Promise<Array<{ round: number; ok?: boolean; error?: string }>> {
  const child = spawn(process.execPath, [CHILD, f.root, NET.name, NET.bridge, NET.subnet, container, String(ROUNDS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const rounds: Array<{ round: number; ok?: boolean; error?: string }> = [];
  let done = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line) as { round: number; ok?: boolean; error?: string; done?: boolean };
    if (msg.done) done = true;
    else rounds.push(msg);
  });
  // Resolved once its pipes are closed too: nothing of the child is left open in the test.
  return new Promise((resolve, reject) => {
    child.on('close', (code) => (done ? resolve(rounds) : reject(new Error(`${container}: exited ${String(code)} before it was done; stderr: ${stderr}`))));
  });
}

test('two processes attaching and detaching on one network: every attach ends on an existing bridge with a working route', async () => {
  const before = snapshot();
  const [a, b] = await Promise.all([churn('lk-a'), churn('lk-b')]);
  for (const [who, rounds] of [['lk-a', a], ['lk-b', b]] as const) {
    assert.deepEqual(rounds.filter((r) => !r.ok), [], `${who}: rounds that failed`);
    assert.equal(rounds.length, ROUNDS);
  }
  await assertNetworkGone(f.rt.log, NET, ['lk-a', 'lk-b'].map((c) => hostVethName(NET.name, c)));
  await assertNoLeaks(before, f.root, { openRuntime: true });
});
