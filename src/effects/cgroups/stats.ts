/**
 * cgroup files → runc's `events --stats` shape (types/events.go; runc's fs/*.go and fs2/*.go
 * GetStats). Pure: `read(ctrl, file)` returns a file's text, or undefined when it is absent.
 * Absent files leave zeros, as on the controller-less cgroup2 of a hybrid host.
 */
import { UNLIMITED, type BlkioEntry, type MemoryEntry, type Stats } from './types.js';

export type Reader = (ctrl: string, file: string) => string | undefined;

/** A single-value file; "max" is no limit. */
function num(text: string | undefined): number {
  if (text === undefined) return 0;
  const t = text.trim();
  if (t === 'max') return UNLIMITED;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}

/** `key value` lines (memory.stat, cpu.stat, memory.events, cgroup.events ...). */
export function keyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

function emptyStats(): Stats {
  const entry = (): MemoryEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });
  return {
    cpu: { usage: { total: 0, percpu: [], kernel: 0, user: 0 }, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } },
    memory: { cache: 0, usage: entry(), swap: entry(), kernel: entry(), kernelTCP: entry(), raw: {} },
    pids: { current: 0, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
  };
}

/** Hugepage directory names (/sys/kernel/mm/hugepages/hugepages-2048kB) → "2MB", as runc's HugePageSizes. */
export function hugePageSizes(dirNames: string[]): string[] {
  const units = ['KB', 'MB', 'GB', 'TB'];
  return dirNames.flatMap((name) => {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (!m) return [];
    let size = Number(m[1]);
    let unit = 0;
    while (size >= 1024 && size % 1024 === 0 && unit < units.length - 1) { size /= 1024; unit++; }
    return [`${size}${units[unit]}`];
  });
}

/** v1 blkio `8:0 Read 4096` lines (the Total line carries no device and is skipped). */
function blkioEntries(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (\S+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** USER_HZ: the unit of cpuacct.stat (100 on every Linux architecture userspace sees). */
const CLOCK_TICKS = 100;

export function statsV1(read: Reader, pageSizes: string[]): Stats {
  const s = emptyStats();
  s.cpu.usage.total = num(read('cpuacct', 'cpuacct.usage'));
  s.cpu.usage.percpu = (read('cpuacct', 'cpuacct.usage_percpu') ?? '').trim().split(/\s+/).filter((x) => x !== '').map(Number);
  const acct = keyValues(read('cpuacct', 'cpuacct.stat'));
  s.cpu.usage.user = ((acct.user ?? 0) * 1e9) / CLOCK_TICKS;
  s.cpu.usage.kernel = ((acct.system ?? 0) * 1e9) / CLOCK_TICKS;
  const cpu = keyValues(read('cpu', 'cpu.stat'));
  s.cpu.throttling = { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: cpu.throttled_time ?? 0 };

  const entry = (prefix: string): MemoryEntry => ({
    usage: num(read('memory', `${prefix}.usage_in_bytes`)),
    max: num(read('memory', `${prefix}.max_usage_in_bytes`)),
    limit: num(read('memory', `${prefix}.limit_in_bytes`)),
    failcnt: num(read('memory', `${prefix}.failcnt`)),
  });
  s.memory.raw = keyValues(read('memory', 'memory.stat'));
  s.memory.cache = s.memory.raw.cache ?? 0;
  s.memory.usage = entry('memory');
  s.memory.swap = entry('memory.memsw');
  s.memory.kernel = entry('memory.kmem');
  s.memory.kernelTCP = entry('memory.kmem.tcp');

  const pidsMax = read('pids', 'pids.max');
  s.pids = { current: num(read('pids', 'pids.current')), limit: pidsMax?.trim() === 'max' ? 0 : num(pidsMax) };

  // The CFQ/BFQ recursive counters when present, else the throttle ones (fs/blkio.go).
  const blk = (name: string) => read('blkio', `blkio.bfq.${name}`) ?? read('blkio', `blkio.${name}`) ?? read('blkio', `blkio.throttle.${name}`);
  s.blkio.ioServiceBytesRecursive = blkioEntries(blk('io_service_bytes_recursive'));
  s.blkio.ioServicedRecursive = blkioEntries(blk('io_serviced_recursive'));

  for (const size of pageSizes) {
    const usage = read('hugetlb', `hugetlb.${size}.usage_in_bytes`);
    if (usage === undefined) continue;
    s.hugetlb[size] = {
      usage: num(usage),
      max: num(read('hugetlb', `hugetlb.${size}.max_usage_in_bytes`)),
      failcnt: num(read('hugetlb', `hugetlb.${size}.failcnt`)),
    };
  }
  return s;
}

/** v2 io.stat `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` → v1-style Read/Write entries. */
function ioStat(text: string | undefined, s: Stats): void {
  const ops = { rbytes: ['bytes', 'Read'], wbytes: ['bytes', 'Write'], rios: ['ios', 'Read'], wios: ['ios', 'Write'] } as const;
  for (const line of (text ?? '').split('\n')) {
    const [device, ...fields] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(device ?? '');
    if (!m) continue;
    for (const f of fields) {
      const [k, v] = f.split('=');
      const op = ops[k as keyof typeof ops];
      if (!op) continue;
      const e = { major: Number(m[1]), minor: Number(m[2]), op: op[1], value: Number(v) };
      (op[0] === 'bytes' ? s.blkio.ioServiceBytesRecursive : s.blkio.ioServicedRecursive).push(e);
    }
  }
}

export function statsV2(read: (file: string) => string | undefined, pageSizes: string[]): Stats {
  const s = emptyStats();
  // cpu.stat exists even without the cpu controller (usage_usec, user_usec, system_usec).
  const cpu = keyValues(read('cpu.stat'));
  s.cpu.usage = { total: (cpu.usage_usec ?? 0) * 1000, percpu: [], user: (cpu.user_usec ?? 0) * 1000, kernel: (cpu.system_usec ?? 0) * 1000 };
  s.cpu.throttling = { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: (cpu.throttled_usec ?? 0) * 1000 };

  s.memory.raw = keyValues(read('memory.stat'));
  s.memory.cache = s.memory.raw.file ?? 0;
  const events = keyValues(read('memory.events'));
  s.memory.usage = { usage: num(read('memory.current')), limit: num(read('memory.max')), max: num(read('memory.peak')), failcnt: events.max ?? 0 };
  // v1 reports memory+swap; so does runc's v2 stats, for compatibility.
  const swapLimit = num(read('memory.swap.max'));
  s.memory.swap = {
    usage: num(read('memory.swap.current')) + s.memory.usage.usage,
    limit: read('memory.swap.max') === undefined || swapLimit === UNLIMITED ? swapLimit : swapLimit + s.memory.usage.limit,
    max: 0, failcnt: 0,
  };

  const pidsCurrent = read('pids.current');
  const pidsMax = read('pids.max');
  // Without the pids controller, count cgroup.procs (runc statPidsFromCgroupProcs).
  const current = pidsCurrent !== undefined ? num(pidsCurrent) : (read('cgroup.procs') ?? '').split('\n').filter((l) => l.trim() !== '').length;
  s.pids = { current, limit: pidsMax?.trim() === 'max' ? 0 : num(pidsMax) };

  ioStat(read('io.stat'), s);
  for (const size of pageSizes) {
    const usage = read(`hugetlb.${size}.current`);
    if (usage === undefined) continue;
    s.hugetlb[size] = { usage: num(usage), max: num(read(`hugetlb.${size}.max`)), failcnt: keyValues(read(`hugetlb.${size}.events`)).max ?? 0 };
  }
  return s;
}
