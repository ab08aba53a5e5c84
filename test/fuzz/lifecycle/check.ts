/**
 * The invariants checked after every command of a lifecycle run, for every container id:
 *
 *   the runtime agrees with the model   rt.state(id): status, exit, limits in force
 *   live state == replay(log)           the state rebuilt from the log alone, no event rejected
 *   == what the kernel shows            the init (alive with the right program, stopped or not,
 *                                       the right pending signals; or gone, never a zombie),
 *                                       the cgroup (present, frozen or not, the limit files, the
 *                                       exec'd processes in it), the exec fifo and container
 *                                       directory; all gone once checkpointed
 *
 * and for the root: `list` shows exactly the model's containers, no cgroup under the root's
 * parent belongs to no container, no container process runs outside a live container.
 */
import { basename } from 'node:path';
import { isRuntimeError } from '../../../src/errors.js';
import type { ContainerState } from '../../../src/machines/replay.js';
import { replay } from '../../../src/machines/replay.js';
import type { StoredEvent } from '../../../src/store/eventLog.js';
import { observeContainer, rootCgroups, strayProcesses, type ContainerView } from './kernel.js';
import { EXEC_TAG_BASE, exists, IDS, kernelLimits, ociStatus, type ContainerModel, type Model } from './model.js';
import { SIGCHLD, type InitModel } from './program.js';
import type { Real } from './real.js';

export interface Observation {
  id: string;
  live: ContainerState | null;
  replayed: ContainerState | null;
  rejected: string[];
  events: StoredEvent[];
  view: ContainerView;
}

const UNLIMITED_MEMORY = '9223372036854771712';
const CHLD_BIT = 1n << BigInt(SIGCHLD - 1);

export async function observe(r: Real, id: string): Promise<Observation> {
  const rt = r.runtime();
  let live: ContainerState | null = null;
  try {
    live = await rt.state(id);
  } catch (e) {
    if (!isRuntimeError(e, 'NOT_EXISTS')) throw e;
  }
  const events = await rt.log.read(id);
  const rep = replay(id, events);
  let replayed: ContainerState | null = null;
  if (events.length > 0) replayed = await rt.replay(id);
  return {
    id,
    live,
    replayed,
    rejected: rep.rejected.map((e) => `${e.version}:${e.type}`),
    events,
    view: observeContainer(r.layout, r.root, id, events),
  };
}

function maskOf(signals: readonly number[]): bigint {
  return signals.reduce((m, s) => m | (1n << BigInt(s - 1)), 0n);
}

function signalsIn(mask: bigint): number[] {
  const out: number[] = [];
  for (let s = 1; s <= 64; s++) if (mask & (1n << BigInt(s - 1))) out.push(s);
  return out;
}

