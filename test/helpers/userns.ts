import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCgroupPath } from '../../src/effects/cgroup.js';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';
import type { OciConfig, OciIdMapping } from '../../src/machines/spec.js';
import { busyboxRootfs } from './bundle.js';

/** The host ids a user-namespaced test container's 0..65535 map to. */
export const MAPPED_ROOT = 100000;
export const MAPPINGS: OciIdMapping[] = [{ containerID: 0, hostID: MAPPED_ROOT, size: 65536 }];

/** Give the container a user namespace with MAPPINGS for uids and gids. */
export function withUserns(c: OciConfig): void {
  c.linux ??= {};
  c.linux.namespaces = [...c.linux.namespaces ?? [], { type: 'user' }];
  c.linux.uidMappings = MAPPINGS.map((m) => ({ ...m }));
  c.linux.gidMappings = MAPPINGS.map((m) => ({ ...m }));
}

/**
 * A copy of the busybox rootfs owned by the mapped root, as runc's own tests make one: neither
 * runc nor berth changes a rootfs's ownership (runtime-spec: the runtime SHOULD NOT). Its
 * directory is 0755 so the container's root (an unprivileged host uid) can reach it.
 */
export function mappedRootfs(): { path: string; cleanup(): void } {
  const dir = mkdtempSync('/var/tmp/berth-userns-');
  chmodSync(dir, 0o755);
  const path = join(dir, 'rootfs');
  execFileSync('cp', ['-a', busyboxRootfs(), path]);
  execFileSync('chown', ['-hR', `${MAPPED_ROOT}:${MAPPED_ROOT}`, path]);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The Uid: or Gid: line of /proc/<pid>/status, as the host sees it. */
export function statusIds(pid: number, which: 'Uid' | 'Gid'): number[] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = new RegExp(`^${which}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '';
  return line.split(/\s+/).map(Number);
}

/** The cgroup directories a container of this root would have, that exist on the host. */
export function containerCgroups(root: string, id: string): string[] {
  const layout = readCgroupLayout();
  const path = defaultCgroupPath(root, id)!;
  const mounts = new Set([...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])]);
  return [...mounts].map((m) => join(m, path)).filter((d) => existsSync(d));
}
