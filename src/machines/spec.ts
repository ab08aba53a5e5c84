/**
 * The part of the OCI runtime-spec config (config.md, config-linux.md) that berth reads, and
 * its validation. Pure: no fs, no kernel. `validateConfig` returns a fresh object holding only
 * the fields below; unknown fields are dropped, as the runtime-spec asks runtimes to ignore them.
 *
 * Rules worth knowing (the rest is in the field comments):
 * - mount destinations may be relative: runtime-spec (config.md "Mounts") deprecates that but
 *   says it MUST then be read relative to "/"; runc does the same with a warning. The planner
 *   normalizes them.
 * - rlimit values are uint64 in the spec, but JSON.parse yields doubles. Integers up to
 *   Number.MAX_SAFE_INTEGER are exact; anything larger (up to 2^64, which is what
 *   18446744073709551615 parses to) is beyond every real limit and means RLIM_INFINITY.
 *   Values above 2^64 are rejected, as Go's uint64 decoding in runc rejects them.
 * - features berth does not implement yet are rejected rather than silently skipped:
 *   a new user namespace together with joining namespaces by path (initPlan.ts),
 *   SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV; SCMP_ACT_NOTIFY only where runc allows it (checkNotify).
 * - id mappings (user namespace and idmapped mounts) follow the kernel's rules: idmap.ts.
 * - a namespace `path` is only checked to be absolute here; that it exists and is a namespace
 *   of its type is checked when the container is created (it needs the filesystem).
 */
import { RuntimeError } from '../errors.js';
import { checkIdMaps, checkMappings } from './idmap.js';
import {
  IOPRIO_CLASSES, PERSONALITY_DOMAINS, SECCOMP_ACTIONS, SECCOMP_ACTIONS_WITH_ERRNO, SECCOMP_ARCHES, SECCOMP_FLAGS,
  SECCOMP_NOTIFY_REFUSED, SECCOMP_OPERATORS, SECCOMP_REFUSED, type OciIoPriority, type OciPersonality, type OciSeccomp, type OciSeccompArg,
  type OciSeccompSyscall, type SeccompAction,
} from './security.js';

// The spec's vocabularies. The kernel numbers for them live in src/effects/linuxConstants.ts
// (machines import no effects); a unit test checks that both agree.

export const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export const CAPABILITY_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;
export type CapabilitySet = (typeof CAPABILITY_SETS)[number];

/** capabilities(7) names; the index is the capability number (linux/capability.h, 0..40). */
export const CAPABILITY_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

/** getrlimit(2) resources; the index is the RLIMIT_* number (bits/resource.h, 0..15). */
export const RLIMIT_TYPES = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS',
  'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
] as const;
export type RlimitType = (typeof RLIMIT_TYPES)[number];

export const HOOK_STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

export const ROOTFS_PROPAGATIONS = [
  'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable',
] as const;
export type RootfsPropagation = (typeof ROOTFS_PROPAGATIONS)[number];

export interface OciConfig {
  ociVersion: string;
  root: OciRoot;
  mounts?: OciMount[];
  /** Optional in the runtime-spec until `start`; required here because `create` is followed by it. */
  process: OciProcess;
  hostname?: string;
  domainname?: string;
  hooks?: OciHooks;
  annotations?: Record<string, string>;
  linux?: OciLinux;
}

export interface OciRoot {
  /** Absolute, or relative to the bundle. */
  path: string;
  readonly?: boolean;
}

export interface OciMount {
  /** Absolute in the container; a relative one is read relative to "/" (deprecated). */
  destination: string;
  /** Optional only for bind mounts (`bind`/`rbind` option or type "bind"). */
  type?: string;
  /** Required for bind mounts: absolute, or relative to the bundle. */
  source?: string;
  options?: string[];
  /** An idmapped bind mount (with `idmap`/`ridmap`): host ids of the source seen through these. */
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
}

export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export type OciCapabilities = Partial<Record<CapabilitySet, CapabilityName[]>>;

export interface OciRlimit {
  type: RlimitType;
  /** Above Number.MAX_SAFE_INTEGER means RLIM_INFINITY (see the module comment). */
  soft: number;
  hard: number;
}

