/**
 * The cgroup v2 backend: one directory in the unified hierarchy. Processes are placed at spawn
 * (clone3 CLONE_INTO_CGROUP through `openForSpawn`), which skips the migration that a write to
 * cgroup.procs pays. Freeze is cgroup.freeze + `frozen 1` in cgroup.events; kill is cgroup.kill.
 * Devices are a BPF_PROG_TYPE_CGROUP_DEVICE program (devices.ts) attached to the directory when
 * the manager has the Syscalls seam (`sys`); see docs/cgroups.md.
 */
import { closeSync, constants as fsc, existsSync, openSync, readdirSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

import { RuntimeError, errnoOf, wrapSyscall } from '../../errors.js';
import {
  checkPlanFiles, mkdirLevels, pollUntil, procsRecursive, readCgroupFile, removeCgroup, removeMade, runPlan,
  writeCgroupFile, writeCgroupFileAsync,
} from './fs.js';
import { planV2 } from './resources.js';
import { freezeSignalThaw, SIGKILL } from './signal.js';
import { hugePageSizes, keyValues, statsV2 } from './stats.js';
import type { CgroupManager, FreezerState, Stats } from './types.js';
import { validateResources, type DeviceRule } from './validate.js';
import { BPF_F_ALLOW_MULTI, DEVICE_FILTER_LICENSE, deviceFilter } from './devices.js';
import type { Syscalls } from '../syscalls.js';

const FREEZE_TIMEOUT_MS = 10_000;

/** What the v2 device controller needs of the Syscalls seam. */
export type DeviceSyscalls = Pick<Syscalls, 'bpfProgLoadDevice' | 'bpfProgAttach' | 'bpfProgDetach' | 'bpfProgQueryDevice' | 'bpfProgGetFdById' | 'close'>;

export interface V2Options {
  /** Where hugepage sizes are listed (tests point it elsewhere). */
  hugepagesDir?: string;
  /**
   * The syscalls for the device controller (a BPF program). Without it `devices` rules are not
   * applied (the old no-op).
   */
  sys?: DeviceSyscalls;
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

    async join(pid) {
      // Spawned into it with CLONE_INTO_CGROUP: already there, no migration to pay.
      if (procsHas(dir, pid)) return;
      await writeCgroupFileAsync(file('cgroup.procs'), String(pid));
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
    const devices = devicesProgram(r.devices);
    runPlan(plan, pathOf);
    if (devices !== null) applyDevices(devices);
  }

  /** The rules' program, built before anything is written; null when there is nothing to attach. */
  function devicesProgram(rules: DeviceRule[]): Buffer | null {
    if (opts.sys === undefined || rules.length === 0) return null;
    try {
      return deviceFilter(rules, endianness());
    } catch (e) {
      throw new RuntimeError('INVALID_CONFIG', `invalid config: linux.resources.devices: ${(e as Error).message}`, { field: 'linux.resources.devices' });
    }
  }

  /**
   * Load the rules' program and attach it (BPF_F_ALLOW_MULTI, as runc), then detach every other
   * device program attached to this directory itself, found with BPF_PROG_QUERY: the cgroup is
   * the only record of what berth attached before (no state to lose or go stale), and, as runc,
   * berth owns the container's own cgroup. Between the attach and the detaches both programs
   * run and a device must pass both, so the update is never more permissive than either list.
   * No rules (or no `sys`): nothing is loaded and a program already attached stays.
   */
  function applyDevices(insns: Buffer): void {
    const sys = opts.sys!;
    let cg: number;
    try {
      cg = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    } catch (e) {
      throw wrapSyscall(`open ${dir}`, e);
    }
    try {
      const old = sys.bpfProgQueryDevice(cg);
      const prog = sys.bpfProgLoadDevice(insns, DEVICE_FILTER_LICENSE);
      try {
        sys.bpfProgAttach(prog, cg, BPF_F_ALLOW_MULTI);
      } finally {
        sys.close(prog); // the cgroup holds its own reference
      }
      for (const id of old) detachDeviceProgram(sys, id, cg);
    } catch (e) {
      const err = e as { syscall?: string; message?: string };
      const verifier = /\(verifier: .*\)$/.exec(err.message ?? '')?.[0];
      const what = `devices ${dir}: ${err.syscall ?? 'bpf'}${verifier === undefined ? '' : ` ${verifier}`}`;
      throw wrapSyscall(what, e, { field: 'linux.resources.devices' });
    } finally {
      closeSync(cg);
    }
  }

  return m;
}

/** Detach program `id` from the cgroup `cg`; one already gone (unloaded or detached meanwhile) is fine. */
function detachDeviceProgram(sys: DeviceSyscalls, id: number, cg: number): void {
  let fd: number;
  try {
    fd = sys.bpfProgGetFdById(id);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  try {
    sys.bpfProgDetach(fd, cg);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  } finally {
    sys.close(fd);
  }
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
