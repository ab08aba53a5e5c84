/**
 * Mutations of the valid default spec (src/machines/spec.ts defaultConfig), by path, so that
 * most inputs get deep into validation and a good share reach the kernel:
 *
 *   set        any value at an existing path (wrong types, huge, unicode, polluting keys)
 *   plausible  a value of the same type at an existing path (keeps most configs valid)
 *   delete     remove an existing field or array element
 *   add        a new key (unknown, or a prototype-polluting one) in an existing object
 *   extra      a known optional field with a value close to valid (rlimits, sysctl, devices,
 *              mounts, resources, user, capabilities ...)
 *
 * and, for a share of inputs, damage to the JSON text itself.
 */
import fc from 'fast-check';
import { anyValue, oddString, POLLUTING_KEYS, withKey, type Json } from './values.js';

export type Path = (string | number)[];

/** A nesting `depth` levels deep, serialized directly (JSON.stringify would recurse that deep). */
export class Deep {
  constructor(readonly depth: number) {}

  [fc.toStringMethod](): string {
    return `new Deep(${this.depth})`;
  }
}

export type Mutation =
  | { kind: 'set'; at: number; value: Json | Deep }
  | { kind: 'plausible'; at: number; pick: number }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: Json | Deep }
  | { kind: 'extra'; path: Path; value: Json };

export type TextDamage =
  | { kind: 'truncate'; at: number }
  | { kind: 'byte'; at: number; byte: number }
  | { kind: 'bom' }
  | { kind: 'empty' }
  | { kind: 'trailing'; text: string };

type Node = Json | Deep;

function isObj(v: unknown): v is Record<string, Node> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Deep);
}

/** Every path in `v` (depth first), the root excluded; huge values count as leaves. */
export function paths(v: Node, prefix: Path = [], out: Path[] = []): Path[] {
  if (prefix.length > 12) return out;
  if (Array.isArray(v) && v.length <= 64) v.forEach((x, i) => { out.push([...prefix, i]); paths(x, [...prefix, i], out); });
  else if (isObj(v) && Object.keys(v).length <= 64) for (const k of Object.keys(v)) { out.push([...prefix, k]); paths(v[k]!, [...prefix, k], out); }
  return out;
}

/** Containers (objects and arrays) of `v`, the root included. */
function containers(v: Node, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v) || isObj(v)) out.push(prefix);
  for (const p of paths(v)) {
    const x = get(v, p);
    if (Array.isArray(x) || isObj(x)) out.push([...prefix, ...p]);
  }
  return out;
}

export function get(v: Node, p: Path): Node | undefined {
  let cur: Node | undefined = v;
  for (const k of p) {
    if (Array.isArray(cur) && typeof k === 'number') cur = cur[k];
    else if (isObj(cur) && typeof k === 'string') cur = Object.hasOwn(cur, k) ? cur[k] : undefined;
    else return undefined;
  }
  return cur;
}

/** Set (creating missing objects and arrays on the way; `-1` appends to an array). */
function set(root: Node, p: Path, value: Node): Node {
  if (p.length === 0) return value;
  const [k, ...rest] = p;
  if (typeof k === 'number') {
    const arr: Node[] = Array.isArray(root) ? [...root] : [];
    const i = k < 0 ? arr.length : k;
    arr[i] = set(arr[i] ?? (typeof rest[0] === 'number' ? [] : {}), rest, value);
    return arr as Json;
  }
  const obj = isObj(root) ? root : {};
  const prev = Object.hasOwn(obj, k!) ? obj[k!] : undefined;
  return withKey(obj as Record<string, Json>, k!, set(prev ?? (typeof rest[0] === 'number' ? [] : {}), rest, value) as Json);
}

function remove(root: Node, p: Path): Node {
  if (p.length === 0) return root;
  const parent = get(root, p.slice(0, -1));
  const k = p.at(-1)!;
  if (Array.isArray(parent) && typeof k === 'number') return set(root, p.slice(0, -1), parent.filter((_, i) => i !== k));
  if (isObj(parent) && typeof k === 'string') {
    let copy: Record<string, Json> = {};
    for (const key of Object.keys(parent)) if (key !== k) copy = withKey(copy, key, parent[key] as Json);
    return set(root, p.slice(0, -1), copy);
  }
  return root;
}