export interface OciProcess {
  /** A pty for the process (its stdio and controlling terminal); the master goes to the caller. */
  terminal?: boolean;
  /** Read only with `terminal: true` (runtime-spec: ignored otherwise); 0..65535 each (a winsize). */
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  /** Applied when the host has AppArmor, refused when it does not ("" is none). */
  apparmorProfile?: string;
  /** Applied when the host has SELinux, refused when it does not ("" is none). */
  selinuxLabel?: string;
  ioPriority?: OciIoPriority;
}

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds, > 0. */
  timeout?: number;
}

export interface OciHooks {
  prestart?: OciHook[];
  createRuntime?: OciHook[];
  createContainer?: OciHook[];
  startContainer?: OciHook[];
  poststart?: OciHook[];
  poststop?: OciHook[];
}

export interface OciNamespace {
  type: NamespaceType;
  /** Join this namespace (a file such as /proc/<pid>/ns/net or /var/run/netns/x) instead of making one. */
  path?: string;
}

export const TIME_CLOCKS = ['monotonic', 'boottime'] as const;
export type TimeClock = (typeof TIME_CLOCKS)[number];

/** `linux.timeOffsets`: per clock, how far the container's clock is ahead of the host's. */
export type OciTimeOffsets = Partial<Record<TimeClock, { secs?: number; nanosecs?: number }>>;

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface OciDevice {
  /** c (or its alias u), b, p. */
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  /** Required unless type is p. */
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/**
 * `linux.resources` is kept as given: only "is an object" is checked here. The cgroups code
 * validates the members it applies; these declarations are what it may expect to find.
 */
export interface OciResources {
  devices?: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[];
  memory?: Record<string, unknown>;
  cpu?: Record<string, unknown>;
  pids?: { limit?: number };
  blockIO?: Record<string, unknown>;
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: Record<string, unknown>;
  rdma?: Record<string, unknown>;
  unified?: Record<string, string>;
  [member: string]: unknown;
}

export interface OciLinux {
  namespaces?: OciNamespace[];
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
  devices?: OciDevice[];
  cgroupsPath?: string;
  resources?: OciResources;
  sysctl?: Record<string, string>;
  rootfsPropagation?: RootfsPropagation;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  seccomp?: OciSeccomp;
  personality?: OciPersonality;
  /** Applied to the container's mounts when the host has SELinux, refused when it does not. */
  mountLabel?: string;
  timeOffsets?: OciTimeOffsets;
}

// ---------------------------------------------------------------------------------------------
// Checks. Each throws INVALID_CONFIG naming the JSON path of the first bad field.

type Json = Record<string, unknown>;

function mustBe(field: string, what: string): never {
  throw new RuntimeError('INVALID_CONFIG', `invalid config: ${field} must be ${what}`, { field });
}

function refuse(field: string, reason: string): never {
  throw new RuntimeError('INVALID_CONFIG', `invalid config: ${field}: ${reason}`, { field });
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: unknown, field: string): Json {
  return isObject(v) ? v : mustBe(field, 'an object');
}

/** Every string may end up in the init plan, whose records are NUL-delimited. */
function string(v: unknown, field: string): string {
  if (typeof v !== 'string') return mustBe(field, 'a string');
  if (v.includes('\0')) return mustBe(field, 'a string without NUL');
  return v;
}

function boolean(v: unknown, field: string): boolean {
  return typeof v === 'boolean' ? v : mustBe(field, 'a boolean');
}

function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    return mustBe(field, `an integer from ${min} to ${max}`);
  }
  return v;
}

function array(v: unknown, field: string): unknown[] {
  return Array.isArray(v) ? v : mustBe(field, 'an array');
}

function strings(v: unknown, field: string): string[] {
  return array(v, field).map((s, i) => string(s, `${field}[${i}]`));
}

function absolute(v: unknown, field: string): string {
  const s = string(v, field);
  return s.startsWith('/') ? s : mustBe(field, 'an absolute path');
}

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  return allowed.includes(v as T) ? (v as T) : mustBe(field, `one of ${allowed.join(', ')}`);
}

/** `key` in bracket notation, so keys with dots stay one JSON path segment. */
function key(field: string, k: string): string {
  return `${field}[${JSON.stringify(k)}]`;
}

