import { chmodSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { dirname, join } from 'node:path';
import { RuntimeError, SyscallError, errnoOf, wrapSyscall } from '../errors.js';
import type { Created } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import { loadBundle } from './bundle.js';
import type { EffectDeps } from './deps.js';
import { planInit, type InitPlan } from './initPlan.js';
import { readLine } from './pipes.js';
import { encodePlan } from './planWire.js';
import { readProcStat } from './procfs.js';
import { reap } from './reap.js';
import { cgroupPathFor, removeEmptyDefaultParent, withDefaultDevices } from './cgroup.js';
import type { OciResources } from '../machines/spec.js';
import { cgroupManager, type CgroupManager } from './cgroups/index.js';
import type { Spawned } from './syscalls.js';
import { untrack } from './track.js';

/** O_PATH: a handle on the FIFO that neither reads nor writes it (the init reopens it for writing). */
const O_PATH = 0o10000000;
const READY_TIMEOUT_MS = 60_000;
const errnoNames = new Map(Object.entries(osc.errno).map(([name, n]) => [n, name]));

/**
 * create: validate the bundle, plan the init, make the container's cgroup, spawn berth-init
 * into new namespaces (and, on cgroup v2, straight into the cgroup) and wait until it reports
 * READY (blocked on the exec FIFO). Any failure kills what was spawned and removes what was
 * made, so the host is as if create had never been attempted.
 */
export async function createContainer(d: EffectDeps, c: EffectInput): Promise<Created> {
  const id = c.id;
  const { config, rootfs } = loadBundle(c.bundle ?? '');
  const cgroup = cgroupPathFor(d, id, config.linux?.cgroupsPath);
  const plan = planInit(config, { rootfs, bundle: c.bundle ?? '', cgroups: d.cgroups(), kcore: existsSync('/proc/kcore'), cgroup });
  const cg = cgroupManager(d.cgroups(), cgroup, { sys: d.sys });
  const dir = d.paths.containerDir(id);
  try {
    // The log says this id is free, so anything here is debris of an interrupted create.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw wrapSyscall(`create ${id}: make ${dir}`, e);
  }
  let cgroupMade = false;
  try {
    createCgroup(cg, withDefaultDevices(config.linux?.resources));
    cgroupMade = true;
    const spawned = await spawnInit(d, id, plan, cg);
    const stat = readProcStat(spawned.pid);
    if (stat === null) {
      await killAndReap(d, spawned.pidfd);
      throw new RuntimeError('SYSCALL', `create ${id}: init exited right after it was ready`, { step: 'READY' });
    }
    untrack(d, id); // an earlier incarnation's, deleted by another process
    d.procs.set(id, { pid: spawned.pid, pidfd: spawned.pidfd, startTime: stat.startTime, child: true });
    if (c.pidFile) writePidFile(c.pidFile, spawned.pid);
    d.log.debug({ id, pid: spawned.pid, cgroup }, 'container created');
    return { type: 'Created', pid: spawned.pid, startTime: stat.startTime, created: new Date().toISOString(), rootfs, config, cgroup };
  } catch (e) {
    d.procs.delete(id);
    if (cgroupMade) await cg.destroy().catch(() => undefined);
    removeEmptyDefaultParent(d, cgroup);
    rmSync(dir, { recursive: true, force: true });
    throw e instanceof RuntimeError ? e : wrapSyscall(`create ${id}`, e);
  }
}

/** A delete emptying the shared default parent may rmdir it between our mkdirs: try again. */
function createCgroup(cg: CgroupManager, resources: OciResources): void {
  try {
    cg.create(resources);
  } catch (e) {
    if (errnoOf((e as { cause?: unknown }).cause) !== 'ENOENT') throw e;
    cg.create(resources);
  }
}

/**
 * Spawn berth-init with its fds in place (stdio, plan, status pipe, exec FIFO) and wait for its
 * one report. On cgroup v1 the init joins the cgroup here, long before its user process can run.
 * A failure after the spawn kills and reaps the helper before it is reported.
 */
async function spawnInit(d: EffectDeps, id: string, plan: InitPlan, cg: CgroupManager): Promise<Spawned> {
  const stdio = d.stdioFor(id);
  const childEnds: number[] = [];
  const closeAll = (fds: number[]) => { for (const fd of fds.splice(0)) closeQuietly(d, fd); };
  let statusR = -1;
  let spawned: Spawned;
  try {
    const fifo = d.paths.execFifo(id);
    // 0622 as runc: the init reopens it for writing after switching to the container's user.
    d.sys.mkfifo(fifo, 0o622);
    chmodSync(fifo, 0o622);
    const fifoFd = openSync(fifo, O_PATH);
    childEnds.push(fifoFd);
    const [r, statusW] = d.sys.pipe();
    statusR = r;
    childEnds.push(statusW);
    const planFd = d.sys.memfdCreate('berth-plan');
    childEnds.push(planFd);
    writeSync(planFd, encodePlan(plan.ops));
    const cgroupFd = cg.openForSpawn();
    if (cgroupFd !== null) childEnds.push(cgroupFd);
    spawned = d.sys.spawn({
      exe: d.helperFd(),
      argv: ['berth-init', id],
      env: [],
      flags: plan.cloneFlags,
      fds: [...stdio.fds, planFd, statusW, fifoFd],
      cgroupFd: cgroupFd ?? -1,
    });
  } catch (e) {
    if (statusR >= 0) closeQuietly(d, statusR);
    throw e;
  } finally {
    closeAll(childEnds);
    closeAll(stdio.owned);
  }
  // readLine owns the status pipe from here: it closes it on the report, EOF or timeout.
  const report = readLine(statusR, READY_TIMEOUT_MS);
  try {
    await cg.join(spawned.pid);
    const line = await report;
    if (line !== 'READY') throw initFailure(id, line);
    return spawned;
  } catch (e) {
    await killAndReap(d, spawned.pidfd);
    await report.catch(() => undefined);
    throw e;
  }
}

/** Turn the helper's `ERR <op> <errno> <detail>` line into a coded error naming the step. */
function initFailure(id: string, line: string | null): RuntimeError {
  if (line === null) return new RuntimeError('SYSCALL', `create ${id}: init helper exited without reporting`, { step: 'INIT' });
  const m = /^ERR (\S+) (\d+) ?(.*)$/.exec(line);
  if (!m) return new RuntimeError('INTERNAL', `create ${id}: unexpected report from init helper: ${line.slice(0, 200)}`);
  const [, op = '', errnoStr = '0', detail = ''] = m;
  const errno = Number(errnoStr);
  const errnoName = errnoNames.get(errno) ?? `errno ${errno}`;
  const what = `${op.toLowerCase().replace(/_/g, ' ')}${detail ? ` ${detail}` : ''}`;
  if (op === 'EXEC' && (errnoName === 'ENOENT' || errnoName === 'EACCES')) {
    const why = errnoName === 'ENOENT' ? 'executable file not found in $PATH' : 'permission denied';
    return new RuntimeError('INVALID_CONFIG', `create ${id}: exec ${detail}: ${why}`, { field: 'process.args', step: op });
  }
  if (op === 'CWD') {
    return new RuntimeError('INVALID_CONFIG', `create ${id}: cwd ${detail}: ${errnoName}`, { field: 'process.cwd', step: op });
  }
  return new SyscallError(`create ${id}: ${what}: ${errnoName}`, { errnoName, errno, syscall: op.toLowerCase() }, { step: op });
}

function writePidFile(path: string, pid: number): void {
  // Written whole then renamed, so a reader never sees a partial pid (runc does the same).
  const tmp = join(dirname(path), `.${process.pid}.pid.tmp`);
  writeFileSync(tmp, String(pid), { mode: 0o644 });
  renameSync(tmp, path);
}

export async function killAndReap(d: EffectDeps, pidfd: number): Promise<void> {
  try {
    d.sys.pidfdSendSignal(pidfd, osc.signals.SIGKILL);
  } catch {
    // already gone
  }
  await reap(d, { pidfd });
  closeQuietly(d, pidfd);
}

export function closeQuietly(d: EffectDeps, fd: number): void {
  try {
    d.sys.close(fd);
  } catch {
    // closing is best effort on cleanup paths
  }
}

