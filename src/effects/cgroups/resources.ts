/**
 * Checked resources → the exact file writes runc makes, per cgroup version, in runc's order
 * (libcontainer/cgroups/fs/*.go for v1, fs2/*.go for v2). Pure: what the plan needs to know
 * about the live cgroup (does a file exist, the current memory limit) comes in `PlanContext`.
 */
import { emulate, transition, type DeviceState } from './devicesV1.js';
import type { Resources } from './validate.js';

export interface Write {
  /** v1: the controller whose hierarchy holds the file; v2: ''. */
  ctrl: string;
  file: string;
  value: string;
  /** The spec field this write comes from, relative to linux.resources (`memory.limit`). */
  field: string;
  /** ENOENT means "the kernel lacks this optional file": skip, as runc does. */
  optional?: boolean;
}

export interface PlanContext {
  /** Does `file` exist in this container's cgroup (of controller `ctrl` on v1)? */
  has(ctrl: string, file: string): boolean;
  /** v1: the current memory.limit_in_bytes (to order the memory and memsw writes). */
  memoryLimit(): number;
  /** v1: the device controller's state now (devices.list); absent or null: unknown. */
  devices?(): DeviceState | null;
}

/** Integers as decimal text, never in exponent notation. */
export const fmt = (n: number): string => BigInt(n).toString();

