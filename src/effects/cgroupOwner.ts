/**
 * Cgroup ownership (runtime-spec config-linux.md "Cgroup ownership", runc's OwnerUID): a
 * container that gets its own cgroup namespace and a writable cgroup2 mount at /sys/fs/cgroup
 * may manage its own cgroup, so the cgroup directory and the files the kernel lists as
 * delegatable are chowned to the host uid its process runs as. Only on pure cgroup v2
 * (delegation is not safe on v1, and a hybrid host uses v1 for resources), and, as runc, only
 * when that uid maps through linux.uidMappings (a user namespace).
 */
import { chownSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

import { errnoOf, wrapSyscall } from '../errors.js';
import { toHostId } from '../machines/idmap.js';
import type { OciConfig } from '../machines/spec.js';
import type { CgroupLayout } from './cgroupLayout.js';
import { parseMountOptions } from './initPlan.js';
import { MS_RDONLY } from './linuxConstants.js';

/** cgroups(7): the files to hand over when /sys/kernel/cgroup/delegate does not exist. */
const FALLBACK_DELEGATE = ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads'];

/** The host uid that should own the container's cgroup, or null when it stays root's. */
export function cgroupOwner(config: OciConfig, layout: CgroupLayout): number | null {
  if (layout.kind !== 'v2') return null;
  const namespaces = config.linux?.namespaces ?? [];
  if (!namespaces.some((n) => n.type === 'cgroup' && n.path === undefined)) return null;
  if (!namespaces.some((n) => n.type === 'user')) return null;
  const writable = (config.mounts ?? []).some((m) => m.source === 'cgroup'
    && posix.normalize(`/${m.destination}/`) === '/sys/fs/cgroup/'
    && (parseMountOptions(m.options ?? []).flags & MS_RDONLY) === 0);
  if (!writable) return null;
  return toHostId(config.linux?.uidMappings ?? [], config.process.user.uid);
}

/** The file names listed in `delegateFile` (whitespace-separated), or cgroups(7)'s fallback. */
export function delegatedFiles(delegateFile = '/sys/kernel/cgroup/delegate'): string[] {
  let text: string;
  try {
    text = readFileSync(delegateFile, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return FALLBACK_DELEGATE;
    throw e;
  }
  return text.split(/\s+/).filter((n) => n !== '' && !n.includes('/') && n !== '.' && n !== '..');
}

/**
 * Chowns the cgroup directory and each delegatable file in it to `uid`, keeping the group. A
 * listed file this cgroup lacks is skipped (runtime-spec: MUST NOT fail); no other file changes.
 */
export function delegateCgroup(dir: string, uid: number, files: readonly string[]): void {
  for (const name of ['.', ...files]) {
    const path = join(dir, name);
    try {
      chownSync(path, uid, -1);
    } catch (e) {
      if (name !== '.' && errnoOf(e) === 'ENOENT') continue;
      throw wrapSyscall(`chown ${path}`, e, { field: 'linux.cgroupsPath' });
    }
  }
}
