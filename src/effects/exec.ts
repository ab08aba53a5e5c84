import { writeSync } from 'node:fs';
import { RuntimeError, wrapSyscall } from '../errors.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { ExecStarted } from '../machines/events.js';
import { cgroupOf } from './cgroup.js';
import { deliverConsole, prepareConsole } from './console.js';
import { ControlChannel } from './control.js';
import { ociState } from './hookPlan.js';
import { prepareSeccompListener, type SeccompListener } from './seccompListener.js';
import { closeQuietly, initFailure, killAndReap, writePidFile } from './create.js';
import type { EffectDeps } from './deps.js';
import { planExec } from './execPlan.js';
import { hostLsm } from './lsm.js';
import { execKey, spawnedInThisProcess } from './execWatch.js';
import { adoptForked } from './helperReport.js';
import { statusLines } from './statusLines.js';
import { goAhead } from './pipes.js';
import { encodePlan } from './planWire.js';
import { readProcStat } from './procfs.js';
import type { Spawned } from './syscalls.js';
import { trackedProcess } from './track.js';

const READY_TIMEOUT_MS = 60_000;

/**
 * exec: run another process in a running container, as runc exec does. berth-init is spawned
 * in the runtime's namespaces, straight into the container's cgroup2 directory
 * (CLONE_INTO_CGROUP, v2 or a hybrid's) with the init's pidfd at fd 7; it waits (WAIT) until
 * the v1 hierarchies are joined here, joins every namespace of the init (SETNS through the
 * pidfd), forks when a pid or time namespace makes it necessary, applies the process's
 * credentials and execs. The process is our child either way (CLONE_PARENT), tracked by a
 * pidfd and reaped by the exec watcher (execWatch.ts). With `terminal: true` it makes its pty
 * in the container (TERMINAL) and sends the master over the control socket (fd 6); after READY
 * it goes where create's would (console.ts: the console socket, or the caller). A failure kills
 * and reaps whatever was spawned.
 */
export async function execProcess(d: EffectDeps, c: EffectInput): Promise<ExecStarted> {
  const req = c.exec;
  const what = `exec ${c.id}`;
  if (req === null || c.config === null) throw new RuntimeError('INTERNAL', `${what}: no exec in flight`);
  const init = trackedProcess(d, c);
  const ops = planExec(c.config, req.process, hostLsm());
  const cg = cgroupOf(d, c);
  const term = prepareConsole(d.sys, what, req.process, d.consoleFor(c.id));
  let listener: SeccompListener | null = null;
  let ctl: ControlChannel;
  try {
    listener = prepareSeccompListener(d.sys, what, c.config);
    ctl = new ControlChannel(d.sys);
  } catch (e) {
    term.close();
    listener?.close();
    throw e instanceof RuntimeError ? e : wrapSyscall(what, e);
  }
  const agent = listener;
  const stdio = d.stdioFor(c.id);
  const childEnds: number[] = [];
  let statusR = -1;
  let goW = -1;
  let spawned: Spawned;
  try {
    const [sr, sw] = d.sys.pipe();
    statusR = sr;
    childEnds.push(sw);
    const [gr, gw] = d.sys.pipe();
    goW = gw;
    childEnds.push(gr);
    const planFd = d.sys.memfdCreate('berth-plan');
    childEnds.push(planFd);
    writeSync(planFd, encodePlan(ops));
    const cgroupFd = cg.openForSpawn();
    if (cgroupFd !== null) childEnds.push(cgroupFd);
    // 0-2 stdio, 3 plan, 4 status, GO_FD (5) go-ahead, 6 control socket, INIT_PIDFD_FD (7) the init's pidfd
    const fds = [...stdio.fds, planFd, sw, gr, ctl.theirs, init.pidfd];
    spawned = d.sys.spawn({ exe: d.helperFd(), argv: ['berth-init', c.id], env: [], flags: 0, fds, cgroupFd: cgroupFd ?? -1 });
  } catch (e) {
    for (const fd of [statusR, goW]) if (fd >= 0) closeQuietly(d, fd);
    ctl.close();
    term.close();
    agent.close();
    throw e instanceof RuntimeError ? e : wrapSyscall(what, e);
  } finally {
    for (const fd of childEnds.splice(0)) closeQuietly(d, fd);
    for (const fd of stdio.owned.splice(0)) closeQuietly(d, fd);
    ctl.releaseTheirs();
  }

  const status = statusLines(statusR);
  let proc = spawned;
  try {
    await cg.join(spawned.pid);
    goAhead(goW);
    closeQuietly(d, goW);
    goW = -1;
    let line = await status.next(READY_TIMEOUT_MS);
    const child = await adoptForked(d, spawned, line);
    if (child !== null) {
      proc = child;
      line = await status.next(READY_TIMEOUT_MS);
    }
    if (line !== 'READY') throw initFailure(what, line);
    ctl.drain();
    // Our child, so at worst a zombie: its stat is there until we reap it.
    const stat = readProcStat(proc.pid);
    if (stat === null) throw new RuntimeError('INTERNAL', `${what}: process ${proc.pid} vanished before it was reaped`);
    // A detached exec (the CLI's `exec -d`, as conmon and containerd's shim run it) is left to
    // the subreaper that will own it once this process exits: reaping it here, should it end
    // before we do, would take its exit status from them (podman then reports -1). Treated as
    // not ours, it is logged as gone by whoever sees it gone, as after any CLI command.
    const ours = !d.consoleFor(c.id).detached;
    if (ours) spawnedInThisProcess(proc.pid, stat.startTime);
    d.execs.set(execKey(c.id, req.execId), { pid: proc.pid, pidfd: proc.pidfd, startTime: stat.startTime, child: ours });
    if (req.pidFile) writePidFile(req.pidFile, proc.pid);
    deliverConsole(what, req.process, ctl, term);
    // The exec'd process's pid, and the container's state (runc's ContainerProcessState).
    agent.deliver(ctl, proc.pid, ociState({ id: c.id, bundle: c.bundle, config: c.config }, 'running', c.pid ?? undefined));
    d.log.debug({ id: c.id, execId: req.execId, pid: proc.pid }, 'exec started');
    return { type: 'ExecStarted', execId: req.execId, pid: proc.pid, startTime: stat.startTime, args: req.process.args };
  } catch (e) {
    if (goW >= 0) closeQuietly(d, goW);
    term.close();
    agent.close();
    d.execs.delete(execKey(c.id, req.execId));
    await killAndReap(d, proc.pidfd);
    throw e instanceof RuntimeError ? e : wrapSyscall(what, e);
  } finally {
    status.close();
    ctl.close();
  }
}

