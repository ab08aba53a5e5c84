import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../errors.js';
import type { Checkpointed, Observed } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { EffectDeps } from './deps.js';
import { cgroupOf, removeEmptyDefaultParent } from './cgroup.js';
import { criuBinary, criuFeature, runCriu, startCriu, type CriuBinary, type CriuRun } from './criu.js';
import { closeQuietly } from './create.js';
import { readLine } from './statusLines.js';
import { dumpArgs, EXTERNAL_NAMESPACES, externalBinds, joinedExternalNamespaces, META_FILE, DUMP_LOG, type ImageMeta } from './criuArgs.js';
import { removeCgroupYards, undoNetworkLock } from './criuRecover.js';
import { readProcStat } from './procfs.js';
import { reap } from './reap.js';
import { trackedProcess, untrack } from './track.js';

/**
 * checkpoint: criu dumps the container's process tree into the image directory. With
 * `leaveRunning` (or a pre-dump) the container goes on; otherwise criu kills it, this effect
 * reaps the init (when it is our child) and removes the emptied cgroup and the container's
 * directory, and the container is
 * `checkpointed`. A failed dump leaves the container as it was: criu thaws and unlocks what it
 * froze and locked, and if criu itself died half way this effect does it (docs/checkpoint.md).
 */
export async function checkpointContainer(d: EffectDeps, c: EffectInput): Promise<Checkpointed> {
  const o = c.checkpointRequest;
  if (!o || c.config === null || c.rootfs === null) throw new RuntimeError('INTERNAL', `checkpoint ${c.id}: no request in flight`);
  const what = `checkpoint ${c.id}`;
  const bin = await criuBinary(what);
  if (o.preDump && !(await criuFeature(bin, 'mem_dirty_track'))) {
    throw new RuntimeError('CRIU_UNSUPPORTED', `${what}: --pre-dump needs memory change tracking, which this kernel lacks (criu check --feature mem_dirty_track fails: CONFIG_MEM_SOFT_DIRTY)`, { field: 'preDump' });
  }
  if (o.lazyPages && !(await criuFeature(bin, 'uffd-noncoop'))) {
    throw new RuntimeError('CRIU_UNSUPPORTED', `${what}: --lazy-pages needs userfaultfd, which criu check --feature uffd-noncoop says this kernel lacks`, { field: 'lazyPages' });
  }
  if (o.lazyPages) lazyPipeCheck(what);
  const proc = trackedProcess(d, c);
  // Checked before the intent was logged too; a process stopped since then is refused here.
  refuseStopped(d, c, what);
  const cg = c.cgroup === null ? null : cgroupOf(d, c);
  const workDir = o.workPath ?? o.imagePath;
  mkdirSync(o.imagePath, { recursive: true });
  mkdirSync(workDir, { recursive: true });
  const binds = externalBinds(c.config, { rootfs: c.rootfs, bundle: c.bundle ?? '', cgroups: d.cgroups(), cgroup: c.cgroup });
  const stdio = stdioKeys(proc.pid);
  // The namespace the init is in, by inode: what criu sees, whatever the path names by now.
  const externalNamespaces = joinedExternalNamespaces(c.config)
    .map(({ type }) => ({ type, inode: statSync(`/proc/${proc.pid}/ns/${EXTERNAL_NAMESPACES.get(type)!.criu}`).ino }));
  const layout = d.cgroups();
  const freezer = c.cgroup === null ? null
    : layout.v1.freezer ? join(layout.v1.freezer, c.cgroup) : layout.unified ? join(layout.unified, c.cgroup) : null;
  const args = dumpArgs({
    pid: proc.pid, options: o, workDir, freezeCgroup: freezer,
    externalMounts: [...binds.keys()], externalFiles: stdio.externalFiles, externalNamespaces,
  });
  const meta: ImageMeta = {
    berth: 1, id: c.id, criuVersion: bin.version, created: new Date().toISOString(),
    externalMounts: [...binds.keys()], stdio: stdio.keys, externalNamespaces: externalNamespaces.map((n) => n.type), options: o,
  };
  const metaFile = join(o.imagePath, META_FILE);
  const writeMeta = () => writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
  try {
    const run = { action: o.preDump ? 'pre-dump' : 'dump', args, workDir, logName: DUMP_LOG, what };
    if (o.lazyPages) await lazyDump(d, bin, run, writeMeta);
    else await runCriu(bin, run);
  } catch (e) {
    rmSync(metaFile, { force: true });
    // criu undoes its freeze and network lock when it fails by itself; not when it was killed.
    if (cg && cg.freezerState() === 'frozen') await cg.thaw().catch(() => undefined);
    removeCgroupYards(d.sys, workDir);
    await undoNetworkLock(proc.pid).catch((err: unknown) => d.log.warn({ id: c.id, err }, 'criu network lock not removed'));
    d.log.warn({ id: c.id, err: e }, 'checkpoint failed');
    throw e;
  }
  if (!o.lazyPages) writeMeta();
  const leaveRunning = o.leaveRunning || o.preDump;
  if (!leaveRunning) {
    d.crash('checkpoint:dumped');
    // criu has killed every process of the tree; collect the init, then release the rest.
    await reap(d, proc);
    await releaseDumped(d, c);
  }
  return { type: 'Checkpointed', imagePath: o.imagePath, criuVersion: bin.version, options: o, leaveRunning };
}

