/**
 * `linux.resources` → a checked, normalized form both backends plan from. Pure: every check
 * that needs no kernel happens here, before anything is written, and throws INVALID_CONFIG
 * naming the field. Absent members normalize to runc's "unset" (0, '', undefined).
 */
import { RuntimeError } from '../../errors.js';
import type { OciResources } from './types.js';

export interface DeviceRule { allow: boolean; type: 'a' | 'b' | 'c'; major: number; minor: number; access: string }
export interface ThrottleDevice { major: number; minor: number; rate: number }
export interface WeightDevice { major: number; minor: number; weight: number; leafWeight: number }

export interface Resources {
  memory: { limit: number; reservation: number; swap: number; swappiness: number | undefined; disableOOMKiller: boolean };
  cpu: {
    shares: number; quota: number; period: number; burst: number | undefined; idle: number | undefined;
    realtimeRuntime: number; realtimePeriod: number; cpus: string; mems: string;
  };
  /** undefined: leave pids.max alone; -1: "max". */
  pidsLimit: number | undefined;
  blockIO: {
    weight: number; leafWeight: number; weightDevice: WeightDevice[];
    throttleReadBpsDevice: ThrottleDevice[]; throttleWriteBpsDevice: ThrottleDevice[];
    throttleReadIOPSDevice: ThrottleDevice[]; throttleWriteIOPSDevice: ThrottleDevice[];
  };
  hugepageLimits: { pageSize: string; limit: number }[];
  devices: DeviceRule[];
  unified: [string, string][];
}

const P = 'linux.resources';

/** `field` is relative to linux.resources ('' for linux.resources itself). */
function bad(field: string, what: string): RuntimeError {
  const full = field === '' ? P : `${P}.${field}`;
  return new RuntimeError('INVALID_CONFIG', `invalid config: ${full}: ${what}`, { field: full });
}

type Obj = Record<string, unknown>;

function obj(v: unknown, field: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(field, 'must be an object');
  return v as Obj;
}

function arr(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(field, 'must be an array');
  return v;
}

/** An integer ≥ min (undefined → dflt). */
function int(o: Obj, key: string, field: string, min: number, dflt = 0): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(`${field}.${key}`, `must be an integer, got ${JSON.stringify(v)}`);
  if (v < min) throw bad(`${field}.${key}`, `must be >= ${min}, got ${v}`);
  return v;
}

function optInt(o: Obj, key: string, field: string, min: number): number | undefined {
  return o[key] === undefined || o[key] === null ? undefined : int(o, key, field, min);
}

function range(v: number, lo: number, hi: number, field: string): number {
  if (v !== 0 && (v < lo || v > hi)) throw bad(field, `must be between ${lo} and ${hi}, got ${v}`);
  return v;
}

function cpuList(o: Obj, key: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string' || !/^[0-9,\-\s]*$/.test(v)) throw bad(`cpu.${key}`, `must be a list such as "0-3,6", got ${JSON.stringify(v)}`);
  return v.trim();
}

function memory(r: Obj, version: 1 | 2): Resources['memory'] {
  const m = obj(r.memory, 'memory');
  const limit = int(m, 'limit', 'memory', -1);
  const reservation = int(m, 'reservation', 'memory', -1);
  const swap = int(m, 'swap', 'memory', -1);
  if (limit > 0 && swap > 0 && swap < limit) throw bad('memory.swap', `memory+swap limit ${swap} should be >= memory limit ${limit}`);
  if (limit > 0 && reservation > 0 && reservation > limit) throw bad('memory.reservation', `${reservation} is above memory.limit ${limit}`);
  if (version === 2 && swap > 0 && limit <= 0) throw bad('memory.swap', 'unable to set swap limit without memory limit');
  let swappiness = optInt(m, 'swappiness', 'memory', -1);
  if (swappiness === -1) swappiness = undefined;
  if (swappiness !== undefined && swappiness > 100) throw bad('memory.swappiness', `invalid memory swappiness value: ${swappiness} (valid range is 0-100)`);
  const disable = m.disableOOMKiller ?? false;
  if (typeof disable !== 'boolean') throw bad('memory.disableOOMKiller', 'must be a boolean');
  if (version === 2 && disable) throw bad('memory.disableOOMKiller', 'the OOM killer cannot be disabled on cgroup v2');
  // swappiness has no v2 file: ignored there, as runc does. kernel/kernelTCP are ignored on both (runc).
  return { limit, reservation, swap, swappiness: version === 1 ? swappiness : undefined, disableOOMKiller: disable };
}

function cpu(r: Obj, version: 1 | 2): Resources['cpu'] {
  const c = obj(r.cpu, 'cpu');
  const shares = int(c, 'shares', 'cpu', 0);
  if (shares !== 0 && shares < 2) throw bad('cpu.shares', `the minimum allowed cpu-shares is 2, got ${shares}`);
  if (shares > 262144) throw bad('cpu.shares', `the maximum allowed cpu-shares is 262144, got ${shares}`);
  const idle = optInt(c, 'idle', 'cpu', 0);
  if (idle !== undefined && idle > 1) throw bad('cpu.idle', `must be 0 or 1, got ${idle}`);
  const realtimeRuntime = int(c, 'realtimeRuntime', 'cpu', -1);
  const realtimePeriod = int(c, 'realtimePeriod', 'cpu', 0);
  if (version === 2 && (realtimeRuntime !== 0 || realtimePeriod !== 0)) {
    throw bad(realtimeRuntime !== 0 ? 'cpu.realtimeRuntime' : 'cpu.realtimePeriod', 'realtime scheduling is not supported on cgroup v2');
  }
  return {
    shares, idle, realtimeRuntime, realtimePeriod,
    quota: int(c, 'quota', 'cpu', -1),
    period: int(c, 'period', 'cpu', 0),
    burst: optInt(c, 'burst', 'cpu', 0),
    cpus: cpuList(c, 'cpus'),
    mems: cpuList(c, 'mems'),
  };
}

