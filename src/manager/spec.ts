import { posix } from 'node:path';
import { RuntimeError } from '../errors.js';
import { defaultConfig, type OciConfig, type OciMount, type OciNamespace } from '../machines/spec.js';
import { parseSignal, signalName } from '../signals.js';
import { DEFAULT_SHM_SIZE, DEFAULT_STOP_TIMEOUT, type ContainerOptions, type MountOption } from './options.js';
import type { ResolvedUser } from './users.js';

/** Annotations the manager writes into every spec it generates. */
export const ANNOTATIONS = {
  name: 'berth.name',
  created: 'berth.created',
  stopSignal: 'berth.stop-signal',
  stopTimeout: 'berth.stop-timeout',
} as const;

/** Host paths of the files berth provides (src/manager/files.ts). */
export interface ProvidedFiles {
  hosts: string;
  resolvConf: string;
  hostname: string;
}

export interface SpecInputs {
  opts: ContainerOptions;
  /** The rootfs's real path. */
  rootfs: string;
  user: ResolvedUser;
  files: ProvidedFiles;
  /** The container's namespaces, with paths for those it joins. */
  namespaces: OciNamespace[];
  created: string;
}

export function invalid(field: string, message: string): RuntimeError {
  return new RuntimeError('INVALID_ARGUMENT', `${field}: ${message}`, { field });
}

const SYSTEMD_COMMANDS = new Set(['systemd', 'init']);

/** systemd mode: asked for, or the command is systemd or init (podman's `--systemd=true` default). */
export function isSystemd(opts: ContainerOptions): boolean {
  return opts.systemd ?? SYSTEMD_COMMANDS.has(posix.basename(opts.command[0] ?? ''));
}

/** The stop signal's number: the option, SIGRTMIN+3 for systemd (its halt request), else SIGTERM. */
export function stopSignalOf(opts: ContainerOptions): number {
  try {
    return parseSignal(opts.stopSignal ?? (isSystemd(opts) ? 'SIGRTMIN+3' : 'SIGTERM'));
  } catch (e) {
    throw invalid('stopSignal', (e as Error).message);
  }
}

export function stopTimeoutOf(opts: ContainerOptions): number {
  const t = opts.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw invalid('stopTimeout', `expected seconds >= 0, got ${JSON.stringify(t)}`);
  return t;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function parseSize(field: string, v: number | string): number {
  const m = typeof v === 'number' ? [String(v), String(v), ''] : /^(\d+)([bkmg]?)$/i.exec(v);
  const n = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid(field, `expected a size like 65536, 64m or 1g, got ${JSON.stringify(v)}`);
  return n;
}

/** A container path: absolute, without `..`, not `/`. */
export function containerPath(field: string, p: unknown): string {
  if (typeof p !== 'string' || !p.startsWith('/')) throw invalid(field, `expected an absolute path, got ${JSON.stringify(p)}`);
  if (p.split('/').includes('..')) throw invalid(field, `${p} leaves the rootfs`);
  const n = posix.normalize(p).replace(/(.)\/$/, '$1');
  if (n === '/') throw invalid(field, 'cannot mount over the rootfs itself');
  return n;
}

/**
 * The caller's bind mounts, checked: a destination inside the rootfs, never /proc or under it
 * (the kernel's view of the container's processes — a bind there could hide masked paths or
 * forge /proc/self), each destination once.
 */
export function userMounts(mounts: readonly MountOption[] = []): OciMount[] {
  if (!Array.isArray(mounts)) throw invalid('mounts', 'expected an array');
  const seen = new Set<string>();
  return mounts.map((m, i) => {
    const field = `mounts[${i}]`;
    if (typeof m !== 'object' || m === null) throw invalid(field, 'expected { source, destination }');
    const destination = containerPath(`${field}.destination`, m.destination);
    if (destination === '/proc' || destination.startsWith('/proc/')) throw invalid(`${field}.destination`, `${destination} is over /proc`);
    if (seen.has(destination)) throw invalid(`${field}.destination`, `${destination} is mounted twice`);
    seen.add(destination);
    if (typeof m.source !== 'string' || !m.source.startsWith('/')) throw invalid(`${field}.source`, `expected an absolute host path, got ${JSON.stringify(m.source)}`);
    const options = ['rbind', 'nosuid', 'nodev', ...(m.readOnly ? ['ro'] : [])];
    return { destination, type: 'bind', source: m.source, options };
  });
}

/**
 * Mounts in an order where none hides a later one: by depth of the destination (a parent
 * before its children), stable otherwise, as podman sorts them. A later mount of the same
 * destination replaces an earlier one (the caller's over berth's defaults).
 */
export function sortMounts(mounts: readonly OciMount[]): OciMount[] {
  const byDest = new Map<string, OciMount>();
  for (const m of mounts) {
    byDest.delete(m.destination);
    byDest.set(m.destination, m);
  }
  const depth = (m: OciMount) => m.destination.split('/').filter(Boolean).length;
  return [...byDest.values()].map((m, i) => ({ m, i })).sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i).map(({ m }) => m);
}

