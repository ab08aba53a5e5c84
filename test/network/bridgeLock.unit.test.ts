import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FakeNetHost, openNetworks, type NetHost } from '../../src/network/index.js';
import { foldNetwork } from '../../src/network/state.js';
import type { EventLog } from '../../src/store/eventLog.js';
import { createMemoryEventLog } from '../../src/store/memoryEventLog.js';

const PROCESSES = 2;
const HOST_METHODS = [
  'netns', 'startTime', 'linkExists', 'routes', 'setUpNetwork', 'tearDownNetwork', 'addVeth', 'deleteLink', 'addPortRules', 'deletePortRules', 'portFree',
] as const satisfies ReadonlyArray<keyof NetHost>;

/**
 * One kernel as several processes reach it: every host call and log read or append waits for
 * fast-check to let it through. The lock is not scheduled (the scheduler would wait on a
 * contended lock whose holder it holds back): it waits for real.
 */
function scheduledHost(host: FakeNetHost, s: fc.Scheduler): NetHost {
  const out: Partial<Record<keyof NetHost, unknown>> = { lock: (bridge: string) => host.lock(bridge) };
  for (const m of HOST_METHODS) out[m] = s.scheduleFunction((...a: unknown[]) => (host[m] as (...x: unknown[]) => Promise<unknown>).apply(host, a));
  return out as NetHost;
}

function scheduledLog(log: EventLog, s: fc.Scheduler): EventLog {
  return {
    ...log,
    read: s.scheduleFunction((...a: Parameters<EventLog['read']>) => log.read(...a)),
    streams: s.scheduleFunction(() => log.streams()),
    append: s.scheduleFunction((...a: Parameters<EventLog['append']>) => log.append(...a)),
  };
}

/**
 * The last detach of a network removes its bridge; a first attach in another process at the
 * same moment must not end with its veth on no bridge. Both sides take the bridge's lock
 * (src/network/networks.ts, `locked`); with it turned into a plain call this property fails.
 */
test('property: across processes and interleavings, every attachment ends with its veth on an existing bridge', async () => {
  await fc.assert(
    // Each process attaches and detaches its own container `rounds` times, the last detach maybe left out.
    fc.asyncProperty(fc.scheduler(), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: PROCESSES, maxLength: PROCESSES }), fc.boolean(), async (s, rounds, stayAttached) => {
      const log = createMemoryEventLog();
      const host = new FakeNetHost();
      const nets = rounds.map((_, p) => {
        host.addProcess(100 + p);
        return openNetworks({ log: scheduledLog(log, s), host: scheduledHost(host, s), networks: [{ name: 'p', bridge: 'bp', subnet: '10.7.0.0/28' }] });
      });
      await s.waitFor(Promise.all(nets.map(async (n, p) => {
        for (let r = 0; r < rounds[p]!; r++) {
          // A host step failing (a veth put on a bridge that went away meanwhile) fails the property.
          await n.attach({ container: `c${p}`, pid: 100 + p });
          if (r < rounds[p]! - 1 || !stayAttached) await n.detach(`c${p}`);
        }
      })));
      const state = foldNetwork(await log.read('net:p'));
      for (const a of state.allocations.values()) {
        const veth = host.links.get(a.hostVeth);
        assert.ok(veth?.kind === 'veth', `${a.container} holds ${a.address} but has no veth`);
        assert.equal(veth.bridge, 'bp', `${a.container}'s veth has no bridge`);
        assert.deepEqual(host.links.get('bp'), { kind: 'bridge' }, 'the bridge of a network with attachments exists');
        assert.ok(host.tables.has('berth-bp'), 'and its table');
      }
      if (state.allocations.size === 0) assert.equal(host.links.has('bp'), false, 'an empty network has no bridge');
    }),
    { numRuns: 300 },
  );
});