function stringMap(v: unknown, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(object(v, field))) {
    if (k === '' || k.includes('\0')) refuse(field, 'keys must be non-empty strings without NUL');
    out[k] = string(value, key(field, k));
  }
  return out;
}

/** Copy `name` from `src` to `dst` through `check` when it is present (null counts as absent). */
function opt<S extends object, K extends keyof S & string>(
  dst: S, name: K, src: Json, field: string, check: (v: unknown, field: string) => S[K],
): void {
  const v = src[name];
  if (v !== undefined && v !== null) dst[name] = check(v, field === '' ? name : `${field}.${name}`);
}

const UID_MAX = 4294967294; // (uid_t)-1 is "no change" to setresuid, never a real id
const UINT32_MAX = 4294967295;
const HOST_NAME_MAX = 64; // bytes, as sethostname(2)/setdomainname(2) count them
const TWO_TO_64 = 2 ** 64;

// ---------------------------------------------------------------------------------------------

/**
 * How deep a config may nest. Free-form parts (linux.resources is passed on as given) must
 * still be logged with the Created fact: JSON far deeper than any real config would overflow
 * the encoder's stack, after the container was made.
 */
const MAX_DEPTH = 64;

function checkDepth(v: unknown, field: string, depth: number): void {
  if (v === null || typeof v !== 'object') return;
  if (depth > MAX_DEPTH) refuse(field, `nested deeper than ${MAX_DEPTH} levels`);
  for (const [k, child] of Object.entries(v)) checkDepth(child, Array.isArray(v) ? `${field}[${k}]` : `${field}.${k}`, depth + 1);
}

export function validateConfig(json: unknown): OciConfig {
  const src = object(json, 'config');
  checkDepth(src, 'config', 0);
  const ociVersion = string(src.ociVersion, 'ociVersion');
  if (!ociVersion.startsWith('1.')) mustBe('ociVersion', 'a 1.x version');
  const root = validateRoot(src.root);
  const out: Partial<OciConfig> = { ociVersion, root };
  opt(out, 'mounts', src, '', (v, f) => array(v, f).map((m, i) => validateMount(m, `${f}[${i}]`)));
  out.process = validateProcess(src.process);
  opt(out, 'hostname', src, '', hostName);
  opt(out, 'domainname', src, '', hostName);
  opt(out, 'hooks', src, '', validateHooks);
  opt(out, 'annotations', src, '', stringMap);
  opt(out, 'linux', src, '', validateLinux);
  checkIdMaps(out as OciConfig);
  return out as OciConfig;
}

function validateRoot(v: unknown): OciRoot {
  const src = object(v, 'root');
  const path = string(src.path, 'root.path');
  if (path === '') mustBe('root.path', 'a non-empty string');
  const root: OciRoot = { path };
  opt(root, 'readonly', src, 'root', boolean);
  return root;
}

function isBindMount(type: unknown, options: unknown): boolean {
  return type === 'bind' || (Array.isArray(options) && (options.includes('bind') || options.includes('rbind')));
}

function validateMount(v: unknown, field: string): OciMount {
  const src = object(v, field);
  const destination = string(src.destination, `${field}.destination`);
  if (destination === '') mustBe(`${field}.destination`, 'a non-empty path');
  const mount: OciMount = { destination };
  opt(mount, 'type', src, field, string);
  opt(mount, 'source', src, field, string);
  opt(mount, 'options', src, field, strings);
  opt(mount, 'uidMappings', src, field, validateMappings);
  opt(mount, 'gidMappings', src, field, validateMappings);
  if (isBindMount(mount.type, mount.options)) {
    if (mount.source === undefined || mount.source === '') refuse(`${field}.source`, 'a bind mount needs a source');
  } else if (mount.type === undefined || mount.type === '') {
    mustBe(`${field}.type`, 'a filesystem type (only bind mounts may omit it)');
  }
  return mount;
}

function hostName(v: unknown, field: string): string {
  const s = string(v, field);
  if (Buffer.byteLength(s, 'utf8') > HOST_NAME_MAX) mustBe(field, `at most ${HOST_NAME_MAX} bytes long`);
  return s;
}

