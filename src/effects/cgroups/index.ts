/**
 * The cgroup backends. `cgroupManager` picks by the host's layout (src/effects/cgroupLayout.ts):
 * v1 and hybrid → v1.ts (a hybrid's cgroup2 mount has no controllers; it only gets a directory
 * for CLONE_INTO_CGROUP and cgroup.kill), pure v2 → v2.ts. docs/cgroups.md has the details.
 */
import { join } from 'node:path';

import type { CgroupLayout } from '../cgroupLayout.js';
import { v1Manager } from './v1.js';
import { v2Manager, type DeviceSyscalls } from './v2.js';
import type { CgroupManager } from './types.js';

export interface CgroupManagerOptions {
  /**
   * Prefix every mountpoint with this directory: tests run a backend against a plain directory
   * tree that mirrors cgroupfs (`<fsRoot>/sys/fs/cgroup/...`).
   */
  fsRoot?: string;
  /** Where hugepage sizes are listed (default /sys/kernel/mm/hugepages). */
  hugepagesDir?: string;
  /** The bpf syscalls v2 needs for its device controller (a BPF program); without them v2 applies no device rules. */
  sys?: DeviceSyscalls;
}

export function cgroupManager(layout: CgroupLayout, cgroupsPath: string, opts: CgroupManagerOptions = {}): CgroupManager {
  const at = (mount: string) => (opts.fsRoot === undefined ? mount : join(opts.fsRoot, mount));
  const sub = opts.hugepagesDir === undefined ? {} : { hugepagesDir: opts.hugepagesDir };
  if (layout.kind === 'v2') {
    if (layout.unified === null) throw new Error('a v2 layout always has a cgroup2 mount');
    return v2Manager(at(layout.unified), cgroupsPath, opts.sys === undefined ? sub : { ...sub, sys: opts.sys });
  }
  const v1 = Object.fromEntries(Object.entries(layout.v1).map(([c, mp]) => [c, at(mp)]));
  return v1Manager({ kind: layout.kind, v1, unified: layout.unified === null ? null : at(layout.unified) }, cgroupsPath, sub);
}

export { resolveCgroupsPath, expandSlice } from './path.js';
export { validateResources, type Resources } from './validate.js';
export { planV1, planV2, cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2, type Write, type PlanContext } from './resources.js';
export { statsV1, statsV2, hugePageSizes } from './stats.js';
export type { CgroupManager, FreezerState, Stats, MemoryEntry, BlkioEntry } from './types.js';
