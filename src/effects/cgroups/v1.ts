/**
 * The cgroup v1 backend, for v1 and hybrid hosts: one directory per mounted hierarchy
 * (co-mounted controllers share one). On a hybrid host the cgroup2 mount has no controllers,
 * but it has cgroup.kill and takes CLONE_INTO_CGROUP, so the container gets a directory there
 * too (as runc's fs manager does) and is spawned into it; the v1 hierarchies are joined by
 * writing cgroup.procs before the container's process runs. Freeze uses the v1 freezer.
 */
import { constants as fsc, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';

import { RuntimeError, errnoOf, wrapSyscall } from '../../errors.js';
import type { CgroupLayout } from '../cgroupLayout.js';
import {
  checkPlanFiles, mkdirLevels, procsRecursive, readCgroupFile, removeCgroup, removeMade, runPlan, writeCgroupFile, writeCgroupFileAsync,
} from './fs.js';
import { devicesNow } from './devicesV1.js';
import { planV1, type Write } from './resources.js';
import { freezeSignalThaw, SIGKILL } from './signal.js';
import { keyValues, statsV1 } from './stats.js';
import type { CgroupManager, FreezerState, Stats } from './types.js';
import { pageSizes, procsHas } from './v2.js';
import { validateResources } from './validate.js';

export interface V1Options {
  hugepagesDir?: string;
}

/**
 * A new cpuset has empty cpus and mems and refuses tasks until they are set: copy them down
 * from the parent at every level (runc fs/cpuset.go ensureParent/copyIfNeeded).
 */
function fillCpuset(mount: string, cgroupPath: string): void {
  let parent = mount;
  for (const part of cgroupPath.split('/').filter((p) => p !== '')) {
    const dir = join(parent, part);
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if ((readCgroupFile(join(dir, f)) ?? '').trim() !== '') continue;
      const value = (readCgroupFile(join(parent, f)) ?? '').trim();
      if (value !== '') writeCgroupFile(join(dir, f), value);
    }
    parent = dir;
  }
}

