/**
 * The OCI config → the init helper's ordered operations (native/init/plan.h documents each op
 * and the order). Pure: everything the host contributes comes in `host`.
 *
 * Ordering, and what plan.h leaves to this file:
 *   [SETNS*, UNSHARE, TIMENS_OFFSET*, FORK] only when namespaces are joined by path or time
 *     offsets are set (nsPlan.ts)
 *   [WAIT 7, UNSHARE CLONE_NEWCGROUP] a new cgroup namespace on a v1 or hybrid host, made once
 *     the runtime has joined the init to its cgroups (nsPlan.ts deferCgroupNamespace)
 *   SETSID, PROPAGATION, ROOTFS
 *   per mount, in config order: MOUNT, TMPCOPYUP, BIND or MOVE_MOUNT (idmapped, fd from the
 *     runtime), then MOUNT_SETATTR for recursive attributes (rro, ...), then one PROPAGATE per
 *     propagation option.
 *     A `cgroup` mount expands by the host layout (planCgroupMount), and its group can hold
 *     SYMLINK ops (co-mounted v1 controllers) and a closing read-only remount.
 *   MKNOD (default devices, then linux.devices), SYMLINK (/dev/ptmx, /dev/fd, std streams, core)
 *   read-only remounts of tmpfs mounts asked `ro` (deferred, as runc does for /dev, so device
 *     nodes and nested mountpoints can still be created in them)
 *   HOOKS_SYNC and the createContainer hooks (hookPlan.ts)
 *   PIVOT_ROOT, TERMINAL (process.terminal: terminalPlan.ts),
 *   SYSCTL*, MASK*, READONLY*, ROOT_READONLY, HOSTNAME, DOMAINNAME, RLIMIT*,
 *   OOM_SCORE_ADJ, PERSONALITY, IOPRIO, APPARMOR_EXEC, SELINUX_EXEC, [SECCOMP_* without
 *   noNewPrivileges], CREDS, NO_NEW_PRIVS, UMASK, CWD, ENV*, ARG*, the startContainer hooks,
 *   [SECCOMP_* with it], EXEC
 *   (seccompPlan.ts says why the filter moves; lsm.ts refuses labels the host cannot apply)
 * So the helper must accept MOUNT/BIND/PROPAGATE/MKNOD/SYMLINK interleaved before PIVOT_ROOT.
 *
 * A remount is a MOUNT whose flags hold MS_REMOUNT (here always with MS_BIND: per-mount flags
 * only, the superblock is left alone), as runc's remount(); its dest already exists, and the
 * helper passes the flags to mount(2) unchanged on the dest resolved inside the rootfs. A BIND
 * of the dest onto itself would have worked through BIND's remount rule too, but BIND's source
 * is a host path resolved by string, which a symlink in the rootfs could redirect.
 */
import { posix } from 'node:path';
import { RuntimeError } from '../errors.js';
import type { OciConfig, OciMount, OciDevice, CapabilityName, OciCapabilities } from '../machines/spec.js';
import type { CgroupLayout } from './cgroupLayout.js';
import { labelMounts, planLsm, type HostLsm } from './lsm.js';
import { planProcessAttributes, planSeccomp } from './seccompPlan.js';
import {
  CAPABILITIES, MS_BIND, MS_DIRSYNC, MS_I_VERSION, MS_LAZYTIME, MS_MANDLOCK, MS_NOATIME, MS_NODEV,
  MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME,
  MS_REMOUNT, MS_SHARED, MS_SILENT, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE,
  NAMESPACE_FLAGS, RLIMITS, RLIM_INFINITY, S_IFBLK, S_IFCHR, S_IFIFO,
} from './linuxConstants.js';
import type { PlanOp, PlanOpName } from './planWire.js';
import { planTerminal } from './terminalPlan.js';
import { planHooks } from './hookPlan.js';
import { IDMAP_OPTIONS, RECURSIVE_OPTION_NAMES, isRecursiveOption, recursiveAttrs } from './mountAttrs.js';
import { mountIdMap, type IdMaps, type MountIdMap } from '../machines/idmap.js';
import { deferCgroupNamespace, planNamespaces, type NamespaceJoin } from './nsPlan.js';

