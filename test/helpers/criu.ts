import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criuPath } from '../../src/effects/criu.js';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';
import { defaultCgroupPath } from '../../src/effects/cgroup.js';

/**
 * criu for the checkpoint tests: the binary berth would use, and why the tests must skip when
 * it cannot work here (`criu check` must say "Looks good.").
 */
export const CRIU = criuPath();

function check(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(CRIU, args, { encoding: 'utf8', timeout: 30_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return { ok: r.status === 0, out: r.error ? r.error.message : out };
}

/** A skip reason when criu is missing or `criu check` does not say "Looks good.", else false. */
export function criuSkip(): string | false {
  const r = check(['check']);
  if (!/Looks good\./.test(r.out)) return `criu (${CRIU}) is not usable here: ${r.out.split('\n').slice(-2).join(' ') || 'no output'} (run scripts/setup-criu.sh)`;
  return false;
}

/** Whether `criu check --feature <f>` passes. */
export function criuHas(feature: string): boolean {
  return check(['check', '--feature', feature]).ok;
}

/** A directory for images (or bind-mounted data), removed by `cleanup`. */
export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A counter: the container's shell keeps `i` in memory and appends each value to /run/log,
 * which is a bind mount of `data` on the host. The shell's memory is what criu saves: a
 * restored counter continues at the next value, a fresh one would start again at 1.
 */
export const COUNTER = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i >> /run/log; echo $i; sleep 0.05; done'];

export function counts(data: string): number[] {
  const file = join(data, 'log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

/** Wait until the counter in `data` has reached at least `n`. */
export async function untilCount(data: string, n: number, timeoutMs = 10_000): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const c = counts(data);
    if ((c.at(-1) ?? 0) >= n) return c;
    if (Date.now() > end) throw new Error(`counter in ${data} stuck at ${c.at(-1) ?? 'nothing'} (waited for ${n})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function consecutive(c: number[], from = 1): boolean {
  return c.every((v, i) => v === from + i);
}

/** criu processes that descend from this test process (none may outlive an operation). */
export function criuProcesses(): string[] {
  const out: string[] = [];
  for (const n of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'latin1');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== 'criu') continue;
      for (let p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), hops = 0; p > 1 && hops < 64; hops++) {
        if (p === process.pid) {
          out.push(`${n} ${comm}`);
          break;
        }
        const s = readFileSync(`/proc/${p}/stat`, 'latin1');
        p = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      }
    } catch {
      // gone
    }
  }
  return out;
}

/** Whether the default cgroup of container `id` on `root` exists in any hierarchy. */
export function cgroupExists(root: string, id: string): boolean {
  const path = defaultCgroupPath(root, id)!;
  const layout = readCgroupLayout();
  return [...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])].some((m) => existsSync(join(m, path)));
}

/** The counter without stdout: for CLI containers, whose stdout is a file of the CLI's. */
export const QUIET_COUNTER = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i >> /run/log; sleep 0.05; done'];
