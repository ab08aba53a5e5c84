import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isRuntimeError } from '../../src/errors.js';
import { FakeNetHost, openNetworks } from '../../src/network/index.js';
import { foldNetwork } from '../../src/network/state.js';
import type { EventLog } from '../../src/store/eventLog.js';
import { createMemoryEventLog } from '../../src/store/memoryEventLog.js';

const PROCESSES = 3;
const CONTAINERS = 7; // one more than a /29 holds: exhaustion is part of the interleavings

/** The log as several processes see it: every call is let through in an order fast-check picks. */
function scheduled(log: EventLog, s: fc.Scheduler, stats: { conflicts: number }): EventLog {
  const append = s.scheduleFunction((...a: Parameters<EventLog['append']>) => log.append(...a));
  return {
    ...log,
    read: s.scheduleFunction((...a: Parameters<EventLog['read']>) => log.read(...a)),
    streams: s.scheduleFunction(() => log.streams()),
    append: async (...a) => {
      try {
        return await append(...a);
      } catch (e) {
        if (isRuntimeError(e, 'CONFLICT')) stats.conflicts++;
        throw e;
      }
    },
  };
}

const op = fc.record({ op: fc.constantFrom('attach', 'attach', 'detach', 'exit'), container: fc.nat(CONTAINERS - 1) });

test('property: across processes and interleavings, no address is ever allocated twice', async () => {
  const stats = { conflicts: 0 };
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(op, { maxLength: 24 }), async (s, ops) => {
      const log = createMemoryEventLog();
      // One kernel; container i's init is pid 100+i and belongs to process i % PROCESSES (the
      // runtime never drives one container from two processes at once).
      const host = new FakeNetHost();
      const starts = Array.from({ length: CONTAINERS }, () => 0);
      for (let i = 0; i < CONTAINERS; i++) host.addProcess(100 + i);
      const procs = Array.from({ length: PROCESSES }, () => openNetworks({ log: scheduled(log, s, stats), host, networks: [{ name: 'p', bridge: 'bp', subnet: '10.7.0.0/29' }] }));
      const checkLog = async () => {
        const state = foldNetwork(await log.read('net:p')); // STORE_CORRUPT on a double allocation
        const addresses = [...state.allocations.values()].map((a) => a.address);
        assert.equal(new Set(addresses).size, addresses.length);
        return state;
      };
      const run = async (o: { op: string; container: number }) => {
        const nets = procs[o.container % PROCESSES]!;
        const pid = 100 + o.container;
        if (o.op === 'exit') {
          host.exit(pid);
          starts[o.container] = (starts[o.container] ?? 0) + 1;
          host.addProcess(pid, undefined, `s${pid}.${starts[o.container]}`);
          return;
        }
        try {
          if (o.op === 'attach') await nets.attach({ container: `c${o.container}`, pid });
          else await nets.detach(`c${o.container}`);
        } catch (e) {
          // A full subnet, or a container whose init still holds its address, are the only refusals.
          if (!isRuntimeError(e, 'INVALID_ARGUMENT') || !['network', 'container'].includes(e.field ?? '')) throw e;
        }
        await checkLog();
      };
      const byProcess = Array.from({ length: PROCESSES }, (_, p) => ops.filter((o) => o.container % PROCESSES === p));
      await s.waitFor(Promise.all(byProcess.map(async (mine) => { for (const o of mine) await run(o); })));
      const state = await checkLog();
      // What the log holds is what the host has: each allocation's veth (if its init lives) has its address.
      for (const a of state.allocations.values()) {
        const veth = host.links.get(a.hostVeth);
        if (veth?.kind === 'veth') assert.equal(veth.address, a.address);
      }
      for (let i = 0; i < CONTAINERS; i++) await s.waitFor(procs[i % PROCESSES]!.detach(`c${i}`));
      assert.equal((await checkLog()).allocations.size, 0, 'every address released');
      assert.deepEqual([...host.tables.keys()], [], 'no table left');
    }),
    { numRuns: 150 },
  );
  assert.ok(stats.conflicts > 0, 'the interleavings included lost appends (CONFLICT), decided again');
});
