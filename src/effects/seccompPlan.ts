/**
 * linux.seccomp, linux.personality and process.ioPriority → init plan operations
 * (native/init/seccomp.c and process.c; plan.h has their meaning and place in the order). Pure.
 *
 * Where the filter goes in, as runc decides it: with noNewPrivileges the kernel lets an
 * unprivileged process install a filter, so it is compiled just before EXEC and installed by
 * EXEC after the exec-fifo handshake, right before execve: the profile then only has to allow
 * execve (runc installs it before the handshake, so its profiles must also allow the fifo's
 * open and write). Without noNewPrivileges installing it needs CAP_SYS_ADMIN, so it goes in
 * before CREDS drops capabilities, and the profile must allow what the helper does after it
 * (CREDS, UMASK, CWD, EXEC: setgroups, setres[ug]id, capget/capset, prctl, chdir, getcwd,
 * stat, faccessat, dup3, close_range, fcntl, write, openat, close, execve) — as with runc.
 */
import type { OciConfig } from '../machines/spec.js';
import {
  SECCOMP_ACTIONS_WITH_ERRNO, type IoprioClass, type OciSeccomp, type OciSeccompArg, type PersonalityDomain,
  type SeccompAction, type SeccompArch, type SeccompFlag, type SeccompOperator,
} from '../machines/security.js';
import type { PlanOp, PlanOpName } from './planWire.js';

const op = (name: PlanOpName, ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });

/** libseccomp's SCMP_ACT_* (seccomp.h); SCMP_ACT_KILL is KILL_THREAD, as in libseccomp and runc. */
const SCMP_ACT: Record<SeccompAction, number> = {
  SCMP_ACT_KILL: 0x00000000,
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
  SCMP_ACT_NOTIFY: 0x7fc00000,
};

/** enum scmp_compare (seccomp.h). */
const SCMP_CMP: Record<SeccompOperator, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};

/** The names seccomp_arch_resolve_name knows. */
const SCMP_ARCH_NAME: Record<SeccompArch, string> = {
  SCMP_ARCH_X86: 'x86', SCMP_ARCH_X86_64: 'x86_64', SCMP_ARCH_X32: 'x32', SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64', SCMP_ARCH_MIPS: 'mips', SCMP_ARCH_MIPS64: 'mips64', SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel', SCMP_ARCH_MIPSEL64: 'mipsel64', SCMP_ARCH_MIPSEL64N32: 'mipsel64n32', SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64', SCMP_ARCH_PPC64LE: 'ppc64le', SCMP_ARCH_S390: 's390', SCMP_ARCH_S390X: 's390x',
  SCMP_ARCH_PARISC: 'parisc', SCMP_ARCH_PARISC64: 'parisc64', SCMP_ARCH_RISCV64: 'riscv64',
};

/** linux/seccomp.h SECCOMP_FILTER_FLAG_*. */
const FILTER_FLAG: Record<SeccompFlag, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

const EPERM = 1;
const PERSONA: Record<PersonalityDomain, number> = { LINUX: 0x0000, LINUX32: 0x0008 };
const IOPRIO_CLASS: Record<IoprioClass, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };
const IOPRIO_CLASS_SHIFT = 13;

/** The SCMP_ACT_* value of an action; ERRNO and TRACE carry errnoRet, EPERM when absent (runc). */
export function seccompAction(action: SeccompAction, errnoRet?: number): number {
  if (!SECCOMP_ACTIONS_WITH_ERRNO.includes(action)) return SCMP_ACT[action];
  return (SCMP_ACT[action] | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
}

/**
 * runc's flags: as given; when the profile names none (absent, not []), SPEC_ALLOW, so a
 * filter does not force the speculative-store-bypass mitigation on the container (every kernel
 * berth runs on, >= 5.11, knows the flag).
 */
function filterFlags(flags: readonly SeccompFlag[] | undefined): number {
  return (flags ?? ['SECCOMP_FILTER_FLAG_SPEC_ALLOW']).reduce((m, f) => m | FILTER_FLAG[f], 0);
}

/**
 * One rule's conditions. libseccomp ANDs the conditions of a rule but takes at most one per
 * argument; when an argument repeats, runc adds one rule per condition instead (ORed), and so
 * does berth.
 */
function conditionGroups(args: readonly OciSeccompArg[]): OciSeccompArg[][] {
  const indexes = new Set(args.map((a) => a.index));
  return indexes.size === args.length ? [[...args]] : args.map((a) => [a]);
}

/** SECCOMP_LOAD's mode (plan.h): install now, at EXEC after the fifo handshake, or now with a listener sent to the runtime. */
const LOAD_NOW = 0;
const LOAD_AT_EXEC = 1;
const LOAD_WITH_LISTENER = 2;

function planFilter(seccomp: OciSeccomp, mode: number): PlanOp[] {
  const defaultAction = seccompAction(seccomp.defaultAction, seccomp.defaultErrnoRet);
  const ops = [op('SECCOMP_INIT', defaultAction, filterFlags(seccomp.flags))];
  for (const arch of seccomp.architectures ?? []) ops.push(op('SECCOMP_ARCH', SCMP_ARCH_NAME[arch]));
  for (const rule of seccomp.syscalls ?? []) {
    const action = seccompAction(rule.action, rule.errnoRet);
    // libseccomp refuses a rule that repeats the default action; runc skips it
    if (action === defaultAction) continue;
    for (const name of rule.names) {
      for (const group of conditionGroups(rule.args ?? [])) {
        for (const a of group) ops.push(op('SECCOMP_ARG', a.index, SCMP_CMP[a.op], a.value, a.valueTwo ?? 0));
        ops.push(op('SECCOMP_RULE', name, action));
      }
    }
  }
  ops.push(op('SECCOMP_LOAD', mode));
  return ops;
}

export interface SeccompPlan {
  /** Before CREDS: the filter when it must be installed while the helper still has CAP_SYS_ADMIN. */
  beforeCreds: PlanOp[];
  /** Just before EXEC: the filter compiled for EXEC to install after the exec-fifo handshake. */
  beforeExec: PlanOp[];
}

export function planSeccomp(config: OciConfig): SeccompPlan {
  const seccomp = config.linux?.seccomp;
  if (seccomp === undefined) return { beforeCreds: [], beforeExec: [] };
  const nnp = config.process.noNewPrivileges === true;
  // A listener must reach the runtime before READY (runc sends it before signalling ready), so
  // a notifying filter goes in before the handshake: right before EXEC with no_new_privs.
  const notify = (seccomp.syscalls ?? []).some((r) => r.action === 'SCMP_ACT_NOTIFY');
  if (!nnp) return { beforeCreds: planFilter(seccomp, notify ? LOAD_WITH_LISTENER : LOAD_NOW), beforeExec: [] };
  return { beforeCreds: [], beforeExec: planFilter(seccomp, notify ? LOAD_WITH_LISTENER : LOAD_AT_EXEC) };
}

/** PERSONALITY and IOPRIO: before CREDS (the real-time class needs CAP_SYS_ADMIN or CAP_SYS_NICE). */
export function planProcessAttributes(config: OciConfig): PlanOp[] {
  const ops: PlanOp[] = [];
  const personality = config.linux?.personality;
  if (personality !== undefined) ops.push(op('PERSONALITY', PERSONA[personality.domain]));
  const io = config.process.ioPriority;
  if (io !== undefined) ops.push(op('IOPRIO', (IOPRIO_CLASS[io.class] << IOPRIO_CLASS_SHIFT) | io.priority));
  return ops;
}
