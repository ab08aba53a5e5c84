/**
 * Id mappings: `linux.uidMappings`/`gidMappings` of a user namespace and `mounts[].uidMappings`/
 * `gidMappings` of an idmapped mount, checked here against what the kernel accepts in
 * /proc/<pid>/uid_map (user_namespaces(7), kernel/user_namespace.c map_write): at most 340
 * lines, no range that wraps past 2^32 - 1, no two ranges overlapping on either side. Pure.
 */
import { RuntimeError } from '../errors.js';
import type { OciConfig, OciIdMapping, OciMount } from './spec.js';

/** The kernel's limit on lines in a uid_map or gid_map (since Linux 4.15). */
export const MAX_ID_MAP_LINES = 340;
/** The highest id a range may reach: first + count must stay below 2^32 (map_write's wrap check). */
export const LAST_MAPPABLE_ID = 4294967294;

function refuse(field: string, reason: string): never {
  throw new RuntimeError('INVALID_CONFIG', `invalid config: ${field}: ${reason}`, { field });
}

/** Checks a whole list (each entry already has integer fields and size >= 1). */
export function checkMappings(maps: readonly OciIdMapping[], field: string): void {
  if (maps.length > MAX_ID_MAP_LINES) refuse(field, `${maps.length} mappings, the kernel takes at most ${MAX_ID_MAP_LINES}`);
  maps.forEach((m, j) => {
    for (const side of ['containerID', 'hostID'] as const) {
      if (m[side] + m.size - 1 > LAST_MAPPABLE_ID) {
        refuse(`${field}[${j}]`, `${side} ${m[side]} with size ${m.size} goes beyond id ${LAST_MAPPABLE_ID}`);
      }
    }
    for (let i = 0; i < j; i++) {
      const o = maps[i]!;
      if (overlap(o.containerID, o.size, m.containerID, m.size)) refuse(`${field}[${j}]`, `container ids overlap ${field}[${i}]`);
      if (overlap(o.hostID, o.size, m.hostID, m.size)) refuse(`${field}[${j}]`, `host ids overlap ${field}[${i}]`);
    }
  });
}

function overlap(a: number, asize: number, b: number, bsize: number): boolean {
  return a < b + bsize && b < a + asize;
}

/** The host id a container id maps to, or null when it is not mapped. */
export function toHostId(maps: readonly OciIdMapping[], id: number): number | null {
  const m = maps.find((x) => id >= x.containerID && id < x.containerID + x.size);
  return m === undefined ? null : m.hostID + (id - m.containerID);
}

