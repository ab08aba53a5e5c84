import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { dirname, join } from 'node:path';
import { RuntimeError, wrapSyscall } from '../errors.js';
import type { Observed, Restored } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import { loadBundle } from './bundle.js';
import { cgroupPathFor, removeEmptyDefaultParent, withDefaultDevices } from './cgroup.js';
import { cgroupManager, type CgroupManager } from './cgroups/index.js';
import { closeQuietly, createCgroup } from './create.js';
import { criuBinary, criuFeature, runCriu, startCriu, type CriuBinary } from './criu.js';
import { readLine } from './statusLines.js';
import type { RestoreOptions } from '../machines/events.js';
import { removeCgroupYards } from './criuRecover.js';
import { externalBinds, joinedExternalNamespaces, rootMountpoints, LAZY_LOG, lazyPagesArgs, META_FILE, parseMeta, restoreArgs, RESTORE_LOG, type ImageMeta } from './criuArgs.js';
import type { NamespaceType, OciConfig } from '../machines/spec.js';
import type { EffectDeps } from './deps.js';
import { MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT } from './linuxConstants.js';
import { makeMountpoint } from './inRoot.js';
import { readProcStat } from './procfs.js';
import { reap } from './reap.js';

const MNT_DETACH = 2;

/**
 * In place, the container comes back with the limits in force when it was dumped (its updates
 * included), not those its bundle was created with: it is the same container, as after a
 * resume. (runc cannot tell: its checkpoint destroys the container, and its restore starts
 * from config.json, as berth's restore of a new container does.)
 */
function withLimitsInForce(c: EffectInput, config: OciConfig): OciConfig {
  if (c.restoreFrom !== 'checkpointed' || c.resources === null) return config;
  return { ...config, linux: { ...config.linux, resources: { ...config.linux?.resources, ...c.resources } } };
}

/**
 * restore: criu rebuilds a checkpointed process tree as a new container (from a bundle) or as
 * the checkpointed container itself. berth makes what criu cannot: the container's cgroup
 * (criu restores into it with --cgroup-root), a bind of the rootfs for --root (read-only when
 * the spec asks, which criu would not restore), the host sources of the external bind mounts,
 * and the stdio fds. The restored init is this process's child (--restore-sibling), tracked
 * by a pidfd as a created one is. A failure removes all of it again.
 */
