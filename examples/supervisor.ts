/**
 * A tiny supervisor: runs a container and, each time its process exits with a failure,
 * deletes it and runs it again, up to a restart budget. It learns of exits from the runtime's
 * event stream (`rt.events$`), the same facts the log records.
 *
 *   node --import tsx examples/supervisor.ts <bundle> [id] [--root DIR] [--max-restarts N]
 */
import { parseArgs } from 'node:util';
import { filter, firstValueFrom } from 'rxjs';
import { openRuntime, type StoredEvent } from 'berth';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { root: { type: 'string' }, 'max-restarts': { type: 'string', default: '3' } },
});
const [bundle, id = `supervised-${process.pid}`] = positionals;
if (bundle === undefined) {
  console.error('usage: supervisor.ts <bundle> [id] [--root DIR] [--max-restarts N]');
  process.exit(2);
}
const budget = Number(values['max-restarts']);

await using rt = await openRuntime({ root: values.root });
for (let run = 0; ; run++) {
  const c = await rt.create(id, { bundle, stdio: 'inherit' });
  // Subscribe before start: the Exited fact cannot slip past.
  const exited = firstValueFrom(rt.events$.pipe(
    filter((e: StoredEvent) => e.stream === id && e.type === 'Exited'),
  ));
  await c.start();
  const event = await exited;
  const exit = await c.wait();
  await c.delete();
  console.log(`[supervisor] run ${run + 1}: exit code ${exit.code} signal ${exit.signal} (log position ${event.position})`);
  if (exit.code === 0) break;
  if (run >= budget) {
    console.log(`[supervisor] giving up after ${budget} restarts`);
    process.exitCode = 1;
    break;
  }
}