/** The first fd above berth-init's fixed ones (0-5, 6 the control socket, 7 the hooks' go-ahead pipe). */
export const FIRST_EXTRA_FD = 8;
/** The runtime's go-ahead pipe (native/init/plan.h CONTINUE_FD): the cgroup join's WAIT, then HOOKS_SYNC. */
export const CONTINUE_FD = 7;

/** An idmapped bind mount the runtime prepares before the spawn and hands over as fd `fd`. */
export interface IdmappedMount extends MountIdMap {
  fd: number;
  /** `mounts[i]`, for errors. */
  field: string;
  source: string;
  /** rbind: the whole tree is cloned (open_tree AT_RECURSIVE). */
  recursiveBind: boolean;
}

export interface InitHost {
  /** Absolute host path of the rootfs (bundle-relative root.path already resolved). */
  rootfs: string;
  /** Absolute host path of the bundle: relative bind sources are relative to it (runtime-spec). */
  bundle: string;
  cgroups: CgroupLayout;
  /** runc links /dev/core → /proc/kcore only when the host has /proc/kcore; the caller checks. */
  kcore?: boolean;
  /** The container's own cgroup path (relative to each hierarchy), when it has one. */
  cgroup?: string;
  /** The container's id, for the state its createContainer and startContainer hooks read. */
  id?: string;
  /** The LSMs the host has (lsm.ts hostLsm); absent: none. */
  lsm?: HostLsm;
}

export interface InitPlan {
  ops: PlanOp[];
  /** CLONE_NEW* flags for clone3. */
  cloneFlags: number;
  /** Idmapped mounts, in fd order from FIRST_EXTRA_FD. */
  idmapped: IdmappedMount[];
  /** The maps to write for a new user namespace, else null. */
  userns: IdMaps | null;
  /** Namespaces to join by path: the k-th goes to the helper at fd nsFdBase + k (nsPlan.ts). */
  joins: NamespaceJoin[];
  /** The fd of the first namespace to join: after the idmapped mounts'. */
  nsFdBase: number;
}

function invalid(field: string, reason: string): never {
  throw new RuntimeError('INVALID_CONFIG', `invalid config: ${field}: ${reason}`, { field });
}

const op = (name: PlanOpName, ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });

// --- mount options: runc's libcontainer/specconv parseMountOptions table ---------------------

const FLAG_OPTIONS = new Map<string, { clear: boolean; flag: number }>([
  ['async', { clear: true, flag: MS_SYNCHRONOUS }], ['atime', { clear: true, flag: MS_NOATIME }],
  ['bind', { clear: false, flag: MS_BIND }], ['dev', { clear: true, flag: MS_NODEV }],
  ['diratime', { clear: true, flag: MS_NODIRATIME }], ['dirsync', { clear: false, flag: MS_DIRSYNC }],
  ['exec', { clear: true, flag: MS_NOEXEC }], ['iversion', { clear: false, flag: MS_I_VERSION }],
  ['lazytime', { clear: false, flag: MS_LAZYTIME }], ['loud', { clear: true, flag: MS_SILENT }],
  ['mand', { clear: false, flag: MS_MANDLOCK }], ['noatime', { clear: false, flag: MS_NOATIME }],
  ['nodev', { clear: false, flag: MS_NODEV }], ['nodiratime', { clear: false, flag: MS_NODIRATIME }],
  ['noexec', { clear: false, flag: MS_NOEXEC }], ['noiversion', { clear: true, flag: MS_I_VERSION }],
  ['nolazytime', { clear: true, flag: MS_LAZYTIME }], ['nomand', { clear: true, flag: MS_MANDLOCK }],
  ['norelatime', { clear: true, flag: MS_RELATIME }], ['nostrictatime', { clear: true, flag: MS_STRICTATIME }],
  ['nosuid', { clear: false, flag: MS_NOSUID }], ['nosymfollow', { clear: false, flag: MS_NOSYMFOLLOW }],
  ['rbind', { clear: false, flag: MS_BIND | MS_REC }], ['relatime', { clear: false, flag: MS_RELATIME }],
  ['remount', { clear: false, flag: MS_REMOUNT }], ['ro', { clear: false, flag: MS_RDONLY }],
  ['rw', { clear: true, flag: MS_RDONLY }], ['silent', { clear: false, flag: MS_SILENT }],
  ['strictatime', { clear: false, flag: MS_STRICTATIME }], ['suid', { clear: true, flag: MS_NOSUID }],
  ['sync', { clear: false, flag: MS_SYNCHRONOUS }], ['symfollow', { clear: true, flag: MS_NOSYMFOLLOW }],
]);