export async function restoreContainer(d: EffectDeps, c: EffectInput): Promise<Restored> {
  const o = c.restoreRequest;
  const id = c.id;
  const what = `restore ${id}`;
  if (!o) throw new RuntimeError('INTERNAL', `${what}: no request in flight`);
  if (!c.bundle) throw new RuntimeError('INVALID_ARGUMENT', `${what}: a bundle is needed to restore a new container`, { field: 'bundle' });
  const meta = readMeta(what, o.imagePath);
  if (c.restoreFrom === 'checkpointed' && meta.id !== id) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: the images in ${o.imagePath} are a checkpoint of container ${meta.id}, not of ${id}`, { field: 'imagePath' });
  }
  if (meta.options.lazyPages && !o.lazyPages) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: the images in ${o.imagePath} were dumped with --lazy-pages (their memory is served by the checkpoint): restore with --lazy-pages`, { field: 'lazyPages' });
  }
  if (o.lazyPages && (!meta.options.lazyPages || !meta.options.pageServer)) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: --lazy-pages needs images dumped with --lazy-pages; those in ${o.imagePath} hold their memory`, { field: 'lazyPages' });
  }
  const bin = await criuBinary(what);
  if (o.lazyPages && !(await criuFeature(bin, 'uffd-noncoop'))) {
    throw new RuntimeError('CRIU_UNSUPPORTED', `${what}: --lazy-pages needs userfaultfd, which criu check --feature uffd-noncoop says this kernel lacks`, { field: 'lazyPages' });
  }
  const loaded = loadBundle(c.bundle);
  const { rootfs } = loaded;
  const config = withLimitsInForce(c, loaded.config);
  const cgroup = cgroupPathFor(d, id, config.linux?.cgroupsPath);
  const binds = externalBinds(config, { rootfs, bundle: c.bundle, cgroups: d.cgroups(), cgroup });
  const mounts = new Map<string, string>();
  for (const dest of meta.externalMounts) {
    const source = binds.get(dest);
    if (source === undefined) {
      throw new RuntimeError('INVALID_CONFIG', `${what}: the checkpoint has a bind mount at ${dest} that the bundle's config.json does not declare`, { field: 'mounts' });
    }
    mounts.set(dest, source);
  }
  const namespaces = externalNamespaces(what, meta, config);
  // criu mounts on the mount points create made; a rootfs never created in (an imported
  // checkpoint's fresh copy) lacks them. runc makes them too, also in a read-only rootfs.
  for (const m of rootMountpoints(config, { rootfs, bundle: c.bundle, cgroups: d.cgroups(), cgroup })) {
    makeMountpoint(rootfs, m.dest, m.bindSource !== null && !(statSync(m.bindSource, { throwIfNoEntry: false })?.isDirectory() ?? true));
  }
  const workDir = o.workPath ?? o.imagePath;
  mkdirSync(workDir, { recursive: true });
  const dir = d.paths.containerDir(id);
  // Neither a new nor a checkpointed container has a directory: anything there is debris
  // (never with the rootfs still bound in it: rm -r would reach into the rootfs).
  unbindRoot(d, join(dir, 'criu-root'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cg = cgroupManager(d.cgroups(), cgroup, { sys: d.sys });
  const criuPid = join(dir, 'criu.pid');
  let cgroupMade = false;
  try {
    createCgroup(cg, withDefaultDevices(config.linux?.resources));
    cgroupMade = true;
    const daemon = o.lazyPages ? await startLazyPages(d, bin, o, workDir, meta.options.pageServer!, what) : null;
    const root = bindRoot(d, dir, rootfs, config.root.readonly === true);
    try {
      let restorePid = 0;
      // A lazy restore waits on the daemon for its pages: if the daemon dies, so must it.
      void daemon?.done.catch(() => { if (restorePid > 0) killQuietly(restorePid); });
      const nsFds: number[] = [];
      try {
        for (const n of namespaces) nsFds.push(openNamespace(what, n));
        await runCriu(bin, {
          action: 'restore', workDir, logName: RESTORE_LOG, what, fds: [...d.stdioFor(id).fds, ...nsFds],
          args: restoreArgs({ options: o, workDir, root, cgroup, mounts, stdio: meta.stdio, externalNamespaces: namespaces.map((n) => n.type), pidFile: criuPid }),
          onSpawn: (pid) => { restorePid = pid; },
        });
      } finally {
        for (const fd of nsFds) closeSync(fd);
      }
      restorePid = 0;
    } catch (e) {
      removeCgroupYards(d.sys, workDir);
      throw e;
    } finally {
      unbindRoot(d, root);
    }
    const pid = Number(readFileSync(criuPid, 'utf8').trim());
    rmSync(criuPid, { force: true });
    const pidfd = d.sys.pidfdOpen(pid);
    const stat = readProcStat(pid);
    if (stat === null) {
      closeQuietly(d, pidfd);
      throw new RuntimeError('CRIU_FAILED', `${what}: the restored init ${pid} is gone (log: ${join(workDir, RESTORE_LOG)})`, { step: 'criu restore' });
    }
    d.procs.set(id, { pid, pidfd, startTime: stat.startTime, child: parentOf(pid) === process.pid });
    if (o.manageCgroupsMode === 'ignore') await joinAndContinue(cg, pid);
    if (c.pidFile) writePidFile(c.pidFile, pid);
    d.log.debug({ id, pid, cgroup, images: o.imagePath }, 'container restored');
    return {
      type: 'Restored', pid, startTime: stat.startTime, created: new Date().toISOString(), rootfs, config, cgroup,
      imagePath: o.imagePath, criuVersion: bin.version,
    };
  } catch (e) {
    const known = d.procs.get(id);
    if (known) {
      closeQuietly(d, known.pidfd);
      d.procs.delete(id);
    }
    if (cgroupMade) await killRestored(d, cg);
    if (cgroupMade) await cg.destroy().catch((err: unknown) => d.log.warn({ id, cgroup, err }, 'cgroup of a failed restore not removed'));
    removeEmptyDefaultParent(d, cgroup);
    rmSync(dir, { recursive: true, force: true });
    throw e instanceof RuntimeError ? e : wrapSyscall(what, e);
  }
}

/**
 * The namespaces the restored tree joins instead of recreating: exactly those the checkpoint
 * declared external, each named by path in the restore's config (podman gives the restore a
 * new netns). A mismatch either way is the config's: criu would fail, or silently give the
 * container a namespace the config does not ask for.
 */
function externalNamespaces(what: string, meta: ImageMeta, config: OciConfig): { type: NamespaceType; path: string }[] {
  const joined = joinedExternalNamespaces(config);
  const dumped = meta.externalNamespaces ?? [];
  for (const type of dumped) {
    if (!joined.some((n) => n.type === type)) {
      throw new RuntimeError('INVALID_CONFIG', `${what}: the checkpoint joined a ${type} namespace by path; the bundle's config.json must name one to restore into`, { field: 'linux.namespaces' });
    }
  }
  for (const n of joined) {
    if (!dumped.includes(n.type)) {
      throw new RuntimeError('INVALID_CONFIG', `${what}: the bundle's config.json joins the ${n.type} namespace ${n.path}, but the checkpoint has its own ${n.type} namespace`, { field: 'linux.namespaces' });
    }
  }
  return joined;
}

function openNamespace(what: string, n: { type: NamespaceType; path: string }): number {
  try {
    return openSync(n.path, 'r');
  } catch (e) {
    throw new RuntimeError('INVALID_CONFIG', `${what}: ${n.type} namespace ${n.path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { field: 'linux.namespaces', cause: e });
  }
}

function readMeta(what: string, imagePath: string): ImageMeta {
  if (!existsSync(imagePath)) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: image path ${imagePath} does not exist`, { field: 'imagePath' });
  }
  if (!existsSync(join(imagePath, 'inventory.img'))) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: image path ${imagePath} holds no criu checkpoint (no inventory.img)`, { field: 'imagePath' });
  }
  const file = join(imagePath, META_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: image path ${imagePath} holds no berth checkpoint record (${META_FILE}): not a complete berth checkpoint`, { field: 'imagePath' });
  }
  return parseMeta(text, file);
}

