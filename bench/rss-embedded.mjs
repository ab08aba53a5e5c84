/**
 * Memory of a process that embeds berth: import the library, open one runtime, run `runs`
 * lifecycles of the bundle (create -> start -> wait -> delete, stdio 'ignore'), close.
 * Prints one JSON line with VmRSS/VmHWM (KiB, from /proc/self/status) after each step.
 * bench/lifecycle.bench.ts runs it under /usr/bin/time -v, once with the compiled library
 * (dist/index.js, plain node) and once with the sources (src/index.ts, node --import tsx).
 * With --expose-gc it also reports the heap after a full GC (taken after the RSS readings, so
 * the GC does not lower them), and how many container machines the runtime still holds.
 *
 *   node [--expose-gc] [--import tsx] bench/rss-embedded.mjs <module> <root> <bundle> <runs> <id-prefix>
 *
 * Plain JavaScript so that the dist run carries no TypeScript loader.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, root, bundle, runsArg, prefix] = process.argv.slice(2);
if (!modulePath || !root || !bundle || !runsArg || !prefix) {
  process.stderr.write('usage: rss-embedded.mjs <module> <root> <bundle> <runs> <id-prefix>\n');
  process.exit(2);
}

function mem() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

const out = { start: mem() };
const { openRuntime } = await import(pathToFileURL(modulePath).href);
out.afterImport = mem();
const rt = await openRuntime({ root });
out.afterOpen = mem();
const heapAfterGc = () => {
  if (typeof globalThis.gc !== 'function') return NaN;
  globalThis.gc();
  return Math.round(process.memoryUsage().heapUsed / 1024);
};
out.heapAfterGcKiB = { afterOpen: heapAfterGc() };
let failures = 0;
try {
  for (let i = 0; i < Number(runsArg); i++) {
    const c = await rt.create(`${prefix}-${i}`, { bundle, stdio: 'ignore' });
    await c.start();
    const exit = await c.wait();
    await c.delete();
    if (exit.code !== 0) failures++;
  }
} finally {
  out.afterRuns = mem();
  out.heapAfterGcKiB.afterRuns = heapAfterGc();
  // A diagnostic read of a private field (the runtime's map of live container machines): it
  // shows whether deleted containers are still held. undefined if the field is renamed.
  out.liveActors = rt.live?.size;
  await rt.close();
}
out.final = mem();
out.failures = failures;
process.stdout.write(`${JSON.stringify(out)}\n`);
