/**
 * The inputs of the input fuzz: mutated configs, resource updates, container ids, signals and
 * CLI command lines.
 */
import fc from 'fast-check';
import { mutation, textDamage, type Mutation, type TextDamage } from './mutate.js';
import { anyValue, boundaryNumber, deepObject, oddString, pollutingObject, type Json } from './values.js';

export type InputCase =
  | { kind: 'config'; mutations: Mutation[]; damage: TextDamage | null; start: boolean }
  | { kind: 'update'; resources: Json }
  | { kind: 'id'; id: string; op: IdOp }
  | { kind: 'signal'; signal: Json; how: 'runtime' | 'container' }
  | { kind: 'cli'; argv: string[] };

export const ID_OPS = ['create', 'state', 'start', 'kill', 'pause', 'resume', 'update', 'delete', 'history', 'replay'] as const;
export type IdOp = (typeof ID_OPS)[number];

const int = (min: number, max: number) => fc.integer({ min, max });
const group = (entries: Record<string, fc.Arbitrary<Json>>) => fc.record(entries, { requiredKeys: [] }) as fc.Arbitrary<Json>;

/** linux.resources as `berth update -r` or the library's update() may receive them. */
export const resources: fc.Arbitrary<Json> = fc.oneof(
  { weight: 6, arbitrary: group({
    memory: fc.oneof(group({
      limit: fc.oneof(int(16, 1024).map((n) => n * 1024 * 1024), boundaryNumber, fc.constant(-1)),
      reservation: fc.oneof(int(0, 256).map((n) => n * 1024 * 1024), boundaryNumber),
      swap: fc.oneof(int(16, 2048).map((n) => n * 1024 * 1024), fc.constant(-1), boundaryNumber),
      swappiness: fc.oneof(int(0, 100), boundaryNumber),
      disableOOMKiller: fc.oneof(fc.boolean(), anyValue),
      kernel: int(0, 2 ** 30),
    }), anyValue),
    cpu: fc.oneof(group({
      shares: fc.oneof(int(2, 262144), boundaryNumber),
      quota: fc.oneof(int(-1, 1_000_000), boundaryNumber),
      period: fc.oneof(int(1000, 1_000_000), boundaryNumber),
      realtimeRuntime: fc.oneof(int(0, 1000), boundaryNumber),
      realtimePeriod: fc.oneof(int(0, 1_000_000), boundaryNumber),
      cpus: fc.oneof(fc.constantFrom('0', '0-1', '1', '0,1', '99', '1-0', 'x', ''), oddString),
      mems: fc.oneof(fc.constantFrom('0', '1', ''), oddString),
      idle: fc.oneof(int(-1, 2), anyValue),
      burst: fc.oneof(int(0, 1000), anyValue),
    }), anyValue),
    pids: fc.oneof(group({ limit: fc.oneof(int(-2, 500), boundaryNumber, anyValue) }), anyValue),
    blockIO: fc.oneof(group({ weight: fc.oneof(int(0, 1001), boundaryNumber), leafWeight: int(0, 1001) }), anyValue),
    hugepageLimits: fc.oneof(fc.array(group({ pageSize: fc.oneof(fc.constantFrom('2MB', '1GB', '3KB'), oddString), limit: fc.oneof(int(0, 2 ** 30), boundaryNumber) }), { maxLength: 2 }), anyValue),
    devices: fc.oneof(fc.array(group({ allow: fc.oneof(fc.boolean(), anyValue), type: fc.constantFrom('a', 'c', 'b', 'x'), major: int(-1, 300), minor: int(-1, 300), access: fc.constantFrom('rwm', 'r', 'm', 'q', '') }), { maxLength: 2 }), anyValue),
    unified: fc.oneof(fc.dictionary(fc.constantFrom('memory.max', 'pids.max', 'cgroup.procs', '../x', 'cpu.weight', 'x/y'), fc.constantFrom('max', '100', '1', '')), anyValue),
    network: anyValue,
    rdma: anyValue,
  }) },
  { weight: 1, arbitrary: anyValue },
  { weight: 1, arbitrary: pollutingObject },
  { weight: 1, arbitrary: fc.record({ memory: deepObject }) as fc.Arbitrary<Json> },
  { weight: 1, arbitrary: fc.record({ unified: deepObject }) as fc.Arbitrary<Json> },
);

