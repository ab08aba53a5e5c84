/**
 * AppArmor and SELinux: which the host has (runc's checks), and the plan operations for
 * `process.apparmorProfile`, `process.selinuxLabel` and `linux.mountLabel`. A config that asks
 * for one the host cannot apply is refused before anything is made, as runc fails too (runc
 * ignores a mountLabel without SELinux; berth refuses it, like the other two).
 */
import { existsSync, readFileSync } from 'node:fs';
import { RuntimeError } from '../errors.js';
import type { OciConfig } from '../machines/spec.js';
import { MS_REMOUNT } from './linuxConstants.js';
import type { PlanOp } from './planWire.js';

export interface HostLsm {
  apparmor: boolean;
  selinux: boolean;
}

/**
 * AppArmor: securityfs has it and the module is enabled (runc's apparmor.IsEnabled).
 * SELinux: selinuxfs is mounted (go-selinux looks for it the same way).
 */
export function hostLsm(): HostLsm {
  let apparmor = false;
  if (existsSync('/sys/kernel/security/apparmor')) {
    try {
      apparmor = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y');
    } catch {
      apparmor = false;
    }
  }
  return { apparmor, selinux: existsSync('/sys/fs/selinux/enforce') };
}

function unavailable(field: string, lsm: string): never {
  throw new RuntimeError('INVALID_CONFIG', `${field}: ${lsm} is not enabled on this host`, { field });
}

/** APPARMOR_EXEC / SELINUX_EXEC for the process's labels ("" means none, as in runc). */
export function planLsm(config: OciConfig, host: HostLsm | undefined): PlanOp[] {
  const ops: PlanOp[] = [];
  const profile = config.process.apparmorProfile ?? '';
  const label = config.process.selinuxLabel ?? '';
  if (profile !== '') {
    if (host?.apparmor !== true) unavailable('process.apparmorProfile', 'AppArmor');
    ops.push({ op: 'APPARMOR_EXEC', args: [profile] });
  }
  if (label !== '') {
    if (host?.selinux !== true) unavailable('process.selinuxLabel', 'SELinux');
    ops.push({ op: 'SELINUX_EXEC', args: [label] });
  }
  if ((config.linux?.mountLabel ?? '') !== '' && host?.selinux !== true) unavailable('linux.mountLabel', 'SELinux');
  return ops;
}

/** Filesystems runc mounts without a context= option (mqueue gets a file label there instead). */
const UNLABELED = new Set(['proc', 'sysfs', 'mqueue', 'cgroup', 'cgroup2']);

/**
 * linux.mountLabel as runc's mountPropagate applies it: `context="<label>"` appended to the
 * data of every new filesystem mount but proc, sysfs, mqueue and cgroups (binds and remounts
 * keep theirs). Not labelled, unlike runc: the tmpfs over masked directories and the mqueue
 * mountpoint's file label.
 */
export function labelMounts(ops: readonly PlanOp[], mountLabel: string | undefined): PlanOp[] {
  if (mountLabel === undefined || mountLabel === '') return [...ops];
  const context = `context=${JSON.stringify(mountLabel)}`;
  return ops.map((o) => {
    if (o.op !== 'MOUNT') return o;
    const [source = '', dest = '', fstype = '', flags = '0', data = '-'] = o.args;
    if (UNLABELED.has(fstype) || (Number(flags) & MS_REMOUNT) !== 0) return o;
    return { op: 'MOUNT', args: [source, dest, fstype, flags, data === '-' ? context : `${data},${context}`] };
  });
}