/**
 * criu (4.1.1) freezes the cgroup, then seizes each task; one stopped by a signal (SIGSTOP,
 * SIGTSTP …) or by a tracer never traps once it is also frozen, and criu waits in the kernel's
 * ptrace_attach for ever. Refused before anything is logged or made: SIGCONT first.
 */
export function refuseStopped(d: EffectDeps, c: Pick<EffectInput, 'id' | 'cgroup' | 'pid'>, what: string): void {
  const pids = c.cgroup !== null ? cgroupOf(d, c).pids() : c.pid !== null ? [c.pid] : [];
  for (const pid of pids) {
    const st = readProcStat(pid);
    if (st?.state === 'T' || st?.state === 't') {
      throw new RuntimeError('ILLEGAL_STATE', `${what}: process ${pid} is stopped (by a signal or a tracer) and criu cannot dump it: send it SIGCONT first`);
    }
  }
}

/** A checkpointed container holds nothing on the host but its images (and its log): its emptied cgroup and its directory go. */
async function releaseDumped(d: EffectDeps, c: EffectInput): Promise<void> {
  untrack(d, c.id);
  if (c.cgroup !== null) {
    await cgroupOf(d, c).destroy();
    removeEmptyDefaultParent(d, c.cgroup);
  }
  rmSync(d.paths.containerDir(c.id), { recursive: true, force: true });
}

/**
 * A lazy dump writes everything but the memory, then serves the pages (criu's page server at
 * `pageServer`) until the restore side's lazy-pages daemon has fetched them all, and only then
 * exits. berth's record goes into the images when criu reports it is serving (`\0` on its
 * status fd), so the restore can start while this checkpoint is still in flight.
 */
async function lazyDump(d: EffectDeps, bin: CriuBinary, run: CriuRun, ready: () => void): Promise<void> {
  const [r, w] = d.sys.pipe();
  let done: Promise<void>;
  try {
    done = startCriu(bin, { ...run, fds: [w] });
  } finally {
    closeQuietly(d, w);
  }
  const serving = readLine(r, LAZY_READY_TIMEOUT_MS).then((line) => { if (line !== null) ready(); }, () => undefined);
  await Promise.all([done, serving]);
}

const LAZY_READY_TIMEOUT_MS = 60_000;