/** A process as in config.json's `process` (also what `berth exec --process` reads). */
export function validateProcess(v: unknown): OciProcess {
  const src = object(v, 'process');
  const user = validateUser(src.user);
  if (!Array.isArray(src.args) || src.args.length === 0) mustBe('process.args', 'a non-empty array of strings');
  const args = strings(src.args, 'process.args');
  const proc: Partial<OciProcess> = {};
  opt(proc, 'terminal', src, 'process', boolean);
  if (proc.terminal === true) opt(proc, 'consoleSize', src, 'process', validateConsoleSize);
  proc.user = user;
  proc.args = args;
  opt(proc, 'env', src, 'process', (e, f) => strings(e, f).map((s, i) => envVar(s, `${f}[${i}]`)));
  proc.cwd = absolute(src.cwd, 'process.cwd');
  opt(proc, 'capabilities', src, 'process', validateCapabilities);
  opt(proc, 'rlimits', src, 'process', validateRlimits);
  opt(proc, 'noNewPrivileges', src, 'process', boolean);
  opt(proc, 'oomScoreAdj', src, 'process', (n, f) => integer(n, f, -1000, 1000));
  opt(proc, 'apparmorProfile', src, 'process', string);
  opt(proc, 'selinuxLabel', src, 'process', string);
  opt(proc, 'ioPriority', src, 'process', validateIoPriority);
  return proc as OciProcess;
}

function validateConsoleSize(v: unknown, field: string): { height: number; width: number } {
  const src = object(v, field);
  return { height: integer(src.height, `${field}.height`, 0, 65535), width: integer(src.width, `${field}.width`, 0, 65535) };
}

function envVar(s: string, field: string): string {
  return s.indexOf('=') > 0 ? s : mustBe(field, 'of the form KEY=value');
}

function validateUser(v: unknown): OciUser {
  const src = object(v, 'process.user');
  const user: OciUser = {
    uid: integer(src.uid, 'process.user.uid', 0, UID_MAX),
    gid: integer(src.gid, 'process.user.gid', 0, UID_MAX),
  };
  opt(user, 'umask', src, 'process.user', (n, f) => integer(n, f, 0, 0o777));
  opt(user, 'additionalGids', src, 'process.user', (a, f) =>
    array(a, f).map((g, i) => integer(g, `${f}[${i}]`, 0, UID_MAX)));
  return user;
}

function validateCapabilities(v: unknown, field: string): OciCapabilities {
  const src = object(v, field);
  const caps: OciCapabilities = {};
  for (const set of CAPABILITY_SETS) {
    opt(caps, set, src, field, (names, f) =>
      strings(names, f).map((n, i) => oneOfNamed(n, `${f}[${i}]`, CAPABILITY_NAMES, 'capability')));
  }
  return caps;
}

function oneOfNamed<T extends string>(v: string, field: string, allowed: readonly T[], what: string): T {
  return allowed.includes(v as T) ? (v as T) : refuse(field, `unknown ${what} ${JSON.stringify(v)}`);
}

function rlimitValue(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > TWO_TO_64) {
    return mustBe(field, 'an integer from 0 to 18446744073709551615');
  }
  return v;
}

function validateRlimits(v: unknown, field: string): OciRlimit[] {
  const seen = new Set<string>();
  return array(v, field).map((r, i) => {
    const f = `${field}[${i}]`;
    const src = object(r, f);
    const type = oneOfNamed(string(src.type, `${f}.type`), `${f}.type`, RLIMIT_TYPES, 'rlimit');
    if (seen.has(type)) refuse(`${f}.type`, `duplicate rlimit ${type}`);
    seen.add(type);
    const soft = rlimitValue(src.soft, `${f}.soft`);
    const hard = rlimitValue(src.hard, `${f}.hard`);
    if (soft > hard) refuse(`${f}.soft`, 'the soft limit exceeds the hard limit');
    return { type, soft, hard };
  });
}

function validateHooks(v: unknown, field: string): OciHooks {
  const src = object(v, field);
  const hooks: OciHooks = {};
  for (const stage of HOOK_STAGES) {
    opt(hooks, stage, src, field, (list, f) => array(list, f).map((h, i) => validateHook(h, `${f}[${i}]`)));
  }
  return hooks;
}

function validateHook(v: unknown, field: string): OciHook {
  const src = object(v, field);
  const hook: OciHook = { path: absolute(src.path, `${field}.path`) };
  opt(hook, 'args', src, field, strings);
  opt(hook, 'env', src, field, (e, f) => strings(e, f).map((s, i) => envVar(s, `${f}[${i}]`)));
  opt(hook, 'timeout', src, field, (n, f) => integer(n, f, 1, Number.MAX_SAFE_INTEGER));
  return hook;
}