/** A value of the same type as `v`, chosen by `pick`: the config mostly stays valid. */
function plausible(v: Node | undefined, pick: number): Node {
  const strings = ['true', 'sh', '/', '/tmp', '/proc/fuzz', 'fuzz', 'A=b', 'rw', 'ro', 'nosuid', 'CAP_SYS_ADMIN', 'RLIMIT_CPU', 'tmpfs', 'proc', 'none', ''];
  if (typeof v === 'string') return strings[pick % strings.length]!;
  if (typeof v === 'number') return [0, 1, v + 1, v - 1, v * 2, 1024, 65534, 4096][pick % 8]!;
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v)) {
    if (v.length === 0) return v;
    const i = pick % v.length;
    return [v.filter((_, j) => j !== i), [...v, v[i]!], [...v].reverse(), []][Math.floor(pick / v.length) % 4]!;
  }
  if (isObj(v)) return remove(v, [Object.keys(v)[pick % Math.max(Object.keys(v).length, 1)] ?? 'none']);
  return null;
}

export function applyMutation(config: Node, m: Mutation): Node {
  switch (m.kind) {
    case 'set': {
      const all = paths(config);
      return all.length === 0 ? config : set(config, all[m.at % all.length]!, m.value);
    }
    case 'plausible': {
      const all = paths(config);
      if (all.length === 0) return config;
      const p = all[m.at % all.length]!;
      return set(config, p, plausible(get(config, p), m.pick));
    }
    case 'delete': {
      const all = paths(config);
      return all.length === 0 ? config : remove(config, all[m.at % all.length]!);
    }
    case 'add': {
      const all = containers(config);
      const p = all[m.at % all.length]!;
      const target = get(config, p);
      return Array.isArray(target) ? set(config, [...p, -1], m.value) : set(config, [...p, m.key], m.value);
    }
    case 'extra':
      return set(config, m.path, m.value);
  }
}

/** JSON text of a value with Deep nestings expanded (no recursion over their depth). */
export function jsonText(v: Node): string {
  if (v instanceof Deep) return '{"d":['.repeat(v.depth) + '"deep"' + ']}'.repeat(v.depth);
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${jsonText(v[k]!)}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

export function damageText(text: string, d: TextDamage): Buffer {
  const buf = Buffer.from(text, 'utf8');
  switch (d.kind) {
    case 'truncate': return buf.subarray(0, d.at % (buf.length + 1));
    case 'byte': {
      const copy = Buffer.from(buf);
      if (copy.length > 0) copy[d.at % copy.length] = d.byte;
      return copy;
    }
    case 'bom': return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf]);
    case 'empty': return Buffer.alloc(0);
    case 'trailing': return Buffer.concat([buf, Buffer.from(d.text, 'utf8')]);
  }
}

// ---- arbitraries ---------------------------------------------------------------------------

const int = (min: number, max: number) => fc.integer({ min, max });
const nearValid = (valid: fc.Arbitrary<Json>) => fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: anyValue });

