/**
 * Pure: criu command lines for a checkpoint and a restore, and the record berth keeps beside
 * the images. runc passes the same options through criu's RPC (libcontainer/criu_linux.go);
 * here each is the criu CLI flag of the same meaning.
 */
import { RuntimeError } from '../errors.js';
import type { CheckpointOptions, CriuOptions, ManageCgroupsMode } from '../machines/events.js';
import type { NamespaceType, OciConfig } from '../machines/spec.js';
import type { CgroupLayout } from './cgroupLayout.js';
import { planInit } from './initPlan.js';

/** berth's record of a checkpoint, written into the image directory after a successful dump. */
export interface ImageMeta {
  berth: 1;
  /** The container the images were taken from. */
  id: string;
  criuVersion: string;
  created: string;
  /** Container paths of the bind mounts criu was told are external (`--external mnt[dest]:dest`). */
  externalMounts: string[];
  /**
   * criu's key for each of the init's fds 0–2 that the restore must hand in (`--inherit-fd`):
   * `pipe:[ino]`, or `file[mnt_id:ino]` for a file outside the container's mounts; null when
   * criu restores that fd by itself.
   */
  stdio: (string | null)[];
  /** Namespaces the container joined by path, declared external to criu (absent in older records: none). */
  externalNamespaces?: NamespaceType[];
  options: CheckpointOptions;
}

export const META_FILE = 'berth-checkpoint.json';
export const DUMP_LOG = 'dump.log';
export const RESTORE_LOG = 'restore.log';

export const MANAGE_CGROUPS_MODES: readonly ManageCgroupsMode[] = ['soft', 'full', 'strict', 'ignore'];

/** runc's --empty-ns takes namespace types as the spec spells them; criu can leave only the network one empty. */
export function emptyNsArgs(emptyNs: readonly string[]): string[] {
  return emptyNs.flatMap((ns) => {
    if (ns !== 'network' && ns !== 'net') {
      throw new RuntimeError('INVALID_ARGUMENT', `--empty-ns ${ns}: criu can only leave the network namespace empty`, { field: 'emptyNs' });
    }
    return ['--empty-ns', 'net'];
  });
}

/**
 * The bind mounts a create of `config` makes, container path → host source: the spec's own
 * binds and, without a cgroup namespace, the container's cgroup directories bound under
 * /sys/fs/cgroup. criu cannot recreate a host directory, so each is declared external.
 * Taken from the init plan itself, so checkpoint and restore see exactly what create did.
 */
export function externalBinds(config: OciConfig, host: { rootfs: string; bundle: string; cgroups: CgroupLayout; cgroup: string | null }): Map<string, string> {
  const plan = planInit(config, { rootfs: host.rootfs, bundle: host.bundle, cgroups: host.cgroups, ...(host.cgroup ? { cgroup: host.cgroup } : {}) });
  const binds = new Map<string, string>();
  for (const op of plan.ops) if (op.op === 'BIND') binds.set(op.args[1]!, op.args[0]!);
  return binds;
}

/**
 * A namespace the container joined by path is someone else's (podman's and CNI's netns under
 * /run/netns): criu must neither dump nor recreate it. As runc, the dump names it external by
 * inode under a fixed key (criu's `--external net[<ino>]:<key>`) and the restore hands in the
 * namespace its own config names under that key (`--inherit-fd`). criu supports this for the
 * network namespace (and for pid only where the dumped tree is not the namespace's init).
 */
export const EXTERNAL_NAMESPACES: ReadonlyMap<NamespaceType, { criu: string; key: string }> = new Map([
  ['network', { criu: 'net', key: 'extRootNetNS' }],
]);

/** The namespaces of `config` joined by path that a checkpoint declares external, with their paths. */
export function joinedExternalNamespaces(config: OciConfig): { type: NamespaceType; path: string }[] {
  return (config.linux?.namespaces ?? [])
    .filter((n): n is { type: NamespaceType; path: string } => n.path !== undefined && EXTERNAL_NAMESPACES.has(n.type));
}

/**
 * The mount points a restore must find in the rootfs: the destination of every mount create
 * makes directly on the root (one under another mount lives in that filesystem, which criu
 * restores, or in a bind's host source). Each with its bind source, if a bind: a file source
 * needs a file to mount on. runc's prepareCriuRestoreMounts makes the same ones, so a checkpoint
 * restores into a fresh copy of the image (podman's `restore --import`).
 */
export function rootMountpoints(config: OciConfig, host: { rootfs: string; bundle: string; cgroups: CgroupLayout; cgroup: string | null }): { dest: string; bindSource: string | null }[] {
  const plan = planInit(config, { rootfs: host.rootfs, bundle: host.bundle, cgroups: host.cgroups, ...(host.cgroup ? { cgroup: host.cgroup } : {}) });
  const mounts = new Map<string, string | null>();
  for (const o of plan.ops) {
    if (o.op === 'BIND') mounts.set(o.args[1]!, o.args[0]!);
    else if (o.op === 'MOUNT' || o.op === 'TMPCOPYUP' || o.op === 'MOVE_MOUNT') mounts.set(o.args[1]!, null);
  }
  const under = (dest: string) => [...mounts.keys()].some((m) => m !== dest && (m === '/' || dest.startsWith(`${m}/`)));
  return [...mounts].filter(([dest]) => dest !== '/' && !under(dest)).map(([dest, bindSource]) => ({ dest, bindSource }));
}