function pidsLimit(r: Obj): number | undefined {
  const p = obj(r.pids, 'pids');
  if (p.limit === undefined || p.limit === null) return undefined;
  const limit = int(p, 'limit', 'pids', Number.MIN_SAFE_INTEGER);
  return limit <= 0 ? -1 : limit; // runc: 0 or negative is "max"
}

function device(v: unknown, field: string, withRate: boolean): ThrottleDevice & WeightDevice {
  const d = obj(v, field);
  const sub = field;
  return {
    major: int(d, 'major', sub, 0), minor: int(d, 'minor', sub, 0),
    rate: withRate ? int(d, 'rate', sub, 0) : 0,
    weight: withRate ? 0 : range(int(d, 'weight', sub, 0), 10, 1000, `${sub}.weight`),
    leafWeight: withRate ? 0 : range(int(d, 'leafWeight', sub, 0), 10, 1000, `${sub}.leafWeight`),
  };
}

function blockIO(r: Obj): Resources['blockIO'] {
  const b = obj(r.blockIO, 'blockIO');
  const throttle = (key: string) =>
    arr(b[key], `blockIO.${key}`).map((d, i) => {
      const { major, minor, rate } = device(d, `blockIO.${key}[${i}]`, true);
      return { major, minor, rate };
    });
  return {
    weight: range(int(b, 'weight', 'blockIO', 0), 10, 1000, 'blockIO.weight'),
    leafWeight: range(int(b, 'leafWeight', 'blockIO', 0), 10, 1000, 'blockIO.leafWeight'),
    weightDevice: arr(b.weightDevice, 'blockIO.weightDevice').map((d, i) => {
      const { major, minor, weight, leafWeight } = device(d, `blockIO.weightDevice[${i}]`, false);
      return { major, minor, weight, leafWeight };
    }),
    throttleReadBpsDevice: throttle('throttleReadBpsDevice'),
    throttleWriteBpsDevice: throttle('throttleWriteBpsDevice'),
    throttleReadIOPSDevice: throttle('throttleReadIOPSDevice'),
    throttleWriteIOPSDevice: throttle('throttleWriteIOPSDevice'),
  };
}

function hugepages(r: Obj): Resources['hugepageLimits'] {
  return arr(r.hugepageLimits, 'hugepageLimits').map((v, i) => {
    const field = `hugepageLimits[${i}]`;
    const h = obj(v, field);
    if (typeof h.pageSize !== 'string' || !/^[0-9]+[KMGT]B$/.test(h.pageSize)) {
      throw bad(`${field}.pageSize`, `must be a size such as "2MB", got ${JSON.stringify(h.pageSize)}`);
    }
    return { pageSize: h.pageSize, limit: int(h, 'limit', field, 0) };
  });
}

function devices(r: Obj): DeviceRule[] {
  return arr(r.devices, 'devices').map((v, i) => {
    const field = `devices[${i}]`;
    const d = obj(v, field);
    if (typeof d.allow !== 'boolean') throw bad(`${field}.allow`, 'must be a boolean');
    const type = d.type ?? 'a';
    if (type !== 'a' && type !== 'b' && type !== 'c') throw bad(`${field}.type`, `must be "a", "b" or "c", got ${JSON.stringify(type)}`);
    const access = d.access ?? 'rwm';
    if (typeof access !== 'string' || !/^[rwm]{1,3}$/.test(access)) throw bad(`${field}.access`, `must be letters of "rwm", got ${JSON.stringify(access)}`);
    return { allow: d.allow, type, major: int(d, 'major', field, -1, -1), minor: int(d, 'minor', field, -1, -1), access };
  });
}

function unified(r: Obj, version: 1 | 2): [string, string][] {
  const u = obj(r.unified, 'unified');
  const entries = Object.entries(u);
  if (entries.length > 0 && version === 1) throw bad('unified', 'unified resources need cgroup v2 (this host runs v1)');
  for (const [k, v] of entries) {
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(k) || k.includes('..')) throw bad(`unified.${k}`, `${JSON.stringify(k)} is not a cgroup file name of the form CONTROLLER.PARAMETER`);
    if (typeof v !== 'string') throw bad(`unified.${k}`, 'must be a string');
  }
  return entries as [string, string][];
}

export function validateResources(r: OciResources | undefined, version: 1 | 2): Resources {
  const o = obj(r, '');
  for (const key of ['network', 'rdma']) {
    if (Object.keys(obj(o[key], key)).length > 0) throw bad(key, 'is not supported by berth');
  }
  return {
    memory: memory(o, version), cpu: cpu(o, version), pidsLimit: pidsLimit(o), blockIO: blockIO(o),
    hugepageLimits: hugepages(o), devices: devices(o), unified: unified(o, version),
  };
}
