import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRuntime } from '/work/wt-d1/src/index.js';
const root = mkdtempSync(join(tmpdir(), 'berth-measure-'));
const rootfs = '/var/tmp/berth-test-rootfs';
const rt = await openRuntime({ root });
const t0 = performance.now();
const c = await rt.containers.create({ name: 'm', rootfs: mkcopy(), command: ['sleep', '1000'] });
const t1 = performance.now();
await c.start();
const copier = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => { try { return readFileSync(`/proc/${p}/stat`, 'utf8').includes('(berth-logs'); } catch { return false; } });
const rss = readFileSync(`/proc/${copier}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS'));
console.log(JSON.stringify({ createMs: Math.round(t1 - t0), copierRss: rss }));
await c.remove({ force: true });
await rt.close();
rmSync(root, { recursive: true, force: true });
function mkcopy() { const d = mkdtempSync(join(tmpdir(), 'berth-measure-rootfs-')); execFileSync('cp', ['-a', `${rootfs}/.`, d]); return d; }
