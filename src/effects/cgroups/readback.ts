/**
 * Reading limits back: which groups of a resources change (memory, cpu, pids …) the kernel
 * shows as written. Reconciliation uses it for an update the runtime was killed in the middle
 * of: the intent is in the log, the outcome is not, and only the cgroup files can say how far
 * it got. The write plan is the one `apply` would run (resources.ts); each file is read and
 * compared as the kernel reports it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { CgroupLayout } from '../cgroupLayout.js';
import { readCgroupFile } from './fs.js';
import { devicesNow } from './devicesV1.js';
import { planV1, planV2, type Write } from './resources.js';
import type { OciResources } from './types.js';
import { validateResources } from './validate.js';

const PAGE = 4096;
/** What cgroup v1 shows for an unlimited memory (or memsw) limit: LONG_MAX rounded down to a page. */
const V1_UNLIMITED = 2n ** 62n;

/** The top-level resources member a planned write comes from (`memory.limit` → `memory`). */
const groupOf = (w: Write): string => w.field.split(/[.[]/)[0] ?? w.field;

/** Whether the file shows `planned`, allowing for how the kernel rounds and spells values. */
function shows(file: string, planned: string, read: string): boolean {
  const got = read.trim();
  if (got === planned) return true;
  if (/^-?\d+$/.test(planned) && /^\d+$/.test(got)) {
    const want = BigInt(planned);
    const have = BigInt(got);
    if (want === -1n) return have >= V1_UNLIMITED;
    // Memory limits are kept in whole pages.
    if (/memory|memsw/.test(file)) return have === (want / BigInt(PAGE)) * BigInt(PAGE);
    return have === want;
  }
  // cpu.max "max 100000" when only the quota was planned.
  if (file === 'cpu.max') return got.split(' ')[0] === planned.split(' ')[0] && (planned.includes(' ') ? got === planned : true);
  return false;
}

/**
 * The part of `change` the cgroup at `cgroupPath` shows: every group whose planned writes all
 * read back as written. Write-only files (devices.allow) and anything unreadable count as not
 * shown, so a group is reported only when the kernel proves it.
 */
export function shownResources(layout: CgroupLayout, cgroupPath: string, change: OciResources): OciResources {
  const v2 = layout.kind === 'v2';
  const dirOf = (ctrl: string): string | undefined => {
    const mount = v2 ? layout.unified ?? undefined : layout.v1[ctrl];
    return mount === undefined ? undefined : join(mount, cgroupPath);
  };
  const has = (ctrl: string, f: string) => {
    const dir = dirOf(ctrl);
    return dir !== undefined && existsSync(join(dir, f));
  };
  const memoryLimit = () => Number((readCgroupFile(join(dirOf('memory') ?? '/nonexistent', 'memory.limit_in_bytes')) ?? '0').trim());
  const r = validateResources(change, v2 ? 2 : 1);
  const plan = v2 ? planV2(r, { has, memoryLimit: () => 0 }) : planV1(r, { has, memoryLimit, devices: () => devicesNow(dirOf('devices')) });
  const verdict = new Map<string, boolean>();
  for (const w of plan) {
    const dir = dirOf(w.ctrl);
    let read: string | undefined;
    try {
      read = dir === undefined ? undefined : readCgroupFile(join(dir, w.file));
    } catch {
      read = undefined; // write-only (EINVAL on read) or unreadable
    }
    if (read === undefined && w.optional) continue;
    const ok = read !== undefined && shows(w.file, w.value, read);
    verdict.set(groupOf(w), (verdict.get(groupOf(w)) ?? true) && ok);
  }
  const out: OciResources = {};
  for (const [key, value] of Object.entries(change)) {
    // A group with nothing to write (all unset) is trivially in force.
    if (verdict.get(key) ?? true) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}
