/**
 * Where a container's cgroup lives, as a path relative to every hierarchy's root (`/berth/web`).
 * Pure: the backends join it onto each mountpoint.
 *
 *   absolute `/a/b`          used as is under each hierarchy root
 *   relative `a/b`           under the runtime's parent (default: the hierarchy root)
 *   none                     `<parent>/berth/<id>` (runc uses `/<id>`; ours are findable under one dir)
 *   systemd `slice:prefix:name` (what `--systemd-cgroup` passes; the only form allowed then)
 *                            `<expanded slice>/<prefix>-<name>.scope`, or `<expanded slice>/<name>`
 *                            when name is itself a `.slice`, as runc's systemd driver names units
 *
 * `..` may appear only while the path stays inside the hierarchy; the root itself is refused.
 */
import { RuntimeError } from '../../errors.js';

const FIELD = 'linux.cgroupsPath';

function invalid(message: string): RuntimeError {
  return new RuntimeError('INVALID_CONFIG', `invalid config: ${FIELD}: ${message}`, { field: FIELD });
}

/** Resolves `.`/`..`/`//` against `base` (components); throws when `..` climbs above the root. */
function joinInside(base: string[], path: string, original: string): string[] {
  const out = [...base];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw invalid(`${JSON.stringify(original)} escapes the cgroup hierarchy`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

/**
 * systemd's slice name → its path: `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`, `-.slice`
 * → `/` (systemd unit_name_to_path rules: no empty component, no `/`).
 */
export function expandSlice(slice: string): string {
  const suffix = '.slice';
  if (!slice.endsWith(suffix) || slice.includes('/')) throw invalid(`invalid slice name ${JSON.stringify(slice)}`);
  if (slice === '-.slice') return '/';
  const name = slice.slice(0, -suffix.length);
  if (name === '' || name.startsWith('-') || name.endsWith('-') || name.includes('--')) {
    throw invalid(`invalid slice name ${JSON.stringify(slice)}`);
  }
  let prefix = '';
  let path = '';
  for (const part of name.split('-')) {
    prefix = prefix === '' ? part : `${prefix}-${part}`;
    path += `/${prefix}${suffix}`;
  }
  return path;
}

function systemdPath(spec: string | undefined, id: string): string {
  const parts = (spec ?? `system.slice:berth:${id}`).split(':');
  if (parts.length !== 3) {
    throw invalid(`expected "slice:prefix:name" with --systemd-cgroup, got ${JSON.stringify(spec)}`);
  }
  const [slice = '', prefix = '', name = ''] = parts;
  if (name === '' || name.includes('/') || prefix.includes('/')) {
    throw invalid(`invalid systemd unit in ${JSON.stringify(spec)}`);
  }
  const parent = expandSlice(slice === '' ? 'system.slice' : slice);
  const unit = name.endsWith('.slice') ? name : `${prefix}-${name}.scope`;
  return `${parent === '/' ? '' : parent}/${unit}`;
}

export function resolveCgroupsPath(
  specPath: string | undefined,
  id: string,
  opts: { systemd: boolean; parent?: string },
): string {
  if (specPath?.includes('\0') || opts.parent?.includes('\0')) throw invalid('contains a NUL byte');
  if (opts.systemd) return systemdPath(specPath, id);
  const parent = joinInside([], opts.parent ?? '/', opts.parent ?? '/');
  let parts: string[];
  if (specPath === undefined || specPath === '') parts = joinInside(parent, `berth/${id}`, `berth/${id}`);
  else if (specPath.startsWith('/')) parts = joinInside([], specPath, specPath);
  else parts = joinInside(parent, specPath, specPath);
  if (parts.length === 0) throw invalid(`${JSON.stringify(specPath)} is the hierarchy root`);
  return `/${parts.join('/')}`;
}
