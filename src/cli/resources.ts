import { RuntimeError } from '../errors.js';
import type { OciResources } from '../machines/spec.js';
import { readFlagFile, str, type FlagSpec, type Parsed } from './args.js';

/** `berth update` flags, as runc spells them. */
export const updateFlags: FlagSpec[] = [
  { name: 'resources', short: 'r', help: 'a JSON file of linux.resources (- for stdin); flags below override it' },
  { name: 'memory', help: 'memory limit in bytes (k, m, g suffixes; -1 for none)' },
  { name: 'memory-reservation', help: 'memory soft limit' },
  { name: 'memory-swap', help: 'memory plus swap limit (-1 for unlimited swap)' },
  { name: 'kernel-memory', ignored: true, help: 'accepted for compatibility (no effect on current kernels)' },
  { name: 'kernel-memory-tcp', ignored: true, help: 'accepted for compatibility' },
  { name: 'cpu-shares', help: 'relative cpu weight (v1 shares; converted on v2)' },
  { name: 'cpu-period', help: 'CFS period in microseconds' },
  { name: 'cpu-quota', help: 'CFS quota in microseconds per period (-1 for none)' },
  { name: 'cpu-rt-period', help: 'realtime period in microseconds' },
  { name: 'cpu-rt-runtime', help: 'realtime runtime in microseconds' },
  { name: 'cpuset-cpus', help: 'cpus to run on (0-3, 0,1)' },
  { name: 'cpuset-mems', help: 'memory nodes to allocate from' },
  { name: 'pids-limit', help: 'maximum number of processes (0 or -1 for none)' },
  { name: 'blkio-weight', help: 'block io weight (10-1000)' },
];

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A byte size as runc reads it (go-units RAMInBytes): `512`, `64k`, `256m`, `1g`, `-1`. */
export function parseBytes(flag: string, value: string): number {
  if (value === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(value.trim());
  if (!m) throw new RuntimeError('INVALID_ARGUMENT', `--${flag} ${value}: not a size (e.g. 512, 64k, 256m, 1g)`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

function int(flag: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw new RuntimeError('INVALID_ARGUMENT', `--${flag} ${value}: not an integer`);
  return Number(value);
}

/** The resources an update asks for: the -r file, then each flag over it. */
export function resourcesFromFlags(p: Parsed, readStdin: () => string): OciResources {
  const file = str(p, 'resources');
  let r: OciResources = {};
  if (file !== undefined) {
    const text = file === '-' ? readStdin() : readFlagFile('resources', file);
    try {
      r = JSON.parse(text) as OciResources;
    } catch (e) {
      throw new RuntimeError('INVALID_ARGUMENT', `--resources ${file}: not valid JSON: ${(e as Error).message}`);
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new RuntimeError('INVALID_ARGUMENT', `--resources ${file}: not a JSON object`);
  }
  const set = (group: 'memory' | 'cpu' | 'pids' | 'blockIO', key: string, v: unknown) => {
    r[group] = { ...(r[group] as Record<string, unknown> | undefined), [key]: v } as never;
  };
  const flag = (name: string) => str(p, name);
  const bytes: [string, string][] = [['memory', 'limit'], ['memory-reservation', 'reservation'], ['memory-swap', 'swap']];
  for (const [name, key] of bytes) { const v = flag(name); if (v !== undefined) set('memory', key, parseBytes(name, v)); }
  const ints: [string, 'cpu' | 'pids' | 'blockIO', string][] = [
    ['cpu-shares', 'cpu', 'shares'], ['cpu-period', 'cpu', 'period'], ['cpu-quota', 'cpu', 'quota'],
    ['cpu-rt-period', 'cpu', 'realtimePeriod'], ['cpu-rt-runtime', 'cpu', 'realtimeRuntime'],
    ['pids-limit', 'pids', 'limit'], ['blkio-weight', 'blockIO', 'weight'],
  ];
  for (const [name, group, key] of ints) { const v = flag(name); if (v !== undefined) set(group, key, int(name, v)); }
  const cpus = flag('cpuset-cpus');
  if (cpus !== undefined) set('cpu', 'cpus', cpus);
  const mems = flag('cpuset-mems');
  if (mems !== undefined) set('cpu', 'mems', mems);
  if (Object.keys(r).length === 0) throw new RuntimeError('INVALID_ARGUMENT', 'update: nothing to change (give -r FILE or a resource flag)');
  return r;
}