function commonArgs(o: CriuOptions, workDir: string, log: string): string[] {
  return [
    '-D', o.imagePath, '-W', workDir, '-o', log, '-v4',
    `--manage-cgroups=${o.manageCgroupsMode}`,
    ...(o.tcpEstablished ? ['--tcp-established'] : []),
    ...(o.extUnixSk ? ['--ext-unix-sk'] : []),
    ...(o.shellJob ? ['--shell-job'] : []),
    ...(o.fileLocks ? ['--file-locks'] : []),
    ...emptyNsArgs(o.emptyNs),
  ];
}

export interface DumpPlan {
  pid: number;
  options: CheckpointOptions;
  workDir: string;
  /** The container's freezer cgroup directory: criu freezes it instead of stopping tasks one by one. */
  freezeCgroup: string | null;
  externalMounts: readonly string[];
  /** `file[mnt_id:ino]` ids of fds criu cannot resolve inside the container's mounts. */
  externalFiles: readonly string[];
  /** Namespaces joined by path, by their inode. */
  externalNamespaces: readonly { type: NamespaceType; inode: number }[];
}

/** `criu dump` (or `pre-dump`) arguments after the action. */
export function dumpArgs(p: DumpPlan): string[] {
  const o = p.options;
  return [
    '-t', String(p.pid),
    ...commonArgs(o, p.workDir, DUMP_LOG),
    ...(p.freezeCgroup ? ['--freeze-cgroup', p.freezeCgroup] : []),
    ...p.externalMounts.flatMap((dest) => ['--external', `mnt[${dest}]:${dest}`]),
    ...p.externalFiles.flatMap((id) => ['--external', id]),
    ...p.externalNamespaces.flatMap(({ type, inode }) => {
      const ns = EXTERNAL_NAMESPACES.get(type)!;
      return ['--external', `${ns.criu}[${inode}]:${ns.key}`];
    }),
    ...(o.leaveRunning && !o.preDump ? ['--leave-running'] : []),
    ...(o.parentPath !== null ? ['--prev-images-dir', o.parentPath, '--track-mem'] : []),
    ...(o.preDump ? ['--track-mem'] : []),
    ...(o.lazyPages && o.pageServer ? ['--lazy-pages', ...pageServerArgs(o.pageServer), '--status-fd', String(LAZY_STATUS_FD)] : []),
  ];
}

/** The fd (in criu) where a lazy dump or the lazy-pages daemon reports it is ready (`\0`). */
export const LAZY_STATUS_FD = 3;
export const LAZY_LOG = 'lazy-pages.log';

function pageServerArgs(pageServer: string): string[] {
  const i = pageServer.lastIndexOf(':');
  return ['--address', pageServer.slice(0, i), '--port', pageServer.slice(i + 1)];
}

/** `criu lazy-pages`: the daemon a lazy restore fetches its pages through (from the dump's page server). */
export function lazyPagesArgs(o: CriuOptions, workDir: string, pageServer: string): string[] {
  return ['--page-server', ...pageServerArgs(pageServer), '-D', o.imagePath, '-W', workDir, '-o', LAZY_LOG, '-v4', '--status-fd', String(LAZY_STATUS_FD)];
}

export interface RestorePlan {
  options: CriuOptions;
  workDir: string;
  /** The rootfs as criu should mount it (a bind made for the restore). */
  root: string;
  /** The new container's cgroup path, the root of every hierarchy criu restores into. */
  cgroup: string;
  /** Container path → host source, for every external mount of the checkpoint. */
  mounts: ReadonlyMap<string, string>;
  /** The checkpoint's stdio keys; fd i of the new container is handed to criu as fd 3 + i. */
  stdio: readonly (string | null)[];
  /** The external namespaces, in the order their fds follow the stdio (fd 6, 7, …). */
  externalNamespaces: readonly NamespaceType[];
  pidFile: string;
}

/** The fd (in criu) of the first external namespace a restore hands in: after the three stdio fds. */
export const RESTORE_NS_FD = 6;

/** `criu restore` arguments after the action. */
export function restoreArgs(p: RestorePlan): string[] {
  return [
    ...commonArgs(p.options, p.workDir, RESTORE_LOG),
    '--root', p.root,
    // --restore-sibling makes the restored init a child of criu's parent (this process), which
    // then reaps it and learns its exit status, as it does for an init it spawned.
    '--restore-detached', '--restore-sibling',
    '--pidfile', p.pidFile,
    ...(p.options.manageCgroupsMode === 'ignore' ? ['--leave-stopped'] : ['--cgroup-root', p.cgroup]),
    ...[...p.mounts].flatMap(([dest, source]) => ['--external', `mnt[${dest}]:${source}`]),
    ...p.stdio.flatMap((key, i) => (key === null ? [] : ['--inherit-fd', `fd[${3 + i}]:${key}`])),
    ...p.externalNamespaces.flatMap((type, i) => ['--inherit-fd', `fd[${RESTORE_NS_FD + i}]:${EXTERNAL_NAMESPACES.get(type)!.key}`]),
    ...(p.options.lazyPages ? ['--lazy-pages'] : []),
  ];
}

export function parseMeta(text: string, file: string): ImageMeta {
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    meta = null;
  }
  const m = meta as Partial<ImageMeta> | null;
  if (!m || m.berth !== 1 || typeof m.id !== 'string' || !Array.isArray(m.externalMounts) || !Array.isArray(m.stdio)) {
    throw new RuntimeError('INVALID_ARGUMENT', `${file} is not a berth checkpoint record`, { field: 'imagePath' });
  }
  return { ...m, externalNamespaces: m.externalNamespaces ?? [] } as ImageMeta;
}
