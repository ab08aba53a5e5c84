/**
 * Which cgroup hierarchies the host has mounted, read from /proc/self/mountinfo
 * (proc(5): `id parent major:minor root mountpoint options [optional...] - fstype source super`).
 *
 *   v1      only cgroup (v1) hierarchies
 *   hybrid  v1 controller hierarchies plus a cgroup2 mount (systemd's "hybrid": /sys/fs/cgroup is
 *           a tmpfs with one dir per controller and cgroup2 at /sys/fs/cgroup/unified)
 *   v2      a cgroup2 mount and no v1 controller hierarchy. A named-only v1 hierarchy (such as
 *           `name=systemd` kept for old containers) controls no resource, so it does not make
 *           the host v1; it is still listed in `v1`.
 */
import { readFileSync } from 'node:fs';

export interface CgroupLayout {
  kind: 'v1' | 'hybrid' | 'v2';
  /**
   * Controller → host mountpoint. Co-mounted controllers share one mountpoint (`cpu` and
   * `cpuacct` → `/sys/fs/cgroup/cpu,cpuacct`); named hierarchies are keyed `name=<name>`.
   * Insertion order is mountinfo order, controllers of one hierarchy in super-option order.
   */
  v1: Record<string, string>;
  /** The cgroup2 mountpoint, or null. */
  unified: string | null;
}

/** Super options of a cgroup v1 mount that are not controllers (kernel/cgroup/cgroup-v1.c). */
const V1_NON_CONTROLLER_OPTIONS = new Set([
  'rw', 'ro', 'none', 'all', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods',
]);

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

interface MountinfoEntry {
  mountpoint: string;
  fstype: string;
  superOptions: string[];
}

function parseLine(line: string): MountinfoEntry | null {
  const fields = line.split(' ');
  const sep = fields.indexOf('-', 6);
  if (sep < 0 || fields.length < sep + 4) return null;
  return {
    mountpoint: unescapeOctal(fields[4] ?? ''),
    fstype: fields[sep + 1] ?? '',
    superOptions: (fields[sep + 3] ?? '').split(','),
  };
}

export function parseCgroupLayout(mountinfo: string): CgroupLayout {
  const v1: Record<string, string> = {};
  let unified: string | null = null;
  let hasController = false;
  for (const line of mountinfo.split('\n')) {
    const entry = parseLine(line);
    if (entry === null) continue;
    if (entry.fstype === 'cgroup2') {
      unified ??= entry.mountpoint;
      continue;
    }
    if (entry.fstype !== 'cgroup') continue;
    for (const opt of entry.superOptions) {
      if (V1_NON_CONTROLLER_OPTIONS.has(opt) || opt.startsWith('release_agent=')) continue;
      // The same hierarchy can be mounted twice (bind mounts): the first mount wins, as in runc.
      if (v1[opt] !== undefined) continue;
      v1[opt] = entry.mountpoint;
      if (!opt.startsWith('name=')) hasController = true;
    }
  }
  const kind = unified === null ? 'v1' : hasController ? 'hybrid' : 'v2';
  return { kind, v1, unified };
}

export function readCgroupLayout(path = '/proc/self/mountinfo'): CgroupLayout {
  return parseCgroupLayout(readFileSync(path, 'utf8'));
}