export const PROPAGATION_OPTIONS = new Map<string, number>([
  ['private', MS_PRIVATE], ['rprivate', MS_PRIVATE | MS_REC], ['shared', MS_SHARED],
  ['rshared', MS_SHARED | MS_REC], ['slave', MS_SLAVE], ['rslave', MS_SLAVE | MS_REC],
  ['unbindable', MS_UNBINDABLE], ['runbindable', MS_UNBINDABLE | MS_REC],
]);

/**
 * Options that are not mount(2) flags or data: `defaults` only restates the defaults (runc passes
 * it on as fs data, which tmpfs rejects); `tmpcopyup` makes a tmpfs a TMPCOPYUP; the recursive
 * ones (mountAttrs.ts) become MOUNT_SETATTR; `idmap`/`ridmap` an idmapped mount.
 */
const IGNORED_OPTIONS = new Set(['defaults', 'tmpcopyup']);

/**
 * The options parseMountOptions recognizes and applies (`berth features` lists them).
 */
export const MOUNT_OPTIONS: readonly string[] = [
  ...FLAG_OPTIONS.keys(), ...PROPAGATION_OPTIONS.keys(), ...RECURSIVE_OPTION_NAMES, ...IDMAP_OPTIONS, 'defaults', 'tmpcopyup',
];

export interface MountOptions {
  flags: number;
  /** Each a mount(2) propagation flag set, applied in order after the mount. */
  propagation: number[];
  /** Unknown options: filesystem-specific, joined with ',' as mount(2) data. */
  data: string[];
}

export function parseMountOptions(options: readonly string[]): MountOptions {
  const out: MountOptions = { flags: 0, propagation: [], data: [] };
  options.forEach((o) => {
    const f = FLAG_OPTIONS.get(o);
    const p = PROPAGATION_OPTIONS.get(o);
    if (f !== undefined) out.flags = f.clear ? out.flags & ~f.flag : out.flags | f.flag;
    else if (p !== undefined) out.propagation.push(p);
    else if (!IGNORED_OPTIONS.has(o) && !IDMAP_OPTIONS.has(o) && !isRecursiveOption(o)) out.data.push(o);
  });
  return out;
}

// --- mounts -----------------------------------------------------------------------------------