/** Known optional fields, with values that are mostly valid: these reach the kernel. */
const EXTRAS: [Path, fc.Arbitrary<Json>][] = [
  [['process', 'args'], fc.constantFrom<Json>(['true'], ['sh', '-c', 'exit 3'], ['sh', '-c', 'echo hi'], ['no-such-binary'], ['/bin/true', 'x'], ['sleep', '0.1'])],
  [['process', 'oomScoreAdj'], nearValid(int(-1000, 1000))],
  [['process', 'user', 'uid'], nearValid(fc.constantFrom(0, 1, 1000, 65534))],
  [['process', 'user', 'gid'], nearValid(fc.constantFrom(0, 1, 1000, 65534))],
  [['process', 'user', 'umask'], nearValid(int(0, 0o777))],
  [['process', 'user', 'additionalGids'], nearValid(fc.array(int(0, 65534), { maxLength: 4 }))],
  [['process', 'env', -1], nearValid(fc.constantFrom('A=b', 'PATH=/bin', 'X=', 'LONG=' + 'y'.repeat(5000), '=x', 'noequals'))],
  [['process', 'rlimits', -1], nearValid(fc.record({
    type: fc.constantFrom('RLIMIT_CPU', 'RLIMIT_NPROC', 'RLIMIT_CORE', 'RLIMIT_AS', 'RLIMIT_NOFILE', 'RLIMIT_FSIZE', 'RLIMIT_BOGUS'),
    soft: fc.oneof(int(0, 100000), fc.constant(2 ** 64)),
    hard: fc.oneof(int(0, 100000), fc.constant(2 ** 64)),
  }))],
  [['process', 'capabilities', 'bounding', -1], nearValid(fc.constantFrom('CAP_SYS_ADMIN', 'CAP_NET_RAW', 'CAP_CHOWN', 'CAP_BOGUS', 'cap_chown'))],
  [['process', 'capabilities', 'ambient', -1], nearValid(fc.constantFrom('CAP_NET_RAW', 'CAP_CHOWN', 'CAP_SYS_ADMIN'))],
  [['process', 'noNewPrivileges'], nearValid(fc.boolean())],
  [['process', 'cwd'], nearValid(fc.constantFrom('/', '/tmp', '/bin', '/nonexistent', 'relative', '/proc/self', '/../..'))],
  [['hostname'], nearValid(fc.oneof(oddString, fc.constantFrom('x'.repeat(64), 'x'.repeat(65), 'host')))],
  [['domainname'], nearValid(fc.constantFrom('example.org', '', 'x'.repeat(65)))],
  [['linux', 'sysctl'], nearValid(fc.dictionary(
    fc.constantFrom('net.ipv4.ip_forward', 'net.core.somaxconn', 'kernel.shmmax', 'kernel.msgmax', 'fs.mqueue.msg_max', 'kernel.domainname', 'vm.swappiness', 'net..x', 'net/x'),
    fc.constantFrom('1', '0', '4096', 'x', ''), { maxKeys: 2 }))],
  [['linux', 'resources', 'memory', 'limit'], nearValid(fc.oneof(int(8, 512).map((n) => n * 1024 * 1024), fc.constantFrom(-1, 0, 4096, 2 ** 63)))],
  [['linux', 'resources', 'memory', 'swap'], nearValid(fc.oneof(int(8, 512).map((n) => n * 1024 * 1024), fc.constantFrom(-1, 0)))],
  [['linux', 'resources', 'memory', 'reservation'], nearValid(int(0, 512).map((n) => n * 1024 * 1024))],
  [['linux', 'resources', 'memory', 'swappiness'], nearValid(int(0, 101))],
  [['linux', 'resources', 'pids', 'limit'], nearValid(fc.oneof(int(-2, 200), fc.constant(2 ** 53)))],
  [['linux', 'resources', 'cpu', 'shares'], nearValid(fc.oneof(int(0, 300000)))],
  [['linux', 'resources', 'cpu', 'quota'], nearValid(fc.oneof(int(-1, 1000000)))],
  [['linux', 'resources', 'cpu', 'period'], nearValid(fc.oneof(int(0, 2000000)))],
  [['linux', 'resources', 'cpu', 'cpus'], nearValid(fc.constantFrom('0', '0-1', '1', '0,1', '99', 'x', ''))],
  [['linux', 'resources', 'cpu', 'mems'], nearValid(fc.constantFrom('0', '1', ''))],
  [['linux', 'resources', 'blockIO', 'weight'], nearValid(int(0, 1001))],
  [['linux', 'resources', 'hugepageLimits', -1], nearValid(fc.record({ pageSize: fc.constantFrom('2MB', '1GB', '3KB'), limit: int(0, 2 ** 30) }))],
  [['linux', 'resources', 'devices', -1], nearValid(fc.record({
    allow: fc.boolean(), type: fc.constantFrom('a', 'c', 'b', 'x'), major: int(-1, 300), minor: int(-1, 300), access: fc.constantFrom('rwm', 'r', 'm', 'q', ''),
  }, { requiredKeys: ['allow'] }))],
  [['linux', 'resources', 'unified'], nearValid(fc.dictionary(fc.constantFrom('memory.max', 'pids.max', 'cgroup.procs', '../x', 'cpu.weight'), fc.constantFrom('max', '100', '1', ''), { maxKeys: 2 }))],
  [['linux', 'devices', -1], nearValid(fc.record({
    type: fc.constantFrom('c', 'b', 'u', 'p', 'x'), path: fc.constantFrom('/dev/fuzz', '/dev/null', '/dev/../etc/x', 'rel', '/dev/a/b'),
    major: int(0, 4096), minor: int(0, 300), fileMode: int(0, 0o7777), uid: int(0, 65534), gid: int(0, 65534),
  }, { requiredKeys: ['type', 'path'] }))],
  [['linux', 'maskedPaths', -1], nearValid(fc.constantFrom('/proc/kmsg', '/etc/passwd', '/nonexistent', '/proc/../etc', 'relative', '/dev/null'))],
  [['linux', 'readonlyPaths', -1], nearValid(fc.constantFrom('/bin', '/tmp', '/nonexistent', '/proc/sys/..'))],
  [['linux', 'rootfsPropagation'], nearValid(fc.constantFrom('private', 'rprivate', 'shared', 'slave', 'rslave', 'unbindable', 'bogus'))],
  [['linux', 'namespaces', -1], nearValid(fc.record({ type: fc.constantFrom('cgroup', 'time', 'user', 'pid', 'bogus') }))],
  [['linux', 'cgroupsPath'], nearValid(fc.constantFrom('/berth-fuzz/x', 'berth-fuzz', 'a:b:c', '/../x', 'system.slice:fuzz:x', '//x', '/x/../y'))],
  [['mounts', -1], nearValid(fc.record({
    destination: fc.constantFrom('/mnt', '/tmp', '/mnt/a/b', 'relative', '/proc/x', '/..', '/dev/shm/x'),
    type: fc.constantFrom('tmpfs', 'proc', 'bind', 'nosuchfs', 'sysfs', 'mqueue'),
    source: fc.constantFrom('tmpfs', 'none', '/tmp', '/nonexistent', 'relative'),
    options: fc.array(fc.constantFrom('ro', 'rw', 'nosuid', 'bind', 'rbind', 'size=1m', 'mode=0755', 'bogus', 'rprivate', 'noexec'), { maxLength: 4 }),
  }, { requiredKeys: ['destination'] }))],
  [['annotations'], nearValid(fc.dictionary(oddString, oddString, { maxKeys: 3 }))],
  [['root', 'readonly'], nearValid(fc.boolean())],
  [['ociVersion'], nearValid(fc.constantFrom('1.0.0', '1.2.1', '2.0.0', '0.9', '1.', ''))],
];

const deepValue = int(10, 100_000).map((d) => new Deep(d));

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.oneof({ weight: 20, arbitrary: anyValue }, { weight: 1, arbitrary: deepValue }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('plausible' as const), at: fc.nat(), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({
    kind: fc.constant('add' as const), at: fc.nat(),
    key: fc.oneof(fc.constantFrom(...POLLUTING_KEYS), oddString, fc.constantFrom('seccomp', 'timeOffsets', 'intelRdt', 'personality', 'uidMappings')),
    value: fc.oneof({ weight: 20, arbitrary: anyValue }, { weight: 1, arbitrary: deepValue }),
  }) },
  { weight: 6, arbitrary: fc.constantFrom(...EXTRAS).chain(([path, value]) => value.map((v) => ({ kind: 'extra' as const, path, value: v }))) },
);

export const textDamage: fc.Arbitrary<TextDamage> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.constant({ kind: 'bom' as const }),
  fc.constant({ kind: 'empty' as const }),
  fc.record({ kind: fc.constant('trailing' as const), text: fc.constantFrom(',', '}', ' {"a":1}', '\0', 'garbage') }),
);