/**
 * criu's lazy page server sizes a pipe to 4 MiB (F_SETPIPE_SZ; criu/page-pipe.c), above the
 * default fs.pipe-max-size of 1 MiB: that needs CAP_SYS_RESOURCE, or a raised limit. Without
 * either, criu ignores the failure and every page request dies with EBADF: refuse up front.
 */
const LAZY_PIPE_BYTES = 4 << 20;
const CAP_SYS_RESOURCE = 24n;

function lazyPipeCheck(what: string): void {
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  if ((BigInt(`0x${capEff}`) >> CAP_SYS_RESOURCE) & 1n) return;
  const max = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim());
  if (max >= LAZY_PIPE_BYTES) return;
  throw new RuntimeError('CRIU_UNSUPPORTED', `${what}: --lazy-pages: criu's page server needs a ${LAZY_PIPE_BYTES >> 20} MiB pipe, but this process lacks CAP_SYS_RESOURCE and fs.pipe-max-size is ${max} (raise it to ${LAZY_PIPE_BYTES})`, { field: 'lazyPages' });
}

/**
 * How each of the init's fds 0–2 must be declared to criu. A pipe is dumped as it is and handed
 * back on restore (`pipe:[ino]`, as runc does for the stdio pipes of podman and containerd). A
 * file on a mount outside the container (the host's /dev/null, a log file) cannot be reopened
 * by criu inside the container: it is declared external by `file[mnt_id:ino]` and handed back.
 */
function stdioKeys(pid: number): { keys: (string | null)[]; externalFiles: string[] } {
  const mountIds = new Set(readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')[0]).filter(Boolean));
  const keys: (string | null)[] = [];
  const externalFiles: string[] = [];
  for (const fd of [0, 1, 2]) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      keys.push(null);
      continue;
    }
    if (/^pipe:\[\d+\]$/.test(link)) {
      keys.push(link);
      continue;
    }
    if (!link.startsWith('/')) {
      keys.push(null); // sockets, anon inodes: criu's own options (--ext-unix-sk, --shell-job)
      continue;
    }
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    const mnt = /^mnt_id:\s*(\d+)/m.exec(info)?.[1];
    const ino = /^ino:\s*(\d+)/m.exec(info)?.[1];
    if (mnt === undefined || ino === undefined || mountIds.has(mnt)) {
      keys.push(null);
      continue;
    }
    const id = `file[${Number(mnt).toString(16)}:${BigInt(ino).toString(16)}]`;
    keys.push(id);
    if (!externalFiles.includes(id)) externalFiles.push(id);
  }
  return { keys, externalFiles };
}

/**
 * Reconciliation of a checkpoint interrupted before its outcome was logged. A live init: criu
 * died with the runtime, so undo what it may have left (a frozen cgroup, the network lock);
 * the container runs on. A dead one: checkpointed if criu finished the images of a plain
 * checkpoint (berth's record is written only after a successful dump), else stopped.
 */
export async function probeInterruptedCheckpoint(d: EffectDeps, c: EffectInput, alive: boolean): Promise<Observed> {
  const o = c.checkpointRequest;
  if (alive) {
    if (c.cgroup !== null) {
      const cg = cgroupOf(d, c);
      if (cg.freezerState() === 'frozen') await cg.thaw().catch(() => undefined);
    }
    if (c.pid !== null) await undoNetworkLock(c.pid).catch(() => undefined);
    return { type: 'Observed', status: 'running', reason: 'checkpoint was interrupted; the container runs on', exit: null };
  }
  const complete = o !== null && !o.leaveRunning && !o.preDump && existsSync(join(o.imagePath, META_FILE));
  if (complete) {
    // The dump's runtime may have died before it released the host's part: do it now.
    await releaseDumped(d, c);
    return { type: 'Observed', status: 'checkpointed', reason: `checkpoint completed in ${o.imagePath}`, exit: null };
  }
  return { type: 'Observed', status: 'stopped', reason: 'init exited during an interrupted checkpoint', exit: null };
}