/** A destination inside the container: relative ones are relative to "/" (runtime-spec). */
function containerPath(p: string): string {
  const n = posix.normalize(`/${p}`);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function isBind(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

function bindSource(source: string, bundle: string, field: string): string {
  if (source.startsWith('/')) return source;
  if (!bundle.startsWith('/')) invalid(field, `a relative bind source needs an absolute bundle path, got ${JSON.stringify(bundle)}`);
  return posix.join(bundle, source);
}

interface MountPlan {
  ops: PlanOp[];
  /** Read-only remounts held back until devices and nested mountpoints exist. */
  deferred: PlanOp[];
  idmapped: IdmappedMount[];
  config: OciConfig;
  /** A sysfs mount is refused in a user namespace that does not own a network namespace. */
  sysfsAsBind: boolean;
}

/** What a `cgroup` mount shows: the container's own cgroup, when it has one and no namespace does the job. */
interface CgroupView {
  ownNamespace: boolean;
  cgroup: string | undefined;
}

function planMount(m: OciMount, i: number, host: InitHost, view: CgroupView, plan: MountPlan): void {
  const field = `mounts[${i}]`;
  const dest = containerPath(m.destination);
  const opts = parseMountOptions(m.options ?? []);
  const data = opts.data.length > 0 ? opts.data.join(',') : '-';
  const idmap = mountIdMap(m, plan.config.linux);
  if (isBind(m) && idmap !== null) {
    const source = bindSource(m.source ?? '', host.bundle, `${field}.source`);
    const fd = FIRST_EXTRA_FD + plan.idmapped.length;
    plan.idmapped.push({ ...idmap, fd, field, source, recursiveBind: (opts.flags & MS_REC) !== 0 });
    plan.ops.push(op('MOVE_MOUNT', fd, dest, opts.flags | MS_BIND));
  } else if (isBind(m)) {
    const source = bindSource(m.source ?? '', host.bundle, `${field}.source`);
    plan.ops.push(op('BIND', source, dest, opts.flags | MS_BIND));
  } else if (m.type === 'sysfs' && plan.sysfsAsBind) {
    // runc: in a user namespace without its own network namespace the kernel refuses sysfs
    // (EPERM), so the host's /sys is bound instead.
    plan.ops.push(op('BIND', '/sys', dest, opts.flags | MS_BIND | MS_REC));
  } else if (m.type === 'cgroup') {
    planCgroupMount(dest, opts.flags, data, host.cgroups, view, plan.ops);
  } else {
    const type = m.type ?? '';
    const source = m.source !== undefined && m.source !== '' ? m.source : type;
    let flags = opts.flags;
    if (type === 'tmpfs' && (flags & MS_RDONLY) !== 0 && (flags & MS_REMOUNT) === 0) {
      flags &= ~MS_RDONLY;
      plan.deferred.push(op('MOUNT', source, dest, type, opts.flags | MS_BIND | MS_REMOUNT, '-'));
    }
    const copyup = type === 'tmpfs' && (m.options ?? []).includes('tmpcopyup');
    plan.ops.push(op(copyup ? 'TMPCOPYUP' : 'MOUNT', source, dest, type, flags, data));
  }
  const rec = recursiveAttrs(m.options ?? []);
  if (rec !== null) plan.ops.push(op('MOUNT_SETATTR', dest, rec.set, rec.clr));
  for (const p of opts.propagation) plan.ops.push(op('PROPAGATE', dest, p));
}

/**
 * The `cgroup` type means "the cgroup hierarchy, however the host has it" (runc mountCgroupV1 /
 * mountCgroupV2). v2: one cgroup2 mount. v1 and hybrid: a tmpfs at dest holding one fresh
 * cgroup mount per hierarchy, named by its controllers (`cpu,cpuacct`, and `systemd` for
 * name=systemd) with a symlink per co-mounted controller, cgroup2 at dest/unified on a hybrid
 * host, then the tmpfs remounted read-only when `ro` was asked.
 *
 * With a cgroup namespace these are fresh mounts (their root is the namespace's). Without one,
 * a fresh mount would show the host's whole hierarchy, so the container's own cgroup
 * directories are bound instead, as runc does — which also spares a fresh cgroup2 mount, the
 * slowest step of a create on these kernels (docs/bench.md).
 */
function planCgroupMount(dest: string, optFlags: number, data: string, layout: CgroupLayout, view: CgroupView, ops: PlanOp[]): void {
  const flags = optFlags & ~MS_REMOUNT;
  const own = !view.ownNamespace && view.cgroup !== undefined ? view.cgroup : null;
  const hierarchy = (source: string, target: string, fstype: string, fsData: string) => ops.push(own !== null
    ? op('BIND', `${source}${own}`, target, flags | MS_BIND)
    : op('MOUNT', fstype, target, fstype, flags, fsData));
  if (layout.kind === 'v2') {
    hierarchy(layout.unified ?? '', dest, 'cgroup2', data);
    return;
  }
  ops.push(op('MOUNT', 'tmpfs', dest, 'tmpfs', flags & ~MS_RDONLY, 'mode=755'));
  const links: PlanOp[] = [];
  for (const controllers of v1Hierarchies(layout)) {
    const dir = controllers.map((c) => c.replace(/^name=/, '')).join(',');
    const named = controllers.every((c) => c.startsWith('name='));
    hierarchy(layout.v1[controllers[0]!] ?? '', `${dest}/${dir}`, 'cgroup', (named ? ['none', ...controllers] : controllers).join(','));
    if (controllers.length > 1) {
      for (const c of dir.split(',')) links.push(op('SYMLINK', dir, `${dest}/${c}`));
    }
  }
  if (layout.kind === 'hybrid') hierarchy(layout.unified ?? '', `${dest}/unified`, 'cgroup2', '-');
  ops.push(...links);
  if ((flags & MS_RDONLY) !== 0) ops.push(op('MOUNT', 'tmpfs', dest, 'tmpfs', flags | MS_BIND | MS_REMOUNT, '-'));
}

/** The layout's controller → mountpoint map, grouped back into hierarchies (mountinfo order). */
function v1Hierarchies(layout: CgroupLayout): string[][] {
  const byMountpoint = new Map<string, string[]>();
  for (const [controller, mountpoint] of Object.entries(layout.v1)) {
    const list = byMountpoint.get(mountpoint) ?? [];
    list.push(controller);
    byMountpoint.set(mountpoint, list);
  }
  return [...byMountpoint.values()];
}

// --- /dev ---------------------------------------------------------------------------------------

interface DeviceNode { path: string; mode: number; major: number; minor: number; uid: number; gid: number }

/** runc's specconv AllowedDevices that have a path, in its order. */
const chr = (path: string, major: number, minor: number): DeviceNode =>
  ({ path, mode: S_IFCHR | 0o666, major, minor, uid: 0, gid: 0 });
const DEFAULT_DEVICES: readonly DeviceNode[] = [
  chr('/dev/null', 1, 3), chr('/dev/random', 1, 8), chr('/dev/full', 1, 7),
  chr('/dev/tty', 5, 0), chr('/dev/zero', 1, 5), chr('/dev/urandom', 1, 9),
];

function specDevice(d: OciDevice): DeviceNode {
  const kind = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
  return {
    path: posix.normalize(d.path),
    mode: kind | ((d.fileMode ?? 0o666) & 0o7777),
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    uid: d.uid ?? 0,
    gid: d.gid ?? 0,
  };
}

/**
 * Device nodes and /dev symlinks, as runc's createDevices/setupPtmx/setupDevSymlinks. berth
 * populates /dev only when it is a fresh filesystem mount (the default tmpfs): with /dev bound
 * from the host nothing is created (runc too), and with no /dev mount at all only the spec's
 * own linux.devices are made (runc would also write its defaults into the image's /dev).
 */
function planDev(config: OciConfig, host: InitHost): PlanOp[] {
  const devMount = (config.mounts ?? []).filter((m) => containerPath(m.destination) === '/dev').at(-1);
  if (devMount !== undefined && isBind(devMount)) return [];
  const own = (config.linux?.devices ?? []).map(specDevice);
  const fresh = devMount !== undefined;
  const nodes = fresh ? [...DEFAULT_DEVICES.filter((d) => !own.some((o) => o.path === d.path)), ...own] : own;
  const ops = nodes.map((d) => op('MKNOD', d.path, d.mode, d.major, d.minor, d.uid, d.gid));
  if (!fresh) return ops;
  ops.push(
    op('SYMLINK', 'pts/ptmx', '/dev/ptmx'),
    op('SYMLINK', '/proc/self/fd', '/dev/fd'),
    op('SYMLINK', '/proc/self/fd/0', '/dev/stdin'),
    op('SYMLINK', '/proc/self/fd/1', '/dev/stdout'),
    op('SYMLINK', '/proc/self/fd/2', '/dev/stderr'),
  );
  if (host.kcore === true) ops.push(op('SYMLINK', '/proc/kcore', '/dev/core'));
  return ops;
}

// --- namespaces and process -------------------------------------------------------------------

const IPC_SYSCTLS = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem',
  'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced',
]);