/** One line per mapping, "containerID hostID size", as /proc/<pid>/uid_map takes it in a single write. */
export function formatIdMap(maps: readonly OciIdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

function isBind(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/**
 * What an idmapped mount asks for, or null for an ordinary mount. Mappings without `idmap` or
 * `ridmap` still idmap the mount (the runtime-spec only says the option SHOULD be there; runc
 * does the same); `idmap`/`ridmap` without mappings use the container's own (runtime-spec: MAY).
 */
export interface IdMaps {
  uidMappings: OciIdMapping[];
  gidMappings: OciIdMapping[];
}

export interface MountIdMap extends IdMaps {
  /** `ridmap`: mount_setattr(AT_RECURSIVE), every submount of an rbind idmapped too. */
  recursive: boolean;
}

export function mountIdMap(m: OciMount, linux: OciConfig['linux']): MountIdMap | null {
  const opts = m.options ?? [];
  const recursive = opts.includes('ridmap');
  const asked = recursive || opts.includes('idmap');
  if (m.uidMappings !== undefined && m.gidMappings !== undefined) return { uidMappings: m.uidMappings, gidMappings: m.gidMappings, recursive };
  if (!asked) return null;
  return { uidMappings: linux?.uidMappings ?? [], gidMappings: linux?.gidMappings ?? [], recursive };
}

/**
 * The cross-field rules of user namespaces and idmapped mounts, once every field is known to
 * have the right type (validateConfig's last step).
 */
export function checkIdMaps(config: OciConfig): void {
  const linux = config.linux ?? {};
  const userns = (linux.namespaces ?? []).find((n) => n.type === 'user');
  if (!userns) {
    // runc: "user namespace mappings specified, but user namespace isn't enabled in the config"
    if (linux.uidMappings !== undefined) refuse('linux.uidMappings', 'mappings need a user namespace in linux.namespaces');
    if (linux.gidMappings !== undefined) refuse('linux.gidMappings', 'mappings need a user namespace in linux.namespaces');
  } else if (userns.path === undefined) {
    // A joined user namespace has maps of its own, which only the kernel knows.
    checkUserMapped(config);
  }
  (config.mounts ?? []).forEach((m, i) => checkMount(m, `mounts[${i}]`, config, userns !== undefined));
}

/** Inside a user namespace the process's ids must be mapped, or setresuid/setgroups fail with EINVAL. */
function checkUserMapped(config: OciConfig): void {
  const uids = config.linux?.uidMappings ?? [];
  const gids = config.linux?.gidMappings ?? [];
  const user = config.process.user;
  const unmapped = (field: string, id: number, maps: OciIdMapping[], which: string) => {
    if (toHostId(maps, id) === null) refuse(field, `${id} is not mapped in linux.${which}`);
  };
  // The helper is root of the namespace until CREDS (runc's nsexec: setresuid(0, 0, 0)).
  if (toHostId(uids, 0) === null) refuse('linux.uidMappings', 'container uid 0 must be mapped: the init runs as root of the user namespace');
  if (toHostId(gids, 0) === null) refuse('linux.gidMappings', 'container gid 0 must be mapped: the init runs as root of the user namespace');
  unmapped('process.user.uid', user.uid, uids, 'uidMappings');
  unmapped('process.user.gid', user.gid, gids, 'gidMappings');
  (user.additionalGids ?? []).forEach((g, i) => unmapped(`process.user.additionalGids[${i}]`, g, gids, 'gidMappings'));
  // A FIFO is made with mknod there too, and chowned to ids of the namespace.
  (config.linux?.devices ?? []).forEach((d, i) => {
    if (d.type !== 'p') return;
    unmapped(`linux.devices[${i}].uid`, d.uid ?? 0, uids, 'uidMappings');
    unmapped(`linux.devices[${i}].gid`, d.gid ?? 0, gids, 'gidMappings');
  });
  // devpts takes uid=/gid= as ids of the mounting user namespace: an unmapped one is EINVAL.
  (config.mounts ?? []).forEach((m, i) => {
    if (m.type !== 'devpts') return;
    (m.options ?? []).forEach((o, j) => {
      const kv = /^(uid|gid)=(\d+)$/.exec(o);
      if (kv === null) return;
      const which = kv[1] === 'uid' ? 'uidMappings' : 'gidMappings';
      unmapped(`mounts[${i}].options[${j}]`, Number(kv[2]), kv[1] === 'uid' ? uids : gids, which);
    });
  });
}

function checkMount(m: OciMount, field: string, config: OciConfig, userns: boolean): void {
  if ((m.uidMappings === undefined) !== (m.gidMappings === undefined)) {
    refuse(`${field}.${m.uidMappings === undefined ? 'uidMappings' : 'gidMappings'}`, 'uidMappings and gidMappings go together');
  }
  const idmap = mountIdMap(m, config.linux);
  if (idmap === null) return;
  if (!isBind(m)) refuse(field, 'idmapped mounts are only supported for bind mounts');
  if (m.uidMappings === undefined && !userns) {
    refuse(`${field}.options`, 'idmap without uidMappings and gidMappings needs a user namespace to take them from');
  }
  if (m.uidMappings !== undefined) {
    if (m.uidMappings.length === 0) refuse(`${field}.uidMappings`, 'must not be empty');
    if (m.gidMappings!.length === 0) refuse(`${field}.gidMappings`, 'must not be empty');
    checkMappings(m.uidMappings, `${field}.uidMappings`);
    checkMappings(m.gidMappings!, `${field}.gidMappings`);
  }
}