export function v1Manager(layout: CgroupLayout, cgroupPath: string, opts: V1Options = {}): CgroupManager {
  const mounts = [...new Set(Object.values(layout.v1))];
  const ctrlDir = (ctrl: string): string | undefined => {
    const mount = layout.v1[ctrl];
    return mount === undefined ? undefined : join(mount, cgroupPath);
  };
  const unifiedDir = layout.kind === 'hybrid' && layout.unified !== null ? join(layout.unified, cgroupPath) : undefined;
  const paths = [...mounts.map((mp) => join(mp, cgroupPath)), ...(unifiedDir === undefined ? [] : [unifiedDir])];

  function need(ctrl: string): string {
    const dir = ctrlDir(ctrl);
    if (dir === undefined) throw new RuntimeError('SYSCALL', `cgroup ${cgroupPath}: the ${ctrl} hierarchy is not mounted`);
    return dir;
  }

  function applyChecked(r: ReturnType<typeof validateResources>): void {
    const has = (ctrl: string, f: string) => {
      const dir = ctrlDir(ctrl);
      return dir !== undefined && existsSync(join(dir, f));
    };
    const memoryLimit = () => Number((readCgroupFile(join(need('memory'), 'memory.limit_in_bytes')) ?? '0').trim());
    const plan = planV1(r, { has, memoryLimit, devices: () => devicesNow(ctrlDir('devices')) });
    const pathOf = (w: Write) => {
      const dir = ctrlDir(w.ctrl);
      return dir === undefined ? undefined : join(dir, w.file);
    };
    checkPlanFiles(plan, pathOf);
    runPlan(plan, (w) => pathOf(w)!);
  }

  const freezerFile = () => join(need('freezer'), 'freezer.state');
  const freezerNow = () => (readCgroupFile(freezerFile()) ?? '').trim();

  const m: CgroupManager = {
    version: 1,
    paths,

    create(resources) {
      const r = validateResources(resources, 1);
      for (const p of paths) {
        if (existsSync(p) && procsRecursive(p).length > 0) {
          throw new RuntimeError('ILLEGAL_STATE', `cgroup ${p} already exists and holds processes`);
        }
      }
      const made: string[] = [];
      try {
        for (const mount of mounts) mkdirLevels(mount, cgroupPath, made);
        if (layout.v1.cpuset !== undefined) fillCpuset(layout.v1.cpuset, cgroupPath);
        if (unifiedDir !== undefined) mkdirLevels(layout.unified!, cgroupPath, made);
        if (resources !== undefined) applyChecked(r);
      } catch (e) {
        removeMade(made);
        throw e;
      }
    },

    openForSpawn() {
      if (unifiedDir === undefined) return null;
      try {
        return openSync(unifiedDir, fsc.O_RDONLY | fsc.O_DIRECTORY); // O_CLOEXEC: libuv adds it
      } catch (e) {
        throw wrapSyscall(`open ${unifiedDir}`, e);
      }
    },

    async join(pid) {
      // Each write to cgroup.procs is a migration the kernel makes wait (an RCU grace period
      // on a cold hierarchy, 6-16 ms here): skip the hierarchies the process is already in,
      // and write from the threadpool so the embedder's event loop never waits for it.
      for (const dir of paths) {
        if (!procsHas(dir, pid)) await writeCgroupFileAsync(join(dir, 'cgroup.procs'), String(pid));
      }
    },

    apply(resources) {
      applyChecked(validateResources(resources, 1));
    },

    async freeze() {
      // runc fs/freezer.go: FREEZING may stick while tasks keep forking; retry, with an
      // occasional thaw, and never leave it half frozen.
      const file = freezerFile();
      for (let i = 0; i < 1000; i++) {
        if (i % 50 === 49) {
          writeCgroupFile(file, 'THAWED');
          await sleep(10);
        }
        writeCgroupFile(file, 'FROZEN');
        const state = freezerNow();
        if (state === 'FROZEN') return;
        if (state !== 'FREEZING') throw new RuntimeError('SYSCALL', `freeze ${file}: unexpected state ${JSON.stringify(state)}`);
        await (i < 25 ? yieldLoop() : sleep(1));
      }
      writeCgroupFile(file, 'THAWED');
      throw new RuntimeError('SYSCALL', `freeze ${file}: stuck in FREEZING, thawed again`);
    },

    async thaw() {
      writeCgroupFile(freezerFile(), 'THAWED');
    },

    freezerState(): FreezerState {
      return freezerNow() === 'FROZEN' ? 'frozen' : 'thawed';
    },

    pids() {
      const ctrl = ['pids', 'freezer', 'memory'].find((c) => layout.v1[c] !== undefined);
      const dir = ctrl !== undefined ? ctrlDir(ctrl) : paths[0];
      return dir === undefined ? [] : procsRecursive(dir);
    },

    async signalAll(signal) {
      if (signal !== SIGKILL || unifiedDir === undefined || !existsSync(join(unifiedDir, 'cgroup.kill'))) {
        return freezeSignalThaw(m, signal);
      }
      const pids = m.pids();
      const inUnified = new Set(procsRecursive(unifiedDir));
      const wasFrozen = layout.v1.freezer !== undefined && m.freezerState() === 'frozen';
      writeCgroupFile(join(unifiedDir, 'cgroup.kill'), '1');
      // A process that joined only the v1 hierarchies is not reached by cgroup.kill.
      for (const pid of pids) {
        if (inUnified.has(pid)) continue;
        try {
          process.kill(pid, SIGKILL);
        } catch (e) {
          if (errnoOf(e) !== 'ESRCH') throw e;
        }
      }
      if (wasFrozen) await m.thaw(); // v1-frozen tasks die only once thawed
      return pids.length;
    },

    stats(): Stats {
      const read = (ctrl: string, f: string) => {
        const dir = ctrlDir(ctrl);
        return dir === undefined ? undefined : readCgroupFile(join(dir, f));
      };
      return statsV1(read, pageSizes(opts.hugepagesDir));
    },

    oomKills() {
      const dir = ctrlDir('memory');
      return dir === undefined ? 0 : keyValues(readCgroupFile(join(dir, 'memory.oom_control'))).oom_kill ?? 0;
    },

    async destroy() {
      let first: unknown;
      for (const p of paths) {
        try {
          await removeCgroup(p);
        } catch (e) {
          first ??= e;
        }
      }
      if (first !== undefined) throw first;
    },

    exists: () => paths.some((p) => existsSync(p)),
  };
  return m;
}
