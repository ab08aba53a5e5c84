/**
 * User namespaces from the host side, as root and without newuidmap (runc's nsexec does the
 * same): the container's maps are written while its init waits before execveat, and idmapped
 * mounts are prepared here, in the host's namespaces, and handed to the helper as fds.
 * https://man7.org/linux/man-pages/man7/user_namespaces.7.html
 */
import { closeSync, openSync, statSync, writeFileSync } from 'node:fs';
import { constants as osc } from 'node:os';

import { RuntimeError, errnoOf, wrapSyscall } from '../errors.js';
import { formatIdMap, type IdMaps } from '../machines/idmap.js';
import type { OciConfig } from '../machines/spec.js';
import type { EffectDeps } from './deps.js';
import type { IdmappedMount } from './initPlan.js';
import { AT_RECURSIVE, MOUNT_ATTR_IDMAP, OPEN_TREE_CLONE } from './mountAttrs.js';
import { reap } from './reap.js';

/**
 * Writes /proc/<pid>/uid_map, then gid_map, each in one write (the kernel takes a map once, whole).
 * `setgroups` is left alone unless `denySetgroups`: runc writes "deny" only for rootless
 * containers, whose gid_map could otherwise not be written; as root it is never needed, and the
 * container's CREDS still calls setgroups.
 */
export function writeIdMaps(pid: number, maps: IdMaps, opts: { denySetgroups?: boolean } = {}): void {
  const write = (file: string, text: string, field: string) => {
    try {
      writeFileSync(`/proc/${pid}/${file}`, text);
    } catch (e) {
      throw wrapSyscall(`write /proc/${pid}/${file}`, e, { field });
    }
  };
  write('uid_map', formatIdMap(maps.uidMappings), 'linux.uidMappings');
  if (opts.denySetgroups === true) write('setgroups', 'deny', 'linux.gidMappings');
  write('gid_map', formatIdMap(maps.gidMappings), 'linux.gidMappings');
}

/**
 * A user namespace fd with these maps: a holder process is cloned into a new user namespace,
 * its maps written, its /proc/<pid>/ns/user opened, then it is killed and reaped (runc's
 * throwaway process for idmapped mounts). The fd keeps the namespace alive.
 */
export async function usernsFd(d: EffectDeps, maps: IdMaps): Promise<number> {
  const holder = d.sys.spawnUsernsHolder();
  try {
    // Its gid_map is written with setgroups denied, as runc's throwaway (Go's default).
    writeIdMaps(holder.pid, maps, { denySetgroups: true });
    return openSync(`/proc/${holder.pid}/ns/user`, 'r');
  } finally {
    try {
      d.sys.pidfdSendSignal(holder.pidfd, osc.signals.SIGKILL);
    } catch {
      // cannot fail on our own unreaped child
    }
    await reap(d, { pidfd: holder.pidfd });
    d.sys.close(holder.pidfd);
  }
}

/**
 * The detached, idmapped trees of the plan's idmapped mounts, in fd order: open_tree(OPEN_TREE_CLONE
 * [| AT_RECURSIVE for rbind]) of the source, then mount_setattr(MOUNT_ATTR_IDMAP [, AT_RECURSIVE for
 * ridmap]). Mounts with the same maps share one user namespace. On failure everything made so far
 * is closed and the error names the mount.
 */
export async function prepareIdmappedMounts(d: EffectDeps, id: string, mounts: readonly IdmappedMount[]): Promise<number[]> {
  const trees: number[] = [];
  const namespaces = new Map<string, number>();
  try {
    for (const m of mounts) {
      const key = `${formatIdMap(m.uidMappings)}|${formatIdMap(m.gidMappings)}`;
      let ns = namespaces.get(key);
      if (ns === undefined) {
        ns = await usernsFd(d, m).catch((e: unknown) => { throw wrapSyscall(`create ${id}: user namespace for ${m.field}`, e, { field: `${m.field}.uidMappings` }); });
        namespaces.set(key, ns);
      }
      trees.push(idmappedTree(d, id, m, ns));
    }
    return trees;
  } catch (e) {
    for (const fd of trees) d.sys.close(fd);
    throw e;
  } finally {
    for (const fd of namespaces.values()) closeSync(fd);
  }
}

function idmappedTree(d: EffectDeps, id: string, m: IdmappedMount, ns: number): number {
  let tree: number;
  try {
    tree = d.sys.openTree(m.source, OPEN_TREE_CLONE | (m.recursiveBind ? AT_RECURSIVE : 0));
  } catch (e) {
    throw wrapSyscall(`create ${id}: idmapped mount ${m.field}: open_tree ${m.source}`, e, { field: `${m.field}.source` });
  }
  try {
    d.sys.mountSetattr(tree, m.recursive ? AT_RECURSIVE : 0, { attrSet: MOUNT_ATTR_IDMAP, attrClr: 0, propagation: 0, usernsFd: ns });
    return tree;
  } catch (e) {
    d.sys.close(tree);
    if (errnoOf(e) === 'EINVAL') {
      // can_idmap_mount(): the filesystem (or, with ridmap, one below it) does not allow idmapping
      throw new RuntimeError('INVALID_CONFIG',
        `create ${id}: ${m.field}: the filesystem of ${m.source} does not support idmapped mounts (mount_setattr: EINVAL)`,
        { field: m.field, cause: e });
    }
    throw wrapSyscall(`create ${id}: idmapped mount ${m.field}: mount_setattr ${m.source}`, e, { field: m.field });
  }
}

/**
 * In a user namespace mknod of a device is not allowed, so each of linux.devices is the host's node of the
 * same path bound in (runc's bindMountDeviceNode). runc binds whatever is there; berth first
 * checks that the host has that node with the type and numbers the spec asks for, so a missing
 * or different one is a coded error naming the device instead of a failed bind or a wrong device.
 */
export function checkHostDevices(config: OciConfig): void {
  (config.linux?.devices ?? []).forEach((dev, i) => {
    if (dev.type === 'p') return; // a FIFO needs no privilege: mknod makes it there too
    const field = `linux.devices[${i}]`;
    const want = dev.type === 'b' ? 'b' : 'c';
    let st;
    try {
      st = statSync(dev.path);
    } catch (e) {
      throw new RuntimeError('INVALID_CONFIG', `invalid config: ${field}: in a user namespace devices are bound from the host, which has no ${dev.path} (${errnoOf(e) ?? 'error'})`, { field });
    }
    const kind = st.isBlockDevice() ? 'b' : st.isCharacterDevice() ? 'c' : null;
    // glibc's dev_t: major in bits 8-19, minor in bits 0-7 and 20-31 (for numbers this size)
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = (st.rdev & 0xff) | (Math.floor(st.rdev / 4096) & 0xfff00);
    if (kind !== want || major !== (dev.major ?? 0) || minor !== (dev.minor ?? 0)) {
      throw new RuntimeError('INVALID_CONFIG',
        `invalid config: ${field}: in a user namespace devices are bound from the host, and the host's ${dev.path} is not ${want} ${dev.major ?? 0}:${dev.minor ?? 0}`, { field });
    }
  });
}
