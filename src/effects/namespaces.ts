import { closeSync, constants as fsc, existsSync, openSync } from 'node:fs';
import { RuntimeError, errnoOf } from '../errors.js';
import type { OciConfig } from '../machines/spec.js';
import { NAMESPACE_FLAGS } from './linuxConstants.js';
import type { NamespaceJoin } from './nsPlan.js';
import type { Syscalls } from './syscalls.js';

const TYPE_OF_FLAG = new Map<number, string>(Object.entries(NAMESPACE_FLAGS).map(([type, flag]) => [flag, type]));

function invalid(field: string, reason: string): RuntimeError {
  return new RuntimeError('INVALID_CONFIG', `invalid config: ${field}: ${reason}`, { field });
}

/**
 * Open every namespace the spec joins by path, in SETNS order, and check that each is a
 * namespace of its type with ioctl(NS_GET_NSTYPE) on the opened fd (so the file cannot change
 * between the check and the join; a bind-mounted one, as `ip netns add` makes, works too).
 * Returns the fds (Node opens every file O_CLOEXEC); any failure closes what was opened and
 * names the field.
 */
export function openNamespaces(sys: Syscalls, joins: readonly NamespaceJoin[]): number[] {
  const fds: number[] = [];
  try {
    for (const j of joins) {
      let fd: number;
      try {
        // O_NONBLOCK: a FIFO at that path must not block the open
        fd = openSync(j.path, fsc.O_RDONLY | fsc.O_NONBLOCK);
      } catch (e) {
        throw invalid(j.field, `${j.path}: ${errnoOf(e) ?? String(e)}`);
      }
      fds.push(fd);
      let type: string | undefined;
      try {
        type = TYPE_OF_FLAG.get(sys.nsGetType(fd)) ?? 'unknown';
      } catch (e) {
        if (errnoOf(e) !== 'ENOTTY') throw e;
      }
      if (type !== j.type) {
        throw invalid(j.field, `${j.path} is not a ${j.type} namespace${type ? ` (it is a ${type} namespace)` : ''}`);
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
