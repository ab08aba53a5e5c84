/**
 * The cgroup v2 backend: one directory in the unified hierarchy. Processes are placed at spawn
 * (clone3 CLONE_INTO_CGROUP through `openForSpawn`), which skips the migration that a write to
 * cgroup.procs pays. Freeze is cgroup.freeze + `frozen 1` in cgroup.events; kill is cgroup.kill.
 * Devices (a BPF program on v2) are not applied: see docs/cgroups.md.
 */
import { constants as fsc, existsSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { RuntimeError, errnoOf, wrapSyscall } from '../../errors.js';
import {
  checkPlanFiles, mkdirLevels, pollUntil, procsRecursive, readCgroupFile, removeCgroup, removeMade, runPlan,
  writeCgroupFile,
} from './fs.js';
import { planV2 } from './resources.js';
import { freezeSignalThaw, SIGKILL } from './signal.js';
import { hugePageSizes, keyValues, statsV2 } from './stats.js';
import type { CgroupManager, FreezerState, OciResources, Stats } from './types.js';
import { validateResources } from './validate.js';

const FREEZE_TIMEOUT_MS = 10_000;

export interface V2Options {
  /** Where hugepage sizes are listed (tests point it elsewhere). */
  hugepagesDir?: string;
}

/** The controllers a parent offers, enabled for its children (runc fs2 CreateCgroupPath). */
function enableControllers(parent: string): void {
  const offered = (readCgroupFile(join(parent, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter((c) => c !== '');
  if (offered.length === 0) return;
  const file = join(parent, 'cgroup.subtree_control');
  try {
    writeCgroupFile(file, offered.map((c) => `+${c}`).join(' '));
  } catch {
    // One at a time, ignoring refusals (a controller may be unavailable here); a resource that
    // needs a missing one fails later naming its file.
    for (const c of offered) {
      try {
        writeCgroupFile(file, `+${c}`);
      } catch {
        // see above
      }
    }
  }
}

export function v2Manager(mount: string, cgroupPath: string, opts: V2Options = {}): CgroupManager {
  const dir = join(mount, cgroupPath);
  const file = (name: string) => join(dir, name);

  const frozen = () => keyValues(readCgroupFile(file('cgroup.events'))).frozen === 1;

  function requireFreezer(): void {
    if (!existsSync(file('cgroup.freeze'))) {
      throw new RuntimeError('SYSCALL', `freeze ${dir}: cgroup.freeze is missing (the cgroup v2 freezer needs Linux 5.2)`);
    }
  }

  const m: CgroupManager = {
    version: 2,
    paths: [dir],

    create(resources) {
      const r = validateResources(resources, 2);
      if (existsSync(dir) && procsRecursive(dir).length > 0) {
        throw new RuntimeError('ILLEGAL_STATE', `cgroup ${dir} already exists and holds processes`);
      }
      const made: string[] = [];
      try {
        mkdirLevels(mount, cgroupPath, made, (parent) => enableControllers(parent));
        if (resources !== undefined) applyChecked(r);
      } catch (e) {
        removeMade(made);
        throw e;
      }
    },

    openForSpawn() {
      try {
        // libuv opens every fd O_CLOEXEC.
        return openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
      } catch (e) {
        throw wrapSyscall(`open ${dir}`, e);
      }
    },

    join(pid) {
      // Spawned into it with CLONE_INTO_CGROUP: already there, no migration to pay.
      if (procsHas(dir, pid)) return;
      writeCgroupFile(file('cgroup.procs'), String(pid));
    },

    apply(resources) {
      applyChecked(validateResources(resources, 2));
    },

    async freeze() {
      requireFreezer();
      writeCgroupFile(file('cgroup.freeze'), '1');
      if (await pollUntil(frozen, FREEZE_TIMEOUT_MS)) return;
      writeCgroupFile(file('cgroup.freeze'), '0'); // never leave it half frozen
      throw new RuntimeError('SYSCALL', `freeze ${dir}: not frozen after ${FREEZE_TIMEOUT_MS} ms`);
    },

    async thaw() {
      requireFreezer();
      writeCgroupFile(file('cgroup.freeze'), '0');
    },

    freezerState(): FreezerState {
      return frozen() ? 'frozen' : 'thawed';
    },

    pids: () => procsRecursive(dir),

    async signalAll(signal) {
      if (signal === SIGKILL && existsSync(file('cgroup.kill'))) {
        const pids = procsRecursive(dir);
        writeCgroupFile(file('cgroup.kill'), '1');
        return pids.length;
      }
      return freezeSignalThaw(m, signal);
    },

    stats(): Stats {
      return statsV2((name) => readCgroupFile(file(name)), pageSizes(opts.hugepagesDir));
    },

    oomKills: () => keyValues(readCgroupFile(file('memory.events'))).oom_kill ?? 0,

    destroy: () => removeCgroup(dir),

    exists: () => existsSync(dir),
  };

  function applyChecked(r: ReturnType<typeof validateResources>): void {
    const plan = planV2(r, { has: (_c, f) => existsSync(file(f)), memoryLimit: () => 0 });
    const pathOf = (w: { file: string }) => file(w.file);
    checkPlanFiles(plan, pathOf);
    runPlan(plan, pathOf);
  }

  return m;
}

/** Is `pid` listed in `dir`'s own cgroup.procs? */
export function procsHas(dir: string, pid: number): boolean {
  return (readCgroupFile(join(dir, 'cgroup.procs')) ?? '').split('\n').includes(String(pid));
}

export function pageSizes(dir = '/sys/kernel/mm/hugepages'): string[] {
  try {
    return hugePageSizes(readdirSync(dir));
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw e;
  }
}
