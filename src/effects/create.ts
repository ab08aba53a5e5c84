import { chmodSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { dirname, join } from 'node:path';
import { RuntimeError, SyscallError, errnoOf, wrapSyscall } from '../errors.js';
import type { Created } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import { loadBundle } from './bundle.js';
import type { EffectDeps } from './deps.js';
import { goAhead } from './pipes.js';
import { CONTINUE_FD, planInit, type InitPlan } from './initPlan.js';
import { createContainerBudgetMs, ociState } from './hookPlan.js';
import { checkHooks, helperHookFailure, hookCwd, runHooks, runHooksWarning } from './hooks.js';
import { hostLsm } from './lsm.js';
import { adoptForked } from './helperReport.js';
import { checkHostNamespaces, openNamespaces } from './namespaces.js';
import { encodePlan } from './planWire.js';
import { statusLines } from './statusLines.js';
import { readProcStat } from './procfs.js';
import { reap } from './reap.js';
import { cgroupPathFor, removeEmptyDefaultParent, withDefaultDevices } from './cgroup.js';
import type { OciConfig, OciResources } from '../machines/spec.js';
import { cgroupManager, type CgroupManager } from './cgroups/index.js';
import type { Spawned } from './syscalls.js';
import { ControlChannel } from './control.js';
import { deliverConsole, prepareConsole } from './console.js';
import { prepareSeccompListener, type SeccompListener } from './seccompListener.js';
import { checkHostDevices, prepareIdmappedMounts, writeIdMaps } from './userns.js';
import { cgroupOwner, delegateCgroup, delegatedFiles } from './cgroupOwner.js';
import { knownProcess, untrack } from './track.js';

/** O_PATH: a handle on the FIFO that neither reads nor writes it (the init reopens it for writing). */
const O_PATH = 0o10000000;
const READY_TIMEOUT_MS = 60_000;
const errnoNames = new Map(Object.entries(osc.errno).map(([name, n]) => [n, name]));

/**
 * create: validate the bundle, plan the init, make the container's cgroup, spawn berth-init
 * into new namespaces (and, on cgroup v2, straight into the cgroup) and wait until it reports
 * READY (blocked on the exec FIFO); prestart and createRuntime hooks run when it stops at
 * HOOKS_SYNC. Any failure kills what was spawned and removes what was made, so the host is as
 * if create had never been attempted; then, as runc's destroy does (runtime.md "Lifecycle":
 * a failed create hook continues at steps 12 and 13), the poststop hooks run.
 */
export async function createContainer(d: EffectDeps, c: EffectInput): Promise<Created> {
  const id = c.id;
  const bundle = c.bundle ?? '';
  const { config, rootfs } = loadBundle(bundle);
  checkHooks(config);
  const cgroup = cgroupPathFor(d, id, config.linux?.cgroupsPath);
  checkHostNamespaces(config);
  const plan = planInit(config, { rootfs, bundle, cgroups: d.cgroups(), kcore: existsSync('/proc/kcore'), cgroup, id, lsm: hostLsm() });
  if (plan.userns !== null) checkHostDevices(config);
  const cg = cgroupManager(d.cgroups(), cgroup, { sys: d.sys });
  const term = prepareConsole(d.sys, `create ${id}`, config.process, d.consoleFor(id));
  const dir = d.paths.containerDir(id);
  let cgroupMade = false;
  let ctl: ControlChannel | null = null;
  let listener: SeccompListener | null = null;
  try {
    listener = prepareSeccompListener(d.sys, `create ${id}`, config);
    // The log says this id is free, so anything here is debris of an interrupted create, and a
    // pidfd this process still holds for the id is an earlier incarnation's.
    rmSync(dir, { recursive: true, force: true });
    knownProcess(d, { id, pid: null, startTime: null });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    createCgroup(cg, withDefaultDevices(config.linux?.resources));
    cgroupMade = true;
    const owner = cgroupOwner(config, d.cgroups());
    if (owner !== null) delegateCgroup(join(d.cgroups().unified ?? '', cgroup), owner, delegatedFiles());
    ctl = new ControlChannel(d.sys);
    const mountFds = await prepareIdmappedMounts(d, id, plan.idmapped);
    d.crash('create:cgroup');
    const spawned = await spawnInit(d, id, plan, cg, ctl, mountFds, { id, bundle, config });
    const stat = readProcStat(spawned.pid);
    if (stat === null) {
      await killAndReap(d, spawned.pidfd);
      throw new RuntimeError('SYSCALL', `create ${id}: init exited right after it was ready`, { step: 'READY' });
    }
    untrack(d, id); // an earlier incarnation's, deleted by another process
    d.procs.set(id, { pid: spawned.pid, pidfd: spawned.pidfd, startTime: stat.startTime, child: true });
    if (c.pidFile) writePidFile(c.pidFile, spawned.pid);
    deliverConsole(`create ${id}`, config.process, ctl, term);
    listener.deliver(ctl, spawned.pid, ociState({ id, bundle, config }, 'creating', spawned.pid));
    ctl.close();
    d.log.debug({ id, pid: spawned.pid, cgroup }, 'container created');
    return { type: 'Created', pid: spawned.pid, startTime: stat.startTime, created: new Date().toISOString(), rootfs, config, cgroup };
  } catch (e) {
    ctl?.close();
    term.close();
    listener?.close();
    d.procs.delete(id);
    if (cgroupMade) await cg.destroy().catch(() => undefined);
    removeEmptyDefaultParent(d, cgroup);
    rmSync(dir, { recursive: true, force: true });
    await runHooksWarning('poststop', config, ociState({ id, bundle, config }, 'stopped'), `create ${id}`, hookCwd(bundle), d.log);
    throw e instanceof RuntimeError ? e : wrapSyscall(`create ${id}`, e);
  }
}

/** A delete emptying the shared default parent may rmdir it between our mkdirs: try again. */
export function createCgroup(cg: CgroupManager, resources: OciResources): void {
  try {
    cg.create(resources);
  } catch (e) {
    if (errnoOf((e as { cause?: unknown }).cause) !== 'ENOENT') throw e;
    cg.create(resources);
  }
}

/**
 * Spawn berth-init with its fds in place (stdio, plan, status pipe, exec FIFO, control socket at
 * fd 6, the hooks' go-ahead pipe at fd 7 when the plan has HOOKS_SYNC, the idmapped mounts'
 * fds (`mountFds`, closed here) from fd 8, then the namespaces to join) and wait for its report;
 * then read what it sent on the control socket. On cgroup v1 the init joins the cgroup here,
 * before any hook runs or its user process can. With a user namespace, its maps are written
 * while the helper waits before execveat. A plan that forks reports the init's pid first
 * ("PID <n>"): that process is the container's init and joins the cgroup. A failure after the
 * spawn kills and reaps the helper (or the forked init) before it is reported.
 */
async function spawnInit(d: EffectDeps, id: string, plan: InitPlan, cg: CgroupManager, ctl: ControlChannel, mountFds: number[], hooks: HookSource): Promise<Spawned> {
  const stdio = d.stdioFor(id);
  const userns = plan.userns;
  const childEnds: number[] = [...mountFds];
  const closeAll = (fds: number[]) => { for (const fd of fds.splice(0)) closeQuietly(d, fd); };
  const sync = plan.ops.some((o) => o.op === 'HOOKS_SYNC');
  // WAIT: the init makes its cgroup namespace once it is in its cgroups (nsPlan.ts deferCgroupNamespace).
  const joinSync = plan.ops.some((o) => o.op === 'WAIT');
  let statusR = -1;
  let goPipe = -1;
  let spawned: Spawned;
  try {
    const fifo = d.paths.execFifo(id);
    // 0622 as runc: the init reopens it for writing after switching to the container's user.
    d.sys.mkfifo(fifo, 0o622);
    chmodSync(fifo, 0o622);
    d.crash('create:fifo');
    const fifoFd = openSync(fifo, O_PATH);
    childEnds.push(fifoFd);
    const [r, statusW] = d.sys.pipe();
    statusR = r;
    childEnds.push(statusW);
    const planFd = d.sys.memfdCreate('berth-plan');
    childEnds.push(planFd);
    writeSync(planFd, encodePlan(plan.ops));
    const fds = [...stdio.fds, planFd, statusW, fifoFd, ctl.theirs];
    if (sync || joinSync) {
      const [goR, goW] = d.sys.pipe();
      goPipe = goW;
      childEnds.push(goR);
      if (fds.length !== CONTINUE_FD) throw new RuntimeError('INTERNAL', `create ${id}: the go-ahead pipe must land on fd ${CONTINUE_FD}`);
      fds.push(goR);
    }
    // From FIRST_EXTRA_FD: the idmapped mounts, then the namespaces to join (plan.nsFdBase);
    // fd 7 stays closed (-1) when there are no hooks to wait for.
    const nsFds = openNamespaces(d.sys, plan.joins);
    childEnds.push(...nsFds);
    const extra = [...mountFds, ...nsFds];
    if (extra.length > 0) fds.push(...(goPipe >= 0 ? [] : [-1]), ...extra);
    const cgroupFd = cg.openForSpawn();
    if (cgroupFd !== null) childEnds.push(cgroupFd);
    spawned = d.sys.spawn({
      exe: d.helperFd(),
      argv: ['berth-init', id],
      env: [],
      flags: plan.cloneFlags,
      fds,
      cgroupFd: cgroupFd ?? -1,
      ...(userns !== null ? { beforeExec: (pid: number) => writeIdMaps(pid, userns) } : {}),
    });
  } catch (e) {
    if (statusR >= 0) closeQuietly(d, statusR);
    if (goPipe >= 0) closeQuietly(d, goPipe);
    throw e;
  } finally {
    closeAll(childEnds);
    closeAll(stdio.owned);
    ctl.releaseTheirs();
  }
  d.crash('create:spawned');
  // From here statusLines owns the status pipe (closed below); a line is read as it comes.
  const status = statusLines(statusR);
  const budget = createContainerBudgetMs(hooks.config);
  const lastWait = budget === null ? null : READY_TIMEOUT_MS + budget;
  let init = spawned;
  try {
    let line: string | null;
    if (plan.ops.some((o) => o.op === 'FORK')) {
      line = await status.next(READY_TIMEOUT_MS);
      const child = await adoptForked(d, spawned, line);
      if (child !== null) {
        init = child;
        await cg.join(child.pid);
        if (joinSync) goAhead(goPipe);
        line = await status.next(sync ? READY_TIMEOUT_MS : lastWait);
      }
    } else {
      await cg.join(spawned.pid);
      if (joinSync) goAhead(goPipe);
      line = await status.next(sync ? READY_TIMEOUT_MS : lastWait);
    }
    if (sync && line === 'HOOKS') {
      await runCreateHooks(hooks, init.pid);
      writeSync(goPipe, 'C');
      closeQuietly(d, goPipe);
      goPipe = -1;
      line = await status.next(lastWait);
    }
    if (line !== 'READY') throw initFailure(`create ${id}`, line, (op, detail) => setnsField(plan, op, detail));
    ctl.drain();
    d.crash('create:ready');
    return init;
  } catch (e) {
    await killAndReap(d, init.pidfd);
    throw e;
  } finally {
    status.close();
    if (goPipe >= 0) closeQuietly(d, goPipe);
  }
}

interface HookSource { id: string; bundle: string; config: OciConfig }

/** prestart, then createRuntime: the runtime namespace, the init's host pid, status creating. */
async function runCreateHooks(h: HookSource, pid: number): Promise<void> {
  const state = ociState(h, 'creating', pid);
  const what = `create ${h.id}`;
  await runHooks('prestart', h.config, state, what, hookCwd(h.bundle));
  await runHooks('createRuntime', h.config, state, what, hookCwd(h.bundle));
}

/** A failed SETNS names the fd it joined: the namespace field that gave the path. */
function setnsField(plan: InitPlan, op: string, detail: string): string | undefined {
  const fd = /^setns fd (\d+)$/.exec(detail)?.[1];
  return op === 'SETNS' && fd !== undefined ? plan.joins[Number(fd) - plan.nsFdBase]?.field : undefined;
}

/**
 * Turn the helper's `ERR <op> <errno> <detail>` line into a coded error naming the step; `what`
 * is the operation (`create web`, `exec web`), `fieldOf` may name the config field of a step.
 */
export function initFailure(what: string, line: string | null, fieldOf?: (op: string, detail: string) => string | undefined): RuntimeError {
  if (line === null) return new RuntimeError('SYSCALL', `${what}: init helper exited without reporting`, { step: 'INIT' });
  const m = /^ERR (\S+) (\d+) ?(.*)$/.exec(line);
  if (!m) return new RuntimeError('INTERNAL', `${what}: unexpected report from init helper: ${line.slice(0, 200)}`);
  const [, op = '', errnoStr = '0', detail = ''] = m;
  const errno = Number(errnoStr);
  const errnoName = errnoNames.get(errno) ?? `errno ${errno}`;
  const step = `${op.toLowerCase().replace(/_/g, ' ')}${detail ? ` ${detail}` : ''}`;
  if (op === 'HOOK') return helperHookFailure(what, errno, detail);
  if (op === 'MASK' && detail.startsWith('verify /dev/null')) {
    return new RuntimeError('INVALID_CONFIG', `${what}: linux.maskedPaths: the container's /dev/null must be the character device 1:3 (${errnoName})`, { field: 'linux.maskedPaths', step: op });
  }
  if ((op === 'EXEC' || op === 'EXEC_NOW') && (errnoName === 'ENOENT' || errnoName === 'EACCES')) {
    const why = errnoName === 'ENOENT' ? 'executable file not found in $PATH' : 'permission denied';
    return new RuntimeError('INVALID_CONFIG', `${what}: exec ${detail}: ${why}`, { field: 'process.args', step: op });
  }
  if (op === 'TERMINAL' && (errnoName === 'ENODEV' || errnoName === 'ENOENT')) {
    const why = `${detail}: ${errnoName} (a terminal needs a devpts mount at /dev/pts)`;
    return new RuntimeError('INVALID_CONFIG', `${what}: terminal: ${why}`, { field: 'process.terminal', step: op });
  }
  if (op === 'CWD') {
    return new RuntimeError('INVALID_CONFIG', `${what}: cwd ${detail}: ${errnoName}`, { field: 'process.cwd', step: op });
  }
  // libseccomp refused what the validator let through: an architecture of the other byte order, a condition it cannot express
  const seccompField = { SECCOMP_ARCH: 'linux.seccomp.architectures', SECCOMP_RULE: 'linux.seccomp.syscalls' }[op];
  if (seccompField !== undefined && ['EINVAL', 'EDOM', 'EACCES', 'EOPNOTSUPP'].includes(errnoName)) {
    return new RuntimeError('INVALID_CONFIG', `${what}: seccomp: ${detail}: ${errnoName}`, { field: seccompField, step: op });
  }
  const field = fieldOf?.(op, detail);
  return new SyscallError(`${what}: ${step}${field ? ` (${field})` : ''}: ${errnoName}`, { errnoName, errno, syscall: op.toLowerCase() },
    { step: op, ...(field ? { field } : {}) });
}

export function writePidFile(path: string, pid: number): void {
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