/**
 * The lazy-pages daemon of a lazy restore: it fetches pages from the checkpoint's page server
 * and hands them to the restored processes (userfaultfd), on demand and in the background, and
 * exits when all are in. The restore starts once it reports ready on its status fd.
 */
async function startLazyPages(d: EffectDeps, bin: CriuBinary, o: RestoreOptions, workDir: string, pageServer: string, what: string): Promise<{ done: Promise<void> }> {
  const [r, w] = d.sys.pipe();
  let done: Promise<void>;
  try {
    done = startCriu(bin, { action: 'lazy-pages', args: lazyPagesArgs(o, workDir, pageServer), workDir, logName: LAZY_LOG, fds: [w], daemon: true, what });
    done.catch((err: unknown) => d.log.warn({ err }, 'criu lazy-pages failed'));
  } finally {
    closeQuietly(d, w);
  }
  if ((await readLine(r, 30_000).catch(() => null)) === null) {
    throw new RuntimeError('CRIU_FAILED', `${what}: criu lazy-pages did not start (log: ${join(workDir, LAZY_LOG)})`, { step: 'criu lazy-pages' });
  }
  return { done };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * criu mounts its --root as the restored root mount but not with the flags it had: a read-only
 * root would come back writable. So criu gets a bind of the rootfs, already read-only when the
 * spec asks; the bind is detached once criu has made its own copy in the new namespace.
 */
function bindRoot(d: EffectDeps, dir: string, rootfs: string, readonly: boolean): string {
  const root = join(dir, 'criu-root');
  mkdirSync(root, { recursive: true });
  try {
    d.sys.mount(rootfs, root, null, MS_BIND | MS_REC, null);
    if (readonly) d.sys.mount('', root, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null);
  } catch (e) {
    unbindRoot(d, root);
    throw wrapSyscall(`bind the rootfs for criu at ${root}`, e);
  }
  return root;
}

function unbindRoot(d: EffectDeps, root: string): void {
  try {
    d.sys.umount2(root, MNT_DETACH);
  } catch {
    // not mounted
  }
  try {
    rmdirSync(root);
  } catch {
    // already gone
  }
}

/**
 * A restore that failed half way may have left restored tasks in the cgroup, some of them our
 * children (--restore-sibling): kill them all and reap ours, so no zombie outlives the attempt.
 */
async function killRestored(d: EffectDeps, cg: CgroupManager): Promise<void> {
  const ours: number[] = [];
  for (const pid of cg.pids()) {
    if (parentOf(pid) !== process.pid) continue;
    try {
      ours.push(d.sys.pidfdOpen(pid));
    } catch {
      // already gone
    }
  }
  await cg.signalAll(osc.signals.SIGKILL).catch(() => 0);
  for (const pidfd of ours) {
    await reap(d, { pidfd });
    closeQuietly(d, pidfd);
  }
}

/**
 * --manage-cgroups-mode ignore: criu leaves cgroups alone, so the tree it restored (stopped, by
 * --leave-stopped) sits in criu's own cgroup. Move every process into the container's cgroup,
 * then let them run.
 */
async function joinAndContinue(cg: CgroupManager, root: number): Promise<void> {
  const tree = processTree(root);
  for (const pid of tree) await cg.join(pid);
  for (const pid of tree) process.kill(pid, 'SIGCONT');
}

function processTree(root: number): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    const pid = out[i]!;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
          if (child) out.push(Number(child));
        }
      } catch {
        // exited
      }
    }
  }
  return out;
}

