/**
 * Run one container and stream its state: every committed state change is printed as it
 * happens, from the log, with no polling.
 *
 *   node --import tsx examples/run-and-watch.ts <bundle> [id] [--root DIR]
 */
import { parseArgs } from 'node:util';
import { openRuntime } from 'berth';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { root: { type: 'string' } } });
const [bundle, id = `watch-${process.pid}`] = positionals;
if (bundle === undefined) {
  console.error('usage: run-and-watch.ts <bundle> [id] [--root DIR]');
  process.exit(2);
}

await using rt = await openRuntime({ root: values.root });
const c = await rt.create(id, { bundle, stdio: 'pipe' });
c.stdio.stdout?.pipe(process.stdout);
c.stdio.stderr?.pipe(process.stderr);
const watching = c.state$.subscribe((s) => console.log(`[state] ${s.state} (oci: ${s.status}, pid ${s.pid})`));

await c.start();
const exit = await c.wait();
console.log(`[exit] code ${exit.code} signal ${exit.signal}`);
await c.delete();
watching.unsubscribe();
process.exitCode = exit.code ?? 1;
