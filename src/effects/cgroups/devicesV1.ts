/**
 * The cgroup v1 device controller as a state, so that applying a rule list writes only what
 * changes (runc's libcontainer/cgroups/devices emulator). Writing the list itself, `deny a`
 * first, would deny every device for a moment on each update: a container writing /dev/null
 * then gets EPERM.
 *
 * The kernel's state (security/device_cgroup.c) is a default, allow or deny, plus exceptions
 * keyed by type and major:minor, each with a set of accesses. `devices.list` shows the
 * exceptions of a deny-by-default cgroup, and only `a *:* rwm` for an allow-by-default one
 * (its deny exceptions are not shown). Rules, as the kernel applies them:
 *   - type `a`: reset to that default with no exceptions;
 *   - a rule against the default (allow while denying by default): add its accesses to the
 *     exception with exactly its key;
 *   - a rule with the default: take its accesses out of that exception (a wildcard exception
 *     that also matches is left alone, as the kernel does).
 * A rule list is applied from deny-all, as runc builds its target and as the v2 program
 * (devices.ts) denies whatever no rule allows.
 */
import { join } from 'node:path';
import { readCgroupFile } from './fs.js';
import type { DeviceRule } from './validate.js';

export interface DeviceState {
  defaultAllow: boolean;
  /** `c 1:3` → accesses (a subset of "rwm", in that order). */
  exceptions: Map<string, string>;
}

/** One line for devices.allow (allow) or devices.deny. */
export interface DeviceWrite {
  allow: boolean;
  rule: string;
}

const ACCESS = ['r', 'w', 'm'] as const;
const norm = (a: string) => ACCESS.filter((x) => a.includes(x)).join('');
const minus = (a: string, b: string) => ACCESS.filter((x) => a.includes(x) && !b.includes(x)).join('');

function keyOf(r: DeviceRule): string {
  const n = (v: number) => (v === -1 ? '*' : String(v));
  return `${r.type} ${n(r.major)}:${n(r.minor)}`;
}

/** The state a rule list leaves, starting from deny-all. */
export function emulate(rules: DeviceRule[]): DeviceState {
  return applyRules({ defaultAllow: false, exceptions: new Map() }, rules);
}

/** The state `rules` leave when written, in order, to a cgroup in state `from`. */
export function applyRules(from: DeviceState, rules: DeviceRule[]): DeviceState {
  const s: DeviceState = { defaultAllow: from.defaultAllow, exceptions: new Map(from.exceptions) };
  for (const r of rules) {
    if (r.type === 'a') {
      s.defaultAllow = r.allow;
      s.exceptions.clear();
      continue;
    }
    const key = keyOf(r);
    const had = s.exceptions.get(key) ?? '';
    const next = r.allow !== s.defaultAllow ? norm(had + r.access) : minus(had, r.access);
    if (next === '') s.exceptions.delete(key);
    else s.exceptions.set(key, next);
  }
  return s;
}

/** What devices.list says: null when it cannot be read as the kernel writes it. */
export function parseDevicesList(text: string): DeviceState | null {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 1 && lines[0] === 'a *:* rwm') return { defaultAllow: true, exceptions: new Map() };
  const exceptions = new Map<string, string>();
  for (const l of lines) {
    const m = /^([bc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(l);
    if (m === null) return null;
    exceptions.set(`${m[1]} ${m[2]}:${m[3]}`, norm(m[4]!));
  }
  return { defaultAllow: false, exceptions };
}

/**
 * The writes that take the cgroup from `from` to `to`: a reset only when the default changes,
 * or when `from` allows by default (its hidden deny exceptions cannot be known); then the
 * exceptions to narrow, then those to widen, in the order of the target's rules.
 */
export function transition(from: DeviceState | null, to: DeviceState): DeviceWrite[] {
  const out: DeviceWrite[] = [];
  let old = from?.exceptions ?? new Map<string, string>();
  if (from === null || from.defaultAllow || from.defaultAllow !== to.defaultAllow) {
    out.push({ allow: to.defaultAllow, rule: 'a' });
    old = new Map();
  }
  // An exception goes against the default: adding to it is writing the opposite of the default.
  const widen = !to.defaultAllow;
  const keys = [...new Set([...to.exceptions.keys(), ...old.keys()])];
  for (const k of keys) {
    const drop = minus(old.get(k) ?? '', to.exceptions.get(k) ?? '');
    if (drop !== '') out.push({ allow: !widen, rule: `${k} ${drop}` });
  }
  for (const k of keys) {
    const add = minus(to.exceptions.get(k) ?? '', old.get(k) ?? '');
    if (add !== '') out.push({ allow: widen, rule: `${k} ${add}` });
  }
  return out;
}

/** The state of the devices cgroup at `dir` (null: no such hierarchy, or unreadable). */
export function devicesNow(dir: string | undefined): DeviceState | null {
  const text = dir === undefined ? undefined : readCgroupFile(join(dir, 'devices.list'));
  return text === undefined ? null : parseDevicesList(text);
}