/** Field 4 of /proc/<pid>/stat, or 0. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function writePidFile(path: string, pid: number): void {
  const tmp = join(dirname(path), `.${process.pid}.pid.tmp`);
  writeFileSync(tmp, String(pid), { mode: 0o644 });
  renameSync(tmp, path);
}

/**
 * Reconciliation of a restore interrupted before `Restored` was logged (the runtime died while
 * criu worked): whatever criu restored sits in the container's cgroup. Kill it, remove the
 * cgroup and the rootfs bind; the container is back where it was: checkpointed, or gone.
 */
export async function undoInterruptedRestore(d: EffectDeps, c: EffectInput): Promise<Observed> {
  const dir = d.paths.containerDir(c.id);
  unbindRoot(d, join(dir, 'criu-root'));
  const o = c.restoreRequest;
  if (o) removeCgroupYards(d.sys, o.workPath ?? o.imagePath);
  let cgroupsPath: string | undefined;
  try {
    cgroupsPath = loadBundle(c.bundle ?? '').config.linux?.cgroupsPath;
  } catch {
    cgroupsPath = undefined;
  }
  const cgroup = cgroupPathFor(d, c.id, cgroupsPath);
  const cg = cgroupManager(d.cgroups(), cgroup, { sys: d.sys });
  if (cg.exists()) {
    await killRestored(d, cg);
    await cg.destroy().catch((e: unknown) => d.log.warn({ id: c.id, cgroup, err: e }, 'cgroup of an interrupted restore not removed'));
    removeEmptyDefaultParent(d, cgroup);
  }
  rmSync(dir, { recursive: true, force: true });
  if (c.restoreFrom === 'checkpointed') return { type: 'Observed', status: 'checkpointed', reason: 'restore was interrupted', exit: null };
  return { type: 'Observed', status: 'deleted', reason: 'restore was interrupted before the container was restored', exit: null };
}
