/**
 * An audit tool: prints a container's full history from the log, then replays the log to a
 * past moment and shows the state the container was in then — whether or not it still
 * exists, and without asking the kernel anything.
 *
 *   node --import tsx examples/audit.ts <id> [--root DIR] [--at VERSION]
 */
import { parseArgs } from 'node:util';
import { isRuntimeError, openRuntime } from 'berth';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { root: { type: 'string' }, at: { type: 'string' } },
});
const [id] = positionals;
if (id === undefined) {
  console.error('usage: audit.ts <id> [--root DIR] [--at VERSION]');
  process.exit(2);
}

await using rt = await openRuntime({ root: values.root, serve: false });
const history = await rt.history(id).catch((e: unknown) => {
  // Errors are coded: NOT_EXISTS is "no such container in this log", anything else is real.
  if (isRuntimeError(e) && e.code === 'NOT_EXISTS') {
    console.error(`no history for ${id}`);
    process.exit(4);
  }
  throw e;
});
for (const e of history) {
  // The Created fact carries the whole config: show its first part only.
  const data = JSON.stringify(e.data);
  console.log(`${String(e.version).padStart(4)}  ${e.at}  ${e.type.padEnd(16)} ${data.length > 120 ? `${data.slice(0, 117)}...` : data}`);
}
// Default: the middle of the history, a moment that is usually neither the first nor the last.
const at = values.at !== undefined ? Number(values.at) : history[Math.floor((history.length - 1) / 2)]!.version;
const then = await rt.replay(id, { at });
console.log(`\nat version ${at}: ${then === null ? 'did not exist' : `${then.state} (oci: ${then.status}, pid ${then.pid})`}`);