/** Everything in which the observation differs from the model's container (empty: agreement). */
export function mismatches(c: ContainerModel, o: Observation): string[] {
  const out: string[] = [];
  const bad = (what: string, want: unknown, got: unknown) => out.push(`${what}: model ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  if (o.rejected.length > 0) bad('events replay rejects', [], o.rejected);
  if (!exists(c)) {
    if (o.live !== null) bad('state', 'NOT_EXISTS', o.live.state);
    if (o.replayed !== null && o.replayed.state !== 'deleted') bad('replayed state', 'deleted', o.replayed.state);
  } else if (o.live === null) {
    bad('state', c.status, 'NOT_EXISTS');
  } else {
    const live = o.live;
    if (live.status !== ociStatus(c.status)) bad('status', ociStatus(c.status), live.status);
    if (live.state !== c.status) bad('machine state', c.status, live.state);
    if (JSON.stringify(o.replayed) !== JSON.stringify(live)) bad('replay(log) vs live state', live, o.replayed);
    const gone = c.status === 'stopped' || c.status === 'checkpointed';
    if ((live.pid !== 0) === gone) bad('pid shown', gone ? 0 : 'the init pid', live.pid);
    const execs = live.execs.map((e) => (e.args[0] === 'sleep' && Number(e.args[1]) >= EXEC_TAG_BASE ? Number(e.args[1]) : e.args.join(' '))).sort();
    if (JSON.stringify(execs) !== JSON.stringify([...c.execs].sort())) bad('exec\'d processes listed', c.execs, execs);
    if (c.status === 'stopped') {
      const unknown = live.exit === null || (live.exit.code === null && live.exit.signal === null);
      if (!(unknown && c.exitMayBeUnknown) && JSON.stringify(live.exit) !== JSON.stringify(c.exit)) bad('exit', c.exit, live.exit);
    }
    const res = live.resources as { memory?: { limit?: number }; pids?: { limit?: number }; cpu?: { shares?: number } } | null;
    const given = { memory: res?.memory?.limit, pids: res?.pids?.limit, shares: res?.cpu?.shares };
    if (JSON.stringify(given) !== JSON.stringify({ memory: c.limits.memory, pids: c.limits.pids, shares: c.limits.shares })) bad('resources in force', c.limits, given);
  }
  out.push(...kernelMismatches(c, o.view));
  return out;
}

function kernelMismatches(c: ContainerModel, v: ContainerView): string[] {
  const out: string[] = [];
  const bad = (what: string, want: unknown, got: unknown) => out.push(`kernel ${what}: model ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  const cg = v.cgroup;
  if (c.status === 'absent' || c.status === 'checkpointed') {
    if (v.init.kind !== 'gone') bad('init', 'gone', v.init.kind);
    if (cg.present.length > 0) bad('cgroup', 'removed', cg.present);
    if (v.dir) bad('container directory', 'removed', 'present');
    return out;
  }
  // Exec'd processes die with the init (its pid namespace); a stray one may be there too.
  const tags = c.status === 'stopped' ? [] : c.execs;
  const extra = cg.execTags.filter((t) => !tags.includes(t));
  if (tags.some((t) => !cg.execTags.includes(t)) || (extra.length > 0 && !(c.strayExec && c.status !== 'stopped'))) bad('exec\'d processes in the cgroup', tags, cg.execTags);
  if (c.status === 'stopped') {
    if (v.init.kind !== 'gone') bad('init', 'gone (exited and reaped)', v.init.kind);
    if (!c.halfDeleted && cg.absent.length > 0) bad('cgroup', 'present', { missing: cg.absent });
  } else {
    const init = c.init as InitModel;
    if (v.init.kind !== 'alive') {
      bad('init', 'alive', v.init.kind);
    } else {
      const name = init.phase === 'helper' ? 'berth-init' : 'sh';
      if (v.init.name !== name) bad('init program', name, v.init.name);
      if (c.status !== 'paused' && (v.init.state === 'T') !== init.stopped) bad('init stopped by SIGSTOP', init.stopped, v.init.state);
      const pending = v.init.pending & ~CHLD_BIT;
      const want = maskOf(init.pending) & ~CHLD_BIT;
      if (pending !== want) bad('pending signals', signalsIn(want), signalsIn(pending));
    }
    if (cg.absent.length > 0) bad('cgroup', 'present', { missing: cg.absent });
    if (init.phase === 'helper' !== v.fifo) bad('exec fifo', init.phase === 'helper' ? 'present' : 'removed', v.fifo ? 'present' : 'absent');
  }
  if (cg.present.length > 0 && cg.freezer !== null) {
    const frozen = c.status === 'paused' ? 'FROZEN' : 'THAWED';
    if (cg.freezer !== frozen) bad('freezer.state', frozen, cg.freezer);
  }
  if (cg.present.length > 0 && cg.absent.length === 0) {
    const k = kernelLimits(c.limits);
    const want = {
      memory: k.memory === 'unlimited' ? UNLIMITED_MEMORY : String(k.memory),
      pids: String(k.pids),
      shares: String(k.shares),
    };
    const got = { memory: cg.memory, pids: cg.pids, shares: cg.shares };
    if (JSON.stringify(got) !== JSON.stringify(want)) bad('cgroup limits', want, got);
  }
  return out;
}

/** Checks of the root as a whole: listing, cgroups, processes. */
async function rootMismatches(m: Model, r: Real, obs: Observation[]): Promise<string[]> {
  const out: string[] = [];
  const listed = (await r.runtime().list()).map((s) => s.id).sort();
  const want = [...m.containers.values()].filter(exists).map((c) => c.id).sort();
  if (JSON.stringify(listed) !== JSON.stringify(want)) out.push(`list: model ${JSON.stringify(want)}, got ${JSON.stringify(listed)}`);
  const cgroups = rootCgroups(r.layout, r.root).filter((d) => {
    const c = m.containers.get(basename(d));
    return c === undefined || !exists(c);
  });
  if (cgroups.length > 0) out.push(`cgroups of no container: ${JSON.stringify(cgroups)}`);
  const liveNs = new Set(obs.flatMap((o) => (o.view.init.kind === 'alive' ? [o.view.init.pidNs] : [])));
  const stray = strayProcesses(r.before.pids, liveNs);
  if (stray.length > 0) out.push(`container processes outside every live container: ${JSON.stringify(stray)}`);
  return out;
}

const settleMs = () => Number(process.env.BERTH_FUZZ_SETTLE_MS ?? 5000);

/**
 * Compare model and reality until they agree or the settle time runs out: exits are reported
 * asynchronously, a SIGSTOP takes effect when its target next runs.
 */
export async function checkAll(m: Model, r: Real, after: string): Promise<void> {
  const deadline = Date.now() + settleMs();
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    r.shimReap();
    const obs: Observation[] = [];
    for (const id of IDS) obs.push(await observe(r, id));
    const problems = [
      ...obs.flatMap((o) => mismatches(m.containers.get(o.id)!, o).map((p) => `${o.id}: ${p}`)),
      ...(await rootMismatches(m, r, obs)),
    ];
    if (problems.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`after ${after}, the runtime, the log and the kernel disagree with the model:\n  ${problems.join('\n  ')}\n${describe(m, obs)}`);
    }
    await new Promise((res) => setTimeout(res, delay));
  }
}

export function describe(m: Model, obs: Observation[]): string {
  const lines: string[] = [];
  for (const o of obs) {
    const c = m.containers.get(o.id)!;
    lines.push(`  ${o.id}: model ${JSON.stringify({ status: c.status, init: c.init, limits: c.limits, exit: c.exit, pausedFrom: c.pausedFrom, execs: c.execs, doomed: c.doomed, strayExec: c.strayExec })}`);
    lines.push(`       log ${o.events.map((e) => `${e.version}:${e.type}${e.type === 'Observed' ? `(${String(e.data.status)})` : ''}`).join(' ')}`);
    lines.push(`       kernel ${JSON.stringify(o.view, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
  }
  return lines.join('\n');
}

/** What must not change when a command is refused: every stream's version and the kernel. */
export async function fingerprint(r: Real): Promise<string> {
  const rt = r.runtime();
  const parts: unknown[] = [];
  for (const id of IDS) {
    const events = await rt.log.read(id);
    const view = observeContainer(r.layout, r.root, id, events);
    // The scheduler state of a live process is not the container's state; stopped (T) is.
    if (view.init.kind === 'alive') view.init = { ...view.init, state: view.init.state === 'T' ? 'T' : 'live' };
    parts.push([id, events.length, view]);
  }
  parts.push(rootCgroups(r.layout, r.root));
  return JSON.stringify(parts, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v));
}
