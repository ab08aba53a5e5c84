/**
 * The cgroup backend seam: one interface, one implementation per cgroup version (v1.ts for v1
 * and hybrid hosts, v2.ts for pure v2 hosts). docs/cgroups.md describes the layouts, the path
 * rules and the v1 ↔ v2 mapping of every resource.
 */
import type { OciResources } from '../../machines/spec.js';

export type { OciResources };

export type FreezerState = 'frozen' | 'thawed';

export interface CgroupManager {
  readonly version: 1 | 2;
  /**
   * Every directory this container's cgroup occupies. v1: one per mounted hierarchy (co-mounted
   * controllers share one), plus the cgroup2 one on a hybrid host; v2: one.
   */
  readonly paths: string[];
  /**
   * mkdir the cgroup(s) (mode 0755) and apply `resources`. A cgroup that already exists and
   * holds processes → ILLEGAL_STATE naming the path. Failure removes what this call created.
   */
  create(resources: OciResources | undefined): void;
  /**
   * An O_RDONLY|O_DIRECTORY|O_CLOEXEC fd of the cgroup2 directory for clone3 CLONE_INTO_CGROUP
   * (the caller closes it): v2, and the cgroup2 directory of a hybrid host; null on pure v1.
   */
  openForSpawn(): number | null;
  /** Move `pid` into every hierarchy (cgroup.procs), skipping those it is already in. */
  join(pid: number): Promise<void>;
  /** Apply (update) resources; checks what it can before writing anything. */
  apply(resources: OciResources): void;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** What the kernel says now: 'frozen' only when the whole cgroup is frozen. */
  freezerState(): FreezerState;
  /** Host pids of every process in the cgroup and its descendants. */
  pids(): number[];
  /**
   * Signal every process (cgroup.kill for SIGKILL where the kernel has it); resolves with how many
   * were signalled. After SIGKILL a frozen cgroup is thawed, so its tasks can die.
   */
  signalAll(signal: number): Promise<number>;
  stats(): Stats;
  /** OOM kills so far (memory.oom_control / memory.events `oom_kill`); 0 where the file is absent. */
  oomKills(): number;
  /** rmdir every directory (descendants first), retrying EBUSY briefly; ENOENT is success. */
  destroy(): Promise<void>;
  exists(): boolean;
}

/** runc `events --stats` (types/events.go), every member present. Units: ns for cpu, bytes for memory. */
export interface Stats {
  cpu: {
    usage: { total: number; percpu: number[]; kernel: number; user: number };
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: {
    cache: number;
    usage: MemoryEntry;
    swap: MemoryEntry;
    kernel: MemoryEntry;
    kernelTCP: MemoryEntry;
    raw: Record<string, number>;
  };
  pids: { current: number; limit: number };
  blkio: {
    ioServiceBytesRecursive: BlkioEntry[];
    ioServicedRecursive: BlkioEntry[];
  };
  hugetlb: Record<string, { usage: number; max: number; failcnt: number }>;
}

export interface MemoryEntry {
  limit: number;
  usage: number;
  max: number;
  failcnt: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** `2**64 - 1` as JSON can carry it: what runc prints for "no limit" in stats, rounded by IEEE doubles. */
export const UNLIMITED = 18446744073709551615;