function validateLinux(v: unknown, field: string): OciLinux {
  const src = object(v, field);
  const linux: OciLinux = {};
  opt(linux, 'namespaces', src, field, validateNamespaces);
  opt(linux, 'uidMappings', src, field, validateMappings);
  opt(linux, 'gidMappings', src, field, validateMappings);
  opt(linux, 'devices', src, field, (a, f) => array(a, f).map((d, i) => validateDevice(d, `${f}[${i}]`)));
  opt(linux, 'cgroupsPath', src, field, string);
  opt(linux, 'resources', src, field, (r, f) => object(r, f) as OciResources);
  opt(linux, 'sysctl', src, field, validateSysctl);
  opt(linux, 'rootfsPropagation', src, field, (p, f) => oneOf(p, f, ROOTFS_PROPAGATIONS));
  opt(linux, 'maskedPaths', src, field, absolutePaths);
  opt(linux, 'readonlyPaths', src, field, absolutePaths);
  const seccomp = src.seccomp == null ? undefined : validateSeccomp(src.seccomp, `${field}.seccomp`);
  if (seccomp !== undefined) linux.seccomp = seccomp;
  opt(linux, 'personality', src, field, validatePersonality);
  opt(linux, 'mountLabel', src, field, string);
  opt(linux, 'timeOffsets', src, field, validateTimeOffsets);
  checkUserNamespace(linux, field);
  checkTimeOffsets(linux, field);
  return linux;
}

function validateNamespaces(v: unknown, field: string): OciNamespace[] {
  const seen = new Set<string>();
  return array(v, field).map((n, i) => {
    const f = `${field}[${i}]`;
    const src = object(n, f);
    const type = oneOf(src.type, `${f}.type`, NAMESPACE_TYPES);
    if (seen.has(type)) refuse(`${f}.type`, `duplicate namespace ${type}`);
    seen.add(type);
    return src.path != null ? { type, path: absolute(src.path, `${f}.path`) } : { type };
  });
}

const NSEC_PER_SEC = 1_000_000_000;