/** runc cgroups.ConvertCPUSharesToCgroupV2Value: [2, 262144] → [1, 10000]. */
export function cpuSharesToWeight(shares: number): number {
  return shares === 0 ? 0 : 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** runc cgroups.ConvertBlkIOToIOWeightValue: [10, 1000] → [1, 10000]. */
export function blkioWeightToIoWeight(weight: number): number {
  return weight === 0 ? 0 : 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * runc cgroups.ConvertMemorySwapToCgroupV2Value: v1's memory+swap → v2's swap alone.
 * (validateResources already refused the contradictory combinations.)
 */
export function memorySwapToV2(swap: number, limit: number): number {
  if (limit === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  return swap - limit;
}

/** fs2 numToStr: 0 → unset (''), -1 → "max". */
function numToStr(n: number): string {
  return n === 0 ? '' : n === -1 ? 'max' : fmt(n);
}

const dev = (d: { major: number; minor: number }) => `${d.major}:${d.minor}`;

function v1Memory(r: Resources, ctx: PlanContext): Write[] {
  const m = r.memory;
  const w = (file: string, value: string, field: string, optional = false): Write => ({ ctrl: 'memory', file, value, field, ...(optional ? { optional } : {}) });
  let swap = m.swap;
  // Unlimited memory with swap unset means unlimited swap too (fs/memory.go setMemoryAndSwap).
  if (m.limit === -1 && swap === 0 && ctx.has('memory', 'memory.memsw.limit_in_bytes')) swap = -1;
  const mem = m.limit !== 0 ? [w('memory.limit_in_bytes', fmt(m.limit), 'memory.limit')] : [];
  const sw = swap !== 0 ? [w('memory.memsw.limit_in_bytes', fmt(swap), 'memory.swap')] : [];
  // The kernel keeps memsw >= memory at every step: raise memsw first when it grows.
  const swapFirst = m.limit !== 0 && swap !== 0 && (swap === -1 || ctx.memoryLimit() < swap);
  const out = swapFirst ? [...sw, ...mem] : [...mem, ...sw];
  if (m.reservation !== 0) out.push(w('memory.soft_limit_in_bytes', fmt(m.reservation), 'memory.reservation'));
  if (m.disableOOMKiller) out.push(w('memory.oom_control', '1', 'memory.disableOOMKiller'));
  if (m.swappiness !== undefined) out.push(w('memory.swappiness', fmt(m.swappiness), 'memory.swappiness'));
  return out;
}

function v1Cpu(r: Resources): Write[] {
  const c = r.cpu;
  const w = (file: string, value: number, field: string): Write => ({ ctrl: 'cpu', file, value: fmt(value), field });
  const out: Write[] = [];
  if (c.shares !== 0) out.push(w('cpu.shares', c.shares, 'cpu.shares'));
  if (c.period !== 0) out.push(w('cpu.cfs_period_us', c.period, 'cpu.period'));
  if (c.burst !== undefined) out.push(w('cpu.cfs_burst_us', c.burst, 'cpu.burst'));
  if (c.quota !== 0) out.push(w('cpu.cfs_quota_us', c.quota, 'cpu.quota'));
  if (c.idle !== undefined) out.push(w('cpu.idle', c.idle, 'cpu.idle'));
  if (c.realtimePeriod !== 0) out.push(w('cpu.rt_period_us', c.realtimePeriod, 'cpu.realtimePeriod'));
  if (c.realtimeRuntime !== 0) out.push(w('cpu.rt_runtime_us', c.realtimeRuntime, 'cpu.realtimeRuntime'));
  return out;
}

function v1Blkio(r: Resources, ctx: PlanContext): Write[] {
  const b = r.blockIO;
  const w = (file: string, value: string, field: string): Write => ({ ctrl: 'blkio', file, value, field });
  // BFQ's files when the kernel has them (CFQ is gone since 5.0), as runc's detectWeightFilenames.
  const bfq = ctx.has('blkio', 'blkio.bfq.weight');
  const weightFile = bfq ? 'blkio.bfq.weight' : 'blkio.weight';
  const deviceFile = bfq ? 'blkio.bfq.weight_device' : 'blkio.weight_device';
  const out: Write[] = [];
  if (b.weight !== 0) out.push(w(weightFile, fmt(b.weight), 'blockIO.weight'));
  if (b.leafWeight !== 0) out.push(w('blkio.leaf_weight', fmt(b.leafWeight), 'blockIO.leafWeight'));
  b.weightDevice.forEach((d, i) => {
    if (d.weight !== 0) out.push(w(deviceFile, `${dev(d)} ${d.weight}`, `blockIO.weightDevice[${i}].weight`));
    if (d.leafWeight !== 0) out.push(w('blkio.leaf_weight_device', `${dev(d)} ${d.leafWeight}`, `blockIO.weightDevice[${i}].leafWeight`));
  });
  const throttles = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ] as const;
  for (const [key, file] of throttles) {
    b[key].forEach((d, i) => out.push(w(file, `${dev(d)} ${d.rate}`, `blockIO.${key}[${i}]`)));
  }
  return out;
}

function hugetlb(r: Resources, suffix: string): Write[] {
  return r.hugepageLimits.flatMap((h, i) => [
    { ctrl: 'hugetlb', file: `hugetlb.${h.pageSize}.${suffix}`, value: fmt(h.limit), field: `hugepageLimits[${i}]` },
    // The reservation limit (kernel 5.7+) so that reserved-but-unfaulted pages are capped too.
    { ctrl: 'hugetlb', file: `hugetlb.${h.pageSize}.rsvd.${suffix}`, value: fmt(h.limit), field: `hugepageLimits[${i}]`, optional: true },
  ]);
}

/** v1: runc's subsystem order (cpuset, devices, memory, cpu, pids, blkio, hugetlb). */
export function planV1(r: Resources, ctx: PlanContext): Write[] {
  const out: Write[] = [];
  if (r.cpu.cpus !== '') out.push({ ctrl: 'cpuset', file: 'cpuset.cpus', value: r.cpu.cpus, field: 'cpu.cpus' });
  if (r.cpu.mems !== '') out.push({ ctrl: 'cpuset', file: 'cpuset.mems', value: r.cpu.mems, field: 'cpu.mems' });
  // Only what changes from the state the cgroup is in (devicesV1.ts): no deny-all window.
  if (r.devices.length > 0) {
    for (const d of transition(ctx.devices?.() ?? null, emulate(r.devices))) {
      out.push({ ctrl: 'devices', file: d.allow ? 'devices.allow' : 'devices.deny', value: d.rule, field: 'devices' });
    }
  }
  out.push(...v1Memory(r, ctx), ...v1Cpu(r));
  if (r.pidsLimit !== undefined) {
    out.push({ ctrl: 'pids', file: 'pids.max', value: r.pidsLimit === -1 ? 'max' : fmt(r.pidsLimit), field: 'pids.limit' });
  }
  out.push(...v1Blkio(r, ctx), ...hugetlb(r, 'limit_in_bytes').map((w) => ({ ...w })));
  return out;
}

function v2Memory(r: Resources): Write[] {
  const m = r.memory;
  const out: Write[] = [];
  const swap = memorySwapToV2(m.swap, m.limit);
  let swapStr = numToStr(swap);
  if (swapStr === '' && swap === 0 && m.swap > 0) swapStr = '0'; // swap == limit: no swap at all
  // Without swap accounting the file is absent: "max" and "0" then already hold (fs2/memory.go).
  if (swapStr !== '') out.push({ ctrl: '', file: 'memory.swap.max', value: swapStr, field: 'memory.swap', ...(swapStr === 'max' || swapStr === '0' ? { optional: true } : {}) });
  if (m.limit !== 0) out.push({ ctrl: '', file: 'memory.max', value: numToStr(m.limit), field: 'memory.limit' });
  if (m.reservation !== 0) out.push({ ctrl: '', file: 'memory.low', value: numToStr(m.reservation), field: 'memory.reservation' });
  return out;
}

function v2Io(r: Resources, ctx: PlanContext): Write[] {
  const b = r.blockIO;
  const out: Write[] = [];
  const bfq = ctx.has('', 'io.bfq.weight');
  if (b.weight !== 0) {
    out.push(bfq
      ? { ctrl: '', file: 'io.bfq.weight', value: fmt(b.weight), field: 'blockIO.weight' }
      : { ctrl: '', file: 'io.weight', value: fmt(blkioWeightToIoWeight(b.weight)), field: 'blockIO.weight' });
  }
  // Per-device weights exist only in BFQ's file (kernel 5.4+); runc drops them otherwise, and so do we.
  if (bfq) {
    b.weightDevice.forEach((d, i) => {
      if (d.weight !== 0) out.push({ ctrl: '', file: 'io.bfq.weight', value: `${dev(d)} ${d.weight}`, field: `blockIO.weightDevice[${i}].weight` });
    });
  }
  const throttles = [
    ['throttleReadBpsDevice', 'rbps'], ['throttleWriteBpsDevice', 'wbps'],
    ['throttleReadIOPSDevice', 'riops'], ['throttleWriteIOPSDevice', 'wiops'],
  ] as const;
  for (const [key, name] of throttles) {
    b[key].forEach((d, i) => out.push({ ctrl: '', file: 'io.max', value: `${dev(d)} ${name}=${d.rate}`, field: `blockIO.${key}[${i}]` }));
  }
  return out;
}

function v2Cpu(r: Resources): Write[] {
  const c = r.cpu;
  const out: Write[] = [];
  if (c.idle !== undefined) out.push({ ctrl: '', file: 'cpu.idle', value: fmt(c.idle), field: 'cpu.idle' });
  if (c.shares !== 0) out.push({ ctrl: '', file: 'cpu.weight', value: fmt(cpuSharesToWeight(c.shares)), field: 'cpu.shares' });
  if (c.burst !== undefined) out.push({ ctrl: '', file: 'cpu.max.burst', value: fmt(c.burst), field: 'cpu.burst' });
  if (c.quota !== 0 || c.period !== 0) {
    const quota = c.quota > 0 ? fmt(c.quota) : 'max';
    out.push({ ctrl: '', file: 'cpu.max', value: c.period !== 0 ? `${quota} ${c.period}` : quota, field: c.quota !== 0 ? 'cpu.quota' : 'cpu.period' });
  }
  return out;
}

/** v2: runc's fs2 Set order (pids, memory, io, cpu, cpuset, hugetlb, unified). Devices: see docs/cgroups.md. */
export function planV2(r: Resources, ctx: PlanContext): Write[] {
  const out: Write[] = [];
  if (r.pidsLimit !== undefined) out.push({ ctrl: '', file: 'pids.max', value: numToStr(r.pidsLimit), field: 'pids.limit' });
  out.push(...v2Memory(r), ...v2Io(r, ctx), ...v2Cpu(r));
  if (r.cpu.cpus !== '') out.push({ ctrl: '', file: 'cpuset.cpus', value: r.cpu.cpus, field: 'cpu.cpus' });
  if (r.cpu.mems !== '') out.push({ ctrl: '', file: 'cpuset.mems', value: r.cpu.mems, field: 'cpu.mems' });
  out.push(...hugetlb(r, 'max').map((w) => ({ ...w, ctrl: '' })));
  for (const [k, v] of r.unified) out.push({ ctrl: '', file: k, value: v, field: `unified.${k}` });
  return out;
}
