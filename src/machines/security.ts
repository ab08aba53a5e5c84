/**
 * The runtime-spec's vocabularies for seccomp (config-linux.md "Seccomp"), personality
 * (config-linux.md "Personality") and the I/O priority (config.md "IO Priority"), and the
 * config types that use them. These lists are what `validateConfig` (spec.ts) accepts and what
 * `berth features` reports; the numbers the init plan carries for them are in
 * src/effects/seccompPlan.ts, keyed by these names, so the two cannot drift apart.
 */

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

/** Actions whose rule carries data: the errno returned, or the tracer's message (runc: EPERM when absent). */
export const SECCOMP_ACTIONS_WITH_ERRNO: readonly SeccompAction[] = ['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE'];

/**
 * Spec names this build recognizes but refuses, with the reason the error gives. A killable
 * wait only matters to a notification listener, and berth hands the listener on at once.
 */
export const SECCOMP_REFUSED: Readonly<Record<string, string>> = {
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported yet (it applies to a SCMP_ACT_NOTIFY listener)',
};

/**
 * Syscalls a SCMP_ACT_NOTIFY rule may not name (runc's list): the helper still makes them after
 * the filter is in, with the listener not yet at listenerPath, so it would wait for ever.
 */
export const SECCOMP_NOTIFY_REFUSED: readonly string[] = ['write'];

export const SECCOMP_OPERATORS = [
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
] as const;
export type SeccompOperator = (typeof SECCOMP_OPERATORS)[number];

/** The spec's architecture names that libseccomp 2.5 knows (SCMP_ARCH_LOONGARCH64 needs 2.6). */
export const SECCOMP_ARCHES = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
] as const;
export type SeccompArch = (typeof SECCOMP_ARCHES)[number];

export const SECCOMP_FLAGS = [
  'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
] as const;
export type SeccompFlag = (typeof SECCOMP_FLAGS)[number];

/** What the spec names and berth applies: the vocabulary minus SECCOMP_REFUSED. */
export const supportedSeccomp = <T extends string>(names: readonly T[]): T[] => names.filter((n) => SECCOMP_REFUSED[n] === undefined);

export interface OciSeccompArg {
  /** 0..5 */
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface OciSeccompSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: SeccompArch[];
  flags?: SeccompFlag[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSeccompSyscall[];
}

export const PERSONALITY_DOMAINS = ['LINUX', 'LINUX32'] as const;
export type PersonalityDomain = (typeof PERSONALITY_DOMAINS)[number];

export interface OciPersonality {
  domain: PersonalityDomain;
  /** The spec defines no flag values yet; runc ignores them, and so does berth. */
  flags?: string[];
}

export const IOPRIO_CLASSES = ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'] as const;
export type IoprioClass = (typeof IOPRIO_CLASSES)[number];

export interface OciIoPriority {
  class: IoprioClass;
  /** 0 (highest) .. 7 */
  priority: number;
}