/** runc's validator: a sysctl is only written when it belongs to a namespace the container owns. */
function checkSysctl(name: string, has: (ns: keyof typeof NAMESPACE_FLAGS) => boolean): void {
  const field = `linux.sysctl[${JSON.stringify(name)}]`;
  if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
    if (!has('ipc')) invalid(field, `sysctl ${name} needs an ipc namespace`);
    return;
  }
  if (name.startsWith('net.')) {
    if (!has('network')) invalid(field, `sysctl ${name} needs a network namespace`);
    return;
  }
  if (name === 'kernel.domainname' && has('uts')) return;
  if (name === 'kernel.hostname' && has('uts')) invalid(field, 'use the hostname field instead of sysctl kernel.hostname');
  invalid(field, `sysctl ${name} is not in a namespace of the container`);
}

export function capabilityMask(names: readonly CapabilityName[]): bigint {
  return names.reduce((mask, n) => mask | (1n << BigInt(CAPABILITIES[n])), 0n);
}

/**
 * CREDS masks. An absent set is "-" (left as is), except inheritable: an absent inheritable set
 * is 0, so nothing is inheritable unless the spec asks (CVE-2022-29162, DESIGN.md baseline).
 */
function capabilityArgs(caps: OciCapabilities | undefined): string[] {
  const mask = (set: keyof OciCapabilities, absent: string) => {
    const names = caps?.[set];
    return names === undefined ? absent : capabilityMask(names).toString();
  };
  return [mask('bounding', '-'), mask('effective', '-'), mask('permitted', '-'), mask('inheritable', '0'), mask('ambient', '-')];
}

