import { closeSync, constants as fsc, existsSync, openSync, readlinkSync } from 'node:fs';
import { RuntimeError, errnoOf } from '../errors.js';
import type { NamespaceType, OciConfig } from '../machines/spec.js';
import type { NamespaceJoin } from './nsPlan.js';

/** The kind nsfs shows for each spec type, in /proc/<pid>/ns and in an fd's link ("net:[4026531840]"). */
const NSFS_KIND: Record<NamespaceType, string> = {
  pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time',
};

function invalid(field: string, reason: string): RuntimeError {
  return new RuntimeError('INVALID_CONFIG', `invalid config: ${field}: ${reason}`, { field });
}

/**
 * Open every namespace the spec joins by path, in SETNS order, and check that each is a
 * namespace of its type (Node opens every file O_CLOEXEC): the link of the opened fd reads `<kind>:[<inode>]` only for an nsfs
 * file, and names the kind (what ioctl NS_GET_NSTYPE would say). Checked on the fd, so the file
 * cannot change between the check and the join. Returns the fds (O_CLOEXEC); any failure
 * closes what was opened and names the field.
 */
export function openNamespaces(joins: readonly NamespaceJoin[]): number[] {
  const fds: number[] = [];
  try {
    for (const j of joins) {
      let fd: number;
      try {
        fd = openSync(j.path, fsc.O_RDONLY | fsc.O_NONBLOCK);
      } catch (e) {
        throw invalid(j.field, `${j.path}: ${errnoOf(e) ?? String(e)}`);
      }
      fds.push(fd);
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      const kind = /^(\w+):\[\d+\]$/.exec(link)?.[1];
      if (kind !== NSFS_KIND[j.type]) {
        throw invalid(j.field, `${j.path} is not a ${j.type} namespace${kind ? ` (it is a ${kind} namespace)` : ''}`);
      }
    }
    return fds;
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw e;
  }
}

/**
 * A spec that asks for a time namespace on a kernel without them (before 5.6, or built without
 * CONFIG_TIME_NS) is refused up front, naming the field, instead of failing in clone3 or
 * unshare with a bare EINVAL. `hasTimeNs` is the host check, passed in for tests.
 */
export function checkHostNamespaces(config: OciConfig, hasTimeNs: () => boolean = () => existsSync('/proc/self/ns/time')): void {
  const linux = config.linux ?? {};
  const i = (linux.namespaces ?? []).findIndex((n) => n.type === 'time');
  if (i < 0 || hasTimeNs()) return;
  const field = linux.timeOffsets !== undefined ? 'linux.timeOffsets' : `linux.namespaces[${i}]`;
  throw invalid(field, 'this kernel has no time namespaces (no /proc/self/ns/time)');
}