const VALID_ID_CHARS = fc.constantFrom(...'abcXYZ019_+.-'.split(''));
export const idValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: VALID_ID_CHARS, minLength: 1, maxLength: 12 }),
  oddString,
  fc.constantFrom('x'.repeat(255), 'x'.repeat(256), 'x'.repeat(1024), 'x'.repeat(1025), '.', '..', '...', '-x', 'a/b', 'a\0b', 'A', 'in-target', '__proto__', 'constructor'),
);

export const signalValue: fc.Arbitrary<Json> = fc.oneof(
  int(-5, 70),
  boundaryNumber,
  fc.constantFrom('KILL', 'SIGKILL', 'sigkill', 'TERM', 'RTMIN', 'RTMIN+3', 'RTMAX-1', 'RTMIN-1', 'RTMAX+1', 'RTMIN+31', 'SIG', 'SIGSIG', '9', '09', '+9', ' 9', '9 ', '0x9', '1e1', '65', '0', 'IOT', 'CLD', 'POLL', 'STOP', 'CONT'),
  oddString,
  fc.constantFrom<Json>(null, true, [], {}),
);

const SAFE_PATHS = ['.', 'sub', 'nonexistent/x', '/nonexistent/x'];
/** Flags that take a path: their value is always a harmless one (CLI fuzzing must not write host files). */
export const PATH_FLAGS = new Set(['--bundle', '-b', '--pid-file', '--log', '--console-socket', '--resources', '-r', '-bundle', '-pid-file', '-log']);

const cliToken = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('create', 'start', 'state', 'kill', 'delete', 'pause', 'resume', 'update', 'ps', 'list', 'history', 'replay', 'spec', 'run', 'help', 'version', 'bogus', 'exec', 'checkpoint', '') },
  { weight: 3, arbitrary: fc.constantFrom('in-target', 'in-sig', 'nope', 'in-cli', '-', '--') },
  { weight: 4, arbitrary: fc.constantFrom(
    '--bundle', '-b', '--force', '-f', '--all', '-a', '--format', 'json', 'table', '--pid-file', '--memory', '--pids-limit', '--cpu-shares', '--cpu-quota',
    '--cpuset-cpus', '--blkio-weight', '--memory-swap', '--at', '--at-time', '--interval', '--stats', '--log', '--log-format', '--debug', '--systemd-cgroup',
    '--preserve-fds', '--console-socket', '--no-pivot', '--detach', '-d', '--keep', '--quiet', '-q', '-h', '--help', '--version', '-v', '--=', '--memory=',
    '--force=false', '--all=true', '-abc', '--rootless', '--criu', '--kernel-memory', '-r', '--resources',
  ) },
  { weight: 2, arbitrary: fc.constantFrom('9', 'KILL', 'TERM', 'SIGRTMIN+1', '100', '-1', '0', '64m', '1g', '10', 'lots', '2024-01-01T00:00:00Z', 'x', '1.5') },
  // An argv entry cannot hold a NUL byte: execve takes C strings.
  { weight: 1, arbitrary: oddString.map((t) => t.replace(/\0/g, '')) },
);

export const cliArgv: fc.Arbitrary<string[]> = fc.array(cliToken, { minLength: 1, maxLength: 7 });

/** Replace the value after a path flag with a harmless path (relative to the command's temp cwd). */
export function sanitizeArgv(argv: string[], quickBundle: string): string[] {
  const out = [...argv];
  for (let i = 0; i < out.length; i++) {
    const t = out[i]!;
    const eq = t.indexOf('=');
    const name = eq > 0 ? t.slice(0, eq) : t;
    if (!PATH_FLAGS.has(name)) continue;
    const pick = (v: string) => (v === quickBundle || SAFE_PATHS.includes(v) ? v : SAFE_PATHS[v.length % SAFE_PATHS.length]!);
    if (eq > 0) out[i] = `${name}=${pick(t.slice(eq + 1))}`;
    else if (i + 1 < out.length) out[i + 1] = pick(out[i + 1]!);
  }
  // `--root` would leave the run's root; `events` without --stats tails for ever, by design.
  return out.filter((t) => !t.startsWith('--root') && !t.startsWith('-root') && t !== 'events');
}

export const inputCase: fc.Arbitrary<InputCase> = fc.oneof(
  { weight: 12, arbitrary: fc.record({
    kind: fc.constant('config' as const),
    mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
    damage: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: textDamage }),
    start: fc.boolean(),
  }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('update' as const), resources }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('id' as const), id: idValue, op: fc.constantFrom(...ID_OPS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('signal' as const), signal: signalValue, how: fc.constantFrom('runtime' as const, 'container' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cli' as const), argv: cliArgv }) },
);