function rlimitValue(n: number): string {
  return n > Number.MAX_SAFE_INTEGER ? RLIM_INFINITY : String(n);
}

/**
 * The process part of a plan, from RLIMIT to the final EXEC (or EXEC_NOW for berth exec):
 * `config.process` with the container's seccomp profile, personality and labels.
 */
export function planProcess(config: OciConfig, opts: { lsm?: HostLsm; beforeExec?: PlanOp[]; exec?: 'EXEC' | 'EXEC_NOW' } = {}): PlanOp[] {
  const p = config.process;
  const ops: PlanOp[] = [];
  for (const r of p.rlimits ?? []) ops.push(op('RLIMIT', RLIMITS[r.type], rlimitValue(r.soft), rlimitValue(r.hard)));
  if (p.oomScoreAdj !== undefined) ops.push(op('OOM_SCORE_ADJ', p.oomScoreAdj));
  const seccomp = planSeccomp(config);
  ops.push(...planProcessAttributes(config), ...planLsm(config, opts.lsm), ...seccomp.beforeCreds);
  const groups = p.user.additionalGids?.length ? p.user.additionalGids.join(',') : '-';
  ops.push(op('CREDS', p.user.uid, p.user.gid, groups, ...capabilityArgs(p.capabilities)));
  if (p.noNewPrivileges === true) ops.push(op('NO_NEW_PRIVS'));
  ops.push(op('UMASK', (p.user.umask ?? 0o022).toString(8).padStart(4, '0')));
  ops.push(op('CWD', p.cwd));
  for (const e of p.env ?? []) ops.push(op('ENV', e));
  for (const a of p.args) ops.push(op('ARG', a));
  ops.push(...(opts.beforeExec ?? []), ...seccomp.beforeExec, op(opts.exec ?? 'EXEC'));
  return ops;
}

// --- the plan ---------------------------------------------------------------------------------

