/**
 * The init helper's wire format (native/init/plan.h is the reference): NUL-delimited records
 * `NAME ARGC ARG...`, between a magic/version header and an `END 0` trailer.
 */
export const PLAN_MAGIC = 'BERTH-PLAN';
export const PLAN_VERSION = '1';

export type PlanOpName =
  | 'SETSID' | 'PROPAGATION' | 'ROOTFS' | 'MOUNT' | 'BIND' | 'PROPAGATE' | 'MKNOD' | 'SYMLINK'
  | 'PIVOT_ROOT' | 'MASK' | 'READONLY' | 'ROOT_READONLY' | 'SYSCTL' | 'HOSTNAME' | 'DOMAINNAME'
  | 'RLIMIT' | 'OOM_SCORE_ADJ' | 'CREDS' | 'NO_NEW_PRIVS' | 'UMASK' | 'CWD' | 'ENV' | 'ARG' | 'EXEC'
  | 'TERMINAL'
  | 'HOOKS_SYNC' | 'HOOK_ARG' | 'HOOK_ENV' | 'HOOK'
  | 'MOVE_MOUNT' | 'MOUNT_SETATTR' | 'TMPCOPYUP'
  | 'PERSONALITY' | 'IOPRIO' | 'APPARMOR_EXEC' | 'SELINUX_EXEC'
  | 'SECCOMP_INIT' | 'SECCOMP_ARCH' | 'SECCOMP_ARG' | 'SECCOMP_RULE' | 'SECCOMP_LOAD'
  | 'EXEC_NOW' | 'WAIT' | 'SETNS' | 'UNSHARE' | 'TIMENS_OFFSET' | 'FORK';

export interface PlanOp {
  op: PlanOpName;
  args: string[];
}

export function encodePlan(ops: readonly PlanOp[]): Buffer {
  const parts: string[] = [PLAN_MAGIC, PLAN_VERSION];
  for (const { op, args } of ops) {
    for (const a of args) {
      if (a.includes('\0')) throw new TypeError(`plan ${op}: argument contains NUL`);
    }
    parts.push(op, String(args.length), ...args);
  }
  parts.push('END', '0');
  return Buffer.from(parts.join('\0') + '\0', 'utf8');
}
