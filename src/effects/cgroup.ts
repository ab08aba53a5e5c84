import { existsSync, rmdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { RuntimeError } from '../errors.js';
import type { EffectInput } from '../machines/container.machine.js';
import type { OciResources } from '../machines/spec.js';
import { cgroupManager, resolveCgroupsPath, type CgroupManager } from './cgroups/index.js';
import type { EffectDeps } from './deps.js';
import { DEFAULT_ROOT } from './paths.js';

/** The cgroup manager of a created container (its path is in the log: `Created.cgroup`). */
export function cgroupOf(d: EffectDeps, c: Pick<EffectInput, 'id' | 'cgroup'>): CgroupManager {
  if (c.cgroup === null) throw new RuntimeError('INTERNAL', `container ${c.id} has no cgroup`);
  return cgroupManager(d.cgroups(), c.cgroup, { sys: d.sys });
}

/**
 * Remove berth's default parents (`/berth/<root tag>`, then `/berth`) from every hierarchy once
 * the last container in them is gone, so an idle host keeps no berth cgroup. A parent that
 * still has children stays (EBUSY/ENOTEMPTY); a create racing with this retries its mkdir.
 */
export function removeEmptyDefaultParent(d: EffectDeps, cgroup: string): void {
  if (!cgroup.startsWith(`/${DEFAULT_PARENT}/`)) return;
  const parents: string[] = [];
  for (let p = dirname(cgroup); p !== '/'; p = dirname(p)) parents.push(p);
  const layout = d.cgroups();
  for (const mount of new Set([...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])])) {
    for (const p of parents) {
      try {
        rmdirSync(join(mount, p));
      } catch {
        break; // still in use, or already gone
      }
    }
  }
}

const DEFAULT_PARENT = 'berth';

/**
 * The container's cgroup path. Without a cgroupsPath in the spec: `/berth/<id>` for the
 * default root, and `/berth/<root tag>/<id>` for any other root, so two roots using the same
 * id never share (or, reconciling an interrupted create, kill) each other's cgroup.
 */
export function defaultCgroupPath(root: string, id: string): string | undefined {
  if (root === DEFAULT_ROOT) return undefined;
  const tag = createHash('sha256').update(root).digest('hex').slice(0, 10);
  return `/${DEFAULT_PARENT}/${tag}/${id}`;
}

export function cgroupPathFor(d: EffectDeps, id: string, specPath: string | undefined): string {
  specPath ??= defaultCgroupPath(d.paths.root, id);
  if (d.systemdCgroup && !existsSync('/run/systemd/system')) {
    // runc would fail without a systemd to talk to; berth places the cgroup where systemd would.
    d.log.warn({ id, cgroupsPath: specPath }, 'systemd cgroup manager requested but systemd is not running: placing the cgroup on cgroupfs as systemd would');
  }
  return resolveCgroupsPath(specPath, id, { systemd: d.systemdCgroup });
}

/**
 * The devices every container may use whatever its spec says, as runc adds them
 * (libcontainer/specconv AllowedDevices): mknod of any char/block device, the standard
 * /dev nodes, ptys and tun. The spec's rules come first, so a deny-all there is followed
 * by these allows.
 */
const ALLOWED_DEVICES: NonNullable<OciResources['devices']> = [
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

export function withDefaultDevices(r: OciResources | undefined): OciResources {
  const own: unknown = r?.devices;
  // Not a list: left as it is, for the resources validation to refuse naming the field.
  if (own !== undefined && own !== null && !Array.isArray(own)) return { ...r };
  return { ...r, devices: [...(own ?? []), ...ALLOWED_DEVICES] };
}

const GROUPS = ['memory', 'cpu', 'pids', 'blockIO', 'network', 'rdma'] as const;

/** runc update semantics: each given field replaces the one in force; absent fields stay. */
export function mergeResources(inForce: OciResources | null, change: OciResources): OciResources {
  const out: OciResources = { ...inForce, ...change };
  for (const g of GROUPS) {
    const a = inForce?.[g];
    const b = change[g];
    if (a && b && typeof a === 'object' && typeof b === 'object') out[g] = { ...a, ...b } as never;
  }
  return out;
}