export function planInit(config: OciConfig, host: InitHost): InitPlan {
  if (!host.rootfs.startsWith('/')) {
    throw new RuntimeError('INVALID_ARGUMENT', `rootfs ${host.rootfs} must be an absolute path`, { field: 'root.path' });
  }
  const linux = config.linux ?? {};
  const types = new Set((linux.namespaces ?? []).map((n) => n.type));
  const has = (ns: keyof typeof NAMESPACE_FLAGS) => types.has(ns);
  if (!has('mount')) invalid('linux.namespaces', 'a mount namespace is required');
  const hostname = config.hostname ?? '';
  const domainname = config.domainname ?? '';
  if (hostname !== '' && !has('uts')) invalid('hostname', 'setting the hostname needs a uts namespace');
  if (domainname !== '' && !has('uts')) invalid('domainname', 'setting the domainname needs a uts namespace');
  const sysctl = Object.entries(linux.sysctl ?? {});
  for (const [name] of sysctl) checkSysctl(name, has);

  const propagation = linux.rootfsPropagation === undefined ? MS_REC | MS_SLAVE : PROPAGATION_OPTIONS.get(linux.rootfsPropagation) ?? 0;
  const mounts: MountPlan = { ops: [], deferred: [], idmapped: [], config, sysfsAsBind: has('user') && !has('network') };
  const cgroupView = { ownNamespace: has('cgroup'), cgroup: host.cgroup };
  (config.mounts ?? []).forEach((m, i) => planMount(m, i, host, cgroupView, mounts));
  // Namespace files to join come after the idmapped mounts' fds.
  const nsFdBase = FIRST_EXTRA_FD + mounts.idmapped.length;
  const planned = planNamespaces(linux, nsFdBase);
  const freshCgroupNs = linux.namespaces?.some((n) => n.type === 'cgroup' && n.path === undefined) ?? false;
  const ns = freshCgroupNs && host.cgroups.kind !== 'v2' && host.cgroup !== undefined ? deferCgroupNamespace(planned, CONTINUE_FD) : planned;
  if (has('user') && linux.namespaces?.every((n) => n.type !== 'user' || n.path === undefined) && ns.cloneFlags === 0) {
    // The maps of a new user namespace are written while the spawned helper waits (userns.ts);
    // on the slow path the helper itself unshares it, after that point.
    invalid('linux.namespaces', 'a new user namespace cannot be combined yet with joining namespaces by path or time offsets');
  }
  const hooks = planHooks(config, { id: host.id ?? '', bundle: host.bundle });

  const ops: PlanOp[] = [
    ...ns.ops,
    op('SETSID'),
    op('PROPAGATION', propagation),
    op('ROOTFS', host.rootfs),
    ...labelMounts(mounts.ops, linux.mountLabel),
    ...planDev(config, host),
    ...mounts.deferred,
    ...hooks.beforePivot,
    op('PIVOT_ROOT'),
    // The pty comes from the container's devpts, before the rootfs is finalized (runc's order).
    ...planTerminal(config.process, { console: true }),
    // Sysctls go in before /proc/sys turns read-only (runc's order).
    ...[...sysctl].map(([name, value]) => op('SYSCTL', name, value)),
    ...(linux.maskedPaths ?? []).map((p) => op('MASK', p)),
    ...(linux.readonlyPaths ?? []).map((p) => op('READONLY', p)),
  ];
  if (config.root.readonly === true) ops.push(op('ROOT_READONLY'));
  if (hostname !== '') ops.push(op('HOSTNAME', hostname));
  if (domainname !== '') ops.push(op('DOMAINNAME', domainname));
  ops.push(...planProcess(config, { lsm: host.lsm, beforeExec: hooks.beforeExec }));
  const userns = has('user') ? { uidMappings: linux.uidMappings ?? [], gidMappings: linux.gidMappings ?? [] } : null;
  return { ops, cloneFlags: ns.cloneFlags, joins: ns.joins, nsFdBase, idmapped: mounts.idmapped, userns };
}