function validateTimeOffsets(v: unknown, field: string): OciTimeOffsets {
  const out: OciTimeOffsets = {};
  for (const [clock, value] of Object.entries(object(v, field))) {
    const f = key(field, clock);
    const c = oneOfNamed(clock, f, TIME_CLOCKS, 'clock');
    const src = object(value, f);
    const offset: { secs?: number; nanosecs?: number } = {};
    opt(offset, 'secs', src, f, (n, g) => integer(n, g, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
    opt(offset, 'nanosecs', src, f, (n, g) => integer(n, g, 0, NSEC_PER_SEC - 1));
    out[c] = offset;
  }
  return out;
}

/** Offsets are written into a time namespace before anyone enters it: it must be a new one. */
function checkTimeOffsets(linux: OciLinux, field: string): void {
  if (linux.timeOffsets === undefined) return;
  const time = linux.namespaces?.find((n) => n.type === 'time');
  if (time === undefined) refuse(`${field}.timeOffsets`, 'time offsets need a time namespace in linux.namespaces');
  if (time.path !== undefined) refuse(`${field}.timeOffsets`, 'time offsets cannot be set on a time namespace that is joined by path');
}

function validateMappings(v: unknown, field: string): OciIdMapping[] {
  const maps = array(v, field).map((m, i) => {
    const f = `${field}[${i}]`;
    const src = object(m, f);
    return {
      containerID: integer(src.containerID, `${f}.containerID`, 0, UINT32_MAX),
      hostID: integer(src.hostID, `${f}.hostID`, 0, UINT32_MAX),
      size: integer(src.size, `${f}.size`, 1, UINT32_MAX),
    };
  });
  checkMappings(maps, field);
  return maps;
}

function checkUserNamespace(linux: OciLinux, field: string): void {
  const i = linux.namespaces?.findIndex((n) => n.type === 'user') ?? -1;
  // Joining an existing user namespace needs no mappings: it has its own.
  if (i < 0 || linux.namespaces?.[i]?.path !== undefined) return;
  if (!linux.uidMappings?.length) refuse(`${field}.uidMappings`, 'a user namespace needs uid mappings');
  if (!linux.gidMappings?.length) refuse(`${field}.gidMappings`, 'a user namespace needs gid mappings');
}

/** dev_t: 12-bit major, 20-bit minor (include/linux/kdev_t.h MINORBITS). */
const MAJOR_MAX = 4095;
const MINOR_MAX = 1048575;

function validateDevice(v: unknown, field: string): OciDevice {
  const src = object(v, field);
  const type = oneOf(src.type, `${field}.type`, ['c', 'b', 'u', 'p'] as const);
  const device: OciDevice = { type, path: absolute(src.path, `${field}.path`) };
  if (type !== 'p' && src.major == null) mustBe(`${field}.major`, `an integer from 0 to ${MAJOR_MAX}`);
  if (type !== 'p' && src.minor == null) mustBe(`${field}.minor`, `an integer from 0 to ${MINOR_MAX}`);
  opt(device, 'major', src, field, (n, f) => integer(n, f, 0, MAJOR_MAX));
  opt(device, 'minor', src, field, (n, f) => integer(n, f, 0, MINOR_MAX));
  opt(device, 'fileMode', src, field, (n, f) => integer(n, f, 0, UINT32_MAX));
  opt(device, 'uid', src, field, (n, f) => integer(n, f, 0, UID_MAX));
  opt(device, 'gid', src, field, (n, f) => integer(n, f, 0, UID_MAX));
  return device;
}

/**
 * Keys become /proc/sys paths ('.' → '/'), so they must not be able to climb out of it:
 * no '/', no empty segment (which also rules out '..').
 */
function validateSysctl(v: unknown, field: string): Record<string, string> {
  const map = stringMap(v, field);
  for (const k of Object.keys(map)) {
    if (k.includes('/') || k.split('.').some((seg) => seg === '')) refuse(key(field, k), 'not a sysctl name');
  }
  return map;
}

function absolutePaths(v: unknown, field: string): string[] {
  return array(v, field).map((p, i) => absolute(p, `${field}[${i}]`));
}

// --- seccomp, personality, I/O priority (vocabularies in security.ts) --------------------------

const SECCOMP_DATA_MAX = 0xffff; // SECCOMP_RET_DATA: the errno (or tracer message) a rule returns
const SYSCALL_NAME = /^[a-z_][a-z0-9_]*$/;

/** A spec name this build may know but refuse: the refusal names it. */
function supported<T extends string>(v: unknown, field: string, allowed: readonly T[], what: string): T {
  const name = oneOfNamed(string(v, field), field, allowed, what);
  const why = SECCOMP_REFUSED[name];
  return why === undefined ? name : refuse(field, why);
}

/** errnoRet only goes with an action that returns data (runtime-spec: else the runtime MUST fail). */
function errnoRet(v: unknown, field: string, action: SeccompAction): number {
  const n = integer(v, field, 0, SECCOMP_DATA_MAX);
  return SECCOMP_ACTIONS_WITH_ERRNO.includes(action) ? n : refuse(field, `${action} takes no errno`);
}

/**
 * runc treats a profile with neither a default action nor rules as no profile; anything else
 * needs a default action. Unknown syscall names are not refused: they are skipped when the
 * filter is built (a newer profile on an older kernel), as runc does.
 */
function validateSeccomp(v: unknown, field: string): OciSeccomp | undefined {
  const src = object(v, field);
  const noRules = src.syscalls == null || (Array.isArray(src.syscalls) && src.syscalls.length === 0);
  if (src.defaultAction == null && noRules) return undefined;
  const defaultAction = supported(src.defaultAction, `${field}.defaultAction`, SECCOMP_ACTIONS, 'seccomp action');
  const seccomp: OciSeccomp = { defaultAction };
  opt(seccomp, 'defaultErrnoRet', src, field, (n, f) => errnoRet(n, f, defaultAction));
  opt(seccomp, 'architectures', src, field, (a, f) => array(a, f).map((x, i) => supported(x, `${f}[${i}]`, SECCOMP_ARCHES, 'seccomp architecture')));
  opt(seccomp, 'flags', src, field, (a, f) => array(a, f).map((x, i) => supported(x, `${f}[${i}]`, SECCOMP_FLAGS, 'seccomp flag')));
  opt(seccomp, 'listenerPath', src, field, string);
  opt(seccomp, 'listenerMetadata', src, field, string);
  opt(seccomp, 'syscalls', src, field, (a, f) => array(a, f).map((c, i) => validateSyscallRule(c, `${f}[${i}]`)));
  checkNotify(seccomp, field);
  return seccomp;
}

/**
 * SCMP_ACT_NOTIFY as runc allows it: only in rules (as the default every syscall of the helper
 * would wait on a listener it has not yet handed on), never for `write`, and with a
 * listenerPath to hand the listener to.
 */
function checkNotify(seccomp: OciSeccomp, field: string): void {
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') refuse(`${field}.defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action');
  const rules = seccomp.syscalls ?? [];
  rules.forEach((r, i) => {
    if (r.action !== 'SCMP_ACT_NOTIFY') return;
    r.names.forEach((n, j) => {
      if (SECCOMP_NOTIFY_REFUSED.includes(n)) refuse(`${field}.syscalls[${i}].names[${j}]`, `SCMP_ACT_NOTIFY cannot be used for ${n}`);
    });
  });
  if (rules.some((r) => r.action === 'SCMP_ACT_NOTIFY') && !seccomp.listenerPath) {
    refuse(`${field}.listenerPath`, 'SCMP_ACT_NOTIFY needs a listenerPath');
  }
}

function validateSyscallRule(v: unknown, field: string): OciSeccompSyscall {
  const src = object(v, field);
  const names = strings(src.names, `${field}.names`);
  if (names.length === 0) mustBe(`${field}.names`, 'a non-empty array of syscall names');
  names.forEach((n, i) => { if (!SYSCALL_NAME.test(n)) refuse(`${field}.names[${i}]`, `not a syscall name: ${JSON.stringify(n)}`); });
  const action = supported(src.action, `${field}.action`, SECCOMP_ACTIONS, 'seccomp action');
  const rule: OciSeccompSyscall = { names, action };
  opt(rule, 'errnoRet', src, field, (n, f) => errnoRet(n, f, action));
  opt(rule, 'args', src, field, (a, f) => array(a, f).map((x, i) => validateSeccompArg(x, `${f}[${i}]`)));
  return rule;
}

/** Argument values are uint64; JSON numbers are exact only up to 2^53 - 1, so that is the limit. */
function validateSeccompArg(v: unknown, field: string): OciSeccompArg {
  const src = object(v, field);
  const arg: OciSeccompArg = {
    index: integer(src.index, `${field}.index`, 0, 5),
    value: integer(src.value, `${field}.value`, 0, Number.MAX_SAFE_INTEGER),
    op: oneOfNamed(string(src.op, `${field}.op`), `${field}.op`, SECCOMP_OPERATORS, 'seccomp operator'),
  };
  opt(arg, 'valueTwo', src, field, (n, f) => integer(n, f, 0, Number.MAX_SAFE_INTEGER));
  return arg;
}

function validatePersonality(v: unknown, field: string): OciPersonality {
  const src = object(v, field);
  const personality: OciPersonality = { domain: oneOfNamed(string(src.domain, `${field}.domain`), `${field}.domain`, PERSONALITY_DOMAINS, 'personality domain') };
  opt(personality, 'flags', src, field, strings);
  return personality;
}

function validateIoPriority(v: unknown, field: string): OciIoPriority {
  const src = object(v, field);
  return {
    class: oneOfNamed(string(src.class, `${field}.class`), `${field}.class`, IOPRIO_CLASSES, 'I/O priority class'),
    priority: integer(src.priority, `${field}.priority`, 0, 7),
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * What `berth spec` writes: `runc spec` of runc 1.1.5, field for field, with two deliberate
 * differences:
 * - `process.terminal` is false: a terminal needs a console socket for `berth create` and
 *   `run --detach` (runc's rule too), which is how orchestrators and scripts run containers, so
 *   the default is the spec that works everywhere; set it true for an interactive `berth run`;
 * - `hostname` is "berth" instead of "runc".
 */
export function defaultConfig(): OciConfig {
  const caps: CapabilityName[] = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], ambient: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'berth',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts', type: 'devpts', source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
