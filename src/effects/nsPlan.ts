/**
 * Namespaces in the init plan: how the helper gets into the container's namespaces.
 *
 * Fast path (no namespace joined by path, no time offsets): clone3 makes every namespace
 * (CLONE_NEW* flags) and the helper starts inside them; no operation, no fork.
 *
 * Slow path, in runc's nsexec order:
 *   SETNS per joined namespace (the user namespace first, so the others are joined with its
 *         privileges and the new ones below are owned by it); the runtime opens each path and
 *         passes it at fd `fdBase` + k, k being the SETNS's position (create: after the
 *         idmapped mounts' fds)
 *   UNSHARE of every namespace not joined
 *   TIMENS_OFFSET per clock, into the new time namespace before anyone enters it
 *   FORK when the container has a pid or time namespace (setns/unshare of those apply to
 *         children only); the forked child is the container's init
 * The helper then starts in the runtime's own namespaces (clone flags 0), which also keeps
 * it from being pid 1 of a new pid namespace, which could not fork with CLONE_PARENT.
 */
import type { NamespaceType, OciLinux, OciTimeOffsets } from '../machines/spec.js';
import { NAMESPACE_FLAGS } from './linuxConstants.js';
import type { PlanOp } from './planWire.js';

/** The first fd number above the fixed ones (0-2 stdio, 3 plan, 4 status, 5 fifo, 6 reserved). */
export const NS_FD_BASE = 7;

/** clock ids (linux/time.h) as /proc/<pid>/timens_offsets takes them. */
const CLOCK_IDS = { monotonic: 1, boottime: 7 } as const;

export interface NamespaceJoin {
  type: NamespaceType;
  path: string;
  /** The config field that named it, for errors: `linux.namespaces[2].path`. */
  field: string;
}

export interface NamespacePlan {
  /** CLONE_NEW* flags for clone3 (0 on the slow path). */
  cloneFlags: number;
  /** Operations that go before everything else in the plan. */
  ops: PlanOp[];
  /** Namespaces to join, in SETNS order: the k-th is passed to the helper at fd NS_FD_BASE + k. */
  joins: NamespaceJoin[];
}

const op = (name: PlanOp['op'], ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });

export function planNamespaces(linux: OciLinux, fdBase = NS_FD_BASE): NamespacePlan {
  const list = linux.namespaces ?? [];
  const flagsOf = (types: readonly { type: NamespaceType }[]) => types.reduce((f, n) => f | NAMESPACE_FLAGS[n.type], 0);
  const offsets = timeOffsetOps(linux.timeOffsets);
  const joined = list.map((n, i) => ({ ...n, field: `linux.namespaces[${i}].path` })).filter((n) => n.path !== undefined);
  if (joined.length === 0 && offsets.length === 0) return { cloneFlags: flagsOf(list), ops: [], joins: [] };

  const joins = [...joined.filter((n) => n.type === 'user'), ...joined.filter((n) => n.type !== 'user')]
    .map((n) => ({ type: n.type, path: n.path!, field: n.field }));
  const ops = joins.map((j, k) => op('SETNS', fdBase + k, NAMESPACE_FLAGS[j.type]));
  const fresh = flagsOf(list.filter((n) => n.path === undefined));
  if (fresh !== 0) ops.push(op('UNSHARE', fresh));
  ops.push(...offsets);
  if (list.some((n) => n.type === 'pid' || n.type === 'time')) ops.push(op('FORK'));
  return { cloneFlags: 0, ops, joins };
}

function timeOffsetOps(offsets: OciTimeOffsets | undefined): PlanOp[] {
  return Object.entries(offsets ?? {}).map(([clock, o]) =>
    op('TIMENS_OFFSET', CLOCK_IDS[clock as keyof typeof CLOCK_IDS], o?.secs ?? 0, o?.nanosecs ?? 0));
}

/**
 * A new cgroup namespace is rooted at the cgroup its creator is in when it is made. On cgroup
 * v1 and hybrid hosts the init joins the container's v1 cgroups only after clone3 (only v2 has
 * CLONE_INTO_CGROUP), so the namespace is taken out of the clone flags (or the UNSHARE) and
 * made by the init itself once the runtime has joined it: WAIT on `goFd`, then UNSHARE. runc
 * does the same (nsexec waits for SYNC_CGROUPNS before unshare(CLONE_NEWCGROUP)). After FORK,
 * so it is the container's init that waits and is joined.
 */
export function deferCgroupNamespace(plan: NamespacePlan, goFd: number): NamespacePlan {
  const cg = NAMESPACE_FLAGS.cgroup;
  const ops = plan.ops.flatMap((o) => {
    if (o.op !== 'UNSHARE') return [o];
    const rest = Number(o.args[0]) & ~cg;
    return rest === 0 ? [] : [op('UNSHARE', rest)];
  });
  return { ...plan, cloneFlags: plan.cloneFlags & ~cg, ops: [...ops, op('WAIT', goFd), op('UNSHARE', cg)] };
}

/** Every CLONE_NEW* type of the container: what an exec'd process joins through the init's pidfd. */
export function containerNamespaceFlags(linux: OciLinux | undefined): number {
  return (linux?.namespaces ?? []).reduce((f, n) => f | NAMESPACE_FLAGS[n.type], 0);
}

/** An exec'd process must fork to enter the container's pid or time namespace. */
export function needsFork(linux: OciLinux | undefined): boolean {
  return (linux?.namespaces ?? []).some((n) => n.type === 'pid' || n.type === 'time');
}