function envList(env: ContainerOptions['env']): string[] {
  if (env === undefined) return [];
  if (Array.isArray(env)) {
    env.forEach((e, i) => {
      if (typeof e !== 'string' || !/^[^=]+=/.test(e)) throw invalid(`env[${i}]`, `expected NAME=value, got ${JSON.stringify(e)}`);
    });
    return env;
  }
  if (typeof env !== 'object' || env === null) throw invalid('env', 'expected an object or an array of NAME=value');
  return Object.entries(env).map(([k, v]) => {
    if (k === '' || k.includes('=') || typeof v !== 'string') throw invalid(`env.${k}`, 'expected a string value and a name without =');
    return `${k}=${v}`;
  });
}

/** Later entries win; order is kept by first appearance. */
function mergeEnv(...lists: string[][]): string[] {
  const out = new Map<string, string>();
  for (const e of lists.flat()) out.set(e.slice(0, e.indexOf('=')), e);
  return [...out.values()];
}

const tmpfs = (destination: string, mode: string, extra: string[] = []): OciMount => ({
  destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', `mode=${mode}`, ...extra],
});

/** Generate the container's OCI config: `berth spec`'s defaults plus the options. Pure. */
export function generateSpec(inp: SpecInputs): OciConfig {
  const { opts } = inp;
  const config = defaultConfig();
  const hostname = opts.hostname ?? opts.pod ?? opts.name.slice(0, 64);
  const systemd = isSystemd(opts);
  const env = mergeEnv(
    config.process.env ?? [],
    inp.user.home ? [`HOME=${inp.user.home}`] : [],
    [`HOSTNAME=${hostname}`, 'container=berth'],
    envList(opts.env),
  );
  config.process = {
    ...config.process,
    args: [...opts.command],
    env,
    cwd: opts.workdir === undefined ? '/' : containerPath('workdir', opts.workdir),
    user: { uid: inp.user.uid, gid: inp.user.gid, ...(inp.user.additionalGids.length > 0 ? { additionalGids: inp.user.additionalGids } : {}) },
  };
  config.root = { path: inp.rootfs, readonly: opts.readOnly ?? false };
  config.hostname = hostname;
  const shm = parseSize('shmSize', opts.shmSize ?? DEFAULT_SHM_SIZE);
  const provided: OciMount[] = [
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`] },
    ...(systemd ? [tmpfs('/run', '755'), tmpfs('/run/lock', '1777', ['noexec']), tmpfs('/tmp', '1777'), tmpfs('/var/log/journal', '755')] : []),
    { destination: '/etc/hosts', type: 'bind', source: inp.files.hosts, options: ['bind', 'nosuid', 'nodev', 'noexec'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: inp.files.resolvConf, options: ['bind', 'nosuid', 'nodev', 'noexec'] },
    { destination: '/etc/hostname', type: 'bind', source: inp.files.hostname, options: ['bind', 'nosuid', 'nodev', 'noexec'] },
  ];
  config.mounts = sortMounts([...(config.mounts ?? []), ...provided, ...userMounts(opts.mounts)]);
  config.annotations = {
    [ANNOTATIONS.name]: opts.name,
    [ANNOTATIONS.created]: inp.created,
    [ANNOTATIONS.stopSignal]: signalName(stopSignalOf(opts)),
    [ANNOTATIONS.stopTimeout]: String(stopTimeoutOf(opts)),
  };
  const linux = config.linux!;
  linux.namespaces = inp.namespaces;
  // A joined uts namespace keeps its owner's hostname: setting ours would rename it for everyone in it.
  if (inp.namespaces.some((n) => n.type === 'uts' && n.path !== undefined)) delete config.hostname;
  setCgroupPath(config, opts.cgroupParent, opts.name);
  if (opts.resources !== undefined) linux.resources = { ...linux.resources, ...opts.resources };
  return config;
}

/** `/<parent>/<name>` with a parent; without one, no path: the runtime's default for the root. */
export function setCgroupPath(config: OciConfig, parent: string | undefined, name: string): void {
  if (config.linux === undefined) return;
  if (parent === undefined) {
    delete config.linux.cgroupsPath;
    return;
  }
  if (typeof parent !== 'string' || parent === '' || parent.split('/').includes('..')) {
    throw invalid('cgroupParent', `expected a cgroup path without .., got ${JSON.stringify(parent)}`);
  }
  config.linux.cgroupsPath = `/${parent.replace(/^\/+|\/+$/g, '')}/${name}`;
}
