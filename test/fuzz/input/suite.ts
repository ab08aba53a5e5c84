/**
 * Input fuzzing: the runtime, given any config.json, id, signal, resource update or command
 * line, answers with a coded RuntimeError (never INTERNAL, never an untyped throw, never a
 * hang) or does the work, and leaves nothing behind: no process, cgroup, mount, fd or
 * container directory, and the log replays without a rejected event. Configs are mutations
 * of the valid default spec, so a share of them reaches the kernel (counted in the report).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { readCgroupLayout } from '../../../src/effects/cgroupLayout.js';
import { resolveCgroupsPath } from '../../../src/effects/cgroups/index.js';
import { ERROR_CODES, isRuntimeError, type RuntimeError } from '../../../src/errors.js';
import { openRuntime, type Runtime } from '../../../src/index.js';
import { EXIT_STATUS } from '../../../src/cli/main.js';
import { replay } from '../../../src/machines/replay.js';
import { defaultConfig } from '../../../src/machines/spec.js';
import { parseSignal, signalName } from '../../../src/signals.js';
import { busyboxRootfs, tempRoot } from '../../helpers/bundle.js';
import { CLI, errorCode } from '../../helpers/cli.js';
import { snapshot } from '../../helpers/leaks.js';
import { cgroupDirs, lastCreated, observeInit, rootCgroups, strayProcesses } from '../lifecycle/kernel.js';
import { PROGRAMS } from '../lifecycle/program.js';
import { assertRunLeftNothing } from '../leaks.js';
import { checkOptions, details, stopAtDeadline, type Campaign, type CampaignResult } from '../report.js';
import { inputCase, sanitizeArgv, type InputCase } from './cases.js';
import { applyMutation, damageText, get, jsonText, type Deep } from './mutate.js';
import type { Json } from './values.js';

const OP_MS = 30_000;
const TARGET = 'in-target';
const SIG = 'in-sig';
/** runc's character set; at most NAME_MAX, since the id names a directory and a cgroup. */
const ID_RE = /^[A-Za-z0-9_+.-]{1,255}$/;

function within<T>(what: string, p: Promise<T>, ms = OP_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} hung: no answer in ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

function fail(what: string): never {
  throw new Error(what);
}

/** A refusal must be a RuntimeError with a known code, not INTERNAL, and INVALID_CONFIG names its field. */
function coded(e: unknown, what: string): RuntimeError {
  if (!isRuntimeError(e)) fail(`${what}: threw something that is not a RuntimeError: ${e instanceof Error ? e.stack : String(e)}`);
  if (!ERROR_CODES.includes(e.code)) fail(`${what}: unknown code ${e.code}`);
  if (e.code === 'INTERNAL') fail(`${what}: INTERNAL error (a bug, not a refusal): ${e.message}\n${String((e.cause as Error | undefined)?.stack ?? '')}`);
  if (e.code === 'INVALID_CONFIG' && (typeof e.field !== 'string' || e.field === '')) fail(`${what}: INVALID_CONFIG without a field: ${e.message}`);
  return e;
}

async function outcome<T>(what: string, p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: RuntimeError }> {
  try {
    return { ok: true, value: await within(what, p) };
  } catch (e) {
    return { ok: false, err: coded(e, what) };
  }
}

const LIMIT_FILE = /^(memory\.(limit_in_bytes|soft_limit_in_bytes|memsw\.limit_in_bytes|swappiness|kmem\.limit_in_bytes|use_hierarchy)|cpu\.(shares|cfs_quota_us|cfs_period_us|rt_runtime_us|rt_period_us|idle|cfs_burst_us)|cpuset\.(cpus|mems)|pids\.max|blkio\.(weight|leaf_weight)|devices\.list|hugetlb\..*\.limit_in_bytes|net_cls\.classid|net_prio\.ifpriomap)$/;

function fds(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [`${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`];
    } catch {
      return [];
    }
  });
}

export interface InputStats {
  [k: string]: number;
  inputs: number;
  configs: number;
  reachedKernel: number;
  ran: number;
  updates: number;
  updatesApplied: number;
  ids: number;
  signals: number;
  cli: number;
}

class InputEnv {
  rt!: Runtime;
  readonly layout = readCgroupLayout();
  readonly dir = tempRoot();
  readonly work = mkdtempSync(join(tmpdir(), 'berth-fuzz-input-'));
  readonly rootfs = join(this.work, 'rootfs');
  readonly quick = join(this.work, 'quick');
  readonly before = snapshot();
  baselineFds: string[] = [];
  n = 0;

  get root(): string {
    return this.dir.root;
  }

  static async open(): Promise<InputEnv> {
    const env = new InputEnv();
    // A private copy: mutated mounts create their mountpoints inside the rootfs.
    execFileSync('cp', ['-a', busyboxRootfs(), env.rootfs]);
    mkdirSync(env.quick);
    writeFileSync(join(env.quick, 'config.json'), JSON.stringify(env.baseConfig()));
    env.rt = await openRuntime({ root: env.root });
    await env.fixtures();
    return env;
  }

  baseConfig(args = ['true']): Json {
    const c = defaultConfig();
    c.root = { path: this.rootfs, readonly: true };
    c.process.args = args;
    c.hostname = 'fuzz';
    return c as unknown as Json;
  }

  /** The long-lived containers: a running service (updates) and a created one (signals). */
  async fixtures(): Promise<void> {
    let changed = false;
    const st = await this.rt.state(TARGET).catch(() => null);
    if (st?.status === 'paused') await this.rt.resume(TARGET);
    if (!st || st.status !== 'running' && st.status !== 'paused') {
      if (st) await this.rt.delete(TARGET, true);
      const b = join(this.work, 'target');
      mkdirSync(b, { recursive: true });
      writeFileSync(join(b, 'config.json'), JSON.stringify(this.baseConfig(PROGRAMS.service)));
      await this.rt.create(TARGET, { bundle: b, stdio: 'ignore' });
      await this.rt.start(TARGET);
      changed = true;
    }
    const sig = await this.rt.state(SIG).catch(() => null);
    if (sig?.status === 'paused') await this.rt.resume(SIG);
    if (!sig || sig.status !== 'created' && sig.status !== 'paused') {
      if (sig) await this.rt.delete(SIG, true);
      await this.rt.create(SIG, { bundle: this.quick, stdio: 'ignore' });
      changed = true;
    } else {
      await this.rt.kill(SIG, 18); // SIGCONT: undo a SIGSTOP a signal input sent
    }
    if (changed || this.baselineFds.length === 0) this.baselineFds = fds();
  }

  async liveNs(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const id of [TARGET, SIG]) {
      const c = lastCreated(await this.rt.log.read(id));
      const v = c ? observeInit(c.pid, c.startTime) : null;
      if (v?.kind === 'alive') out.add(v.pidNs);
    }
    return out;
  }

  /** Nothing of the input is left: processes, cgroups, fds, container directories, a custom cgroup. */
  async assertClean(what: string, ids: string[], cgroups: string[]): Promise<void> {
    const fixtures = new Set([TARGET, SIG]);
    for (let i = 0; ; i++) {
      const problems: string[] = [];
      const stray = strayProcesses(this.before.pids, await this.liveNs());
      if (stray.length) problems.push(`processes ${JSON.stringify(stray)}`);
      const cgs = rootCgroups(this.layout, this.root).filter((d) => !fixtures.has(d.split('/').at(-1)!));
      if (cgs.length) problems.push(`cgroups ${JSON.stringify(cgs)}`);
      const custom = cgroups.flatMap((cg) => cgroupDirs(this.layout, cg)).filter((d) => existsSync(d));
      if (custom.length) problems.push(`cgroups ${JSON.stringify(custom)}`);
      // The open runtime's own LevelDB files rotate; closing it at the end must release them.
      const newFds = fds().filter((f) => !this.baselineFds.includes(f) && !f.includes(`${this.root}/log/`));
      if (newFds.length) problems.push(`fds ${JSON.stringify(newFds)}`);
      const dirs = ids.filter((id) => ID_RE.test(id) && id !== '.' && id !== '..' && !fixtures.has(id) && existsSync(join(this.root, 'containers', id)));
      if (dirs.length) problems.push(`container directories ${JSON.stringify(dirs)}`);
      if (problems.length === 0) return;
      if (i >= 50) fail(`${what} left things behind: ${problems.join('; ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The stream of `id` replays without a rejected event, and the live state equals the replay. */
  async assertLogConsistent(id: string): Promise<void> {
    const events = await this.rt.log.read(id);
    const r = replay(id, events);
    if (r.rejected.length) fail(`log of ${id} holds events the machine rejects: ${r.rejected.map((e) => `${e.version}:${e.type}`).join(' ')}`);
    const live = await this.rt.state(id).catch((e: unknown) => (isRuntimeError(e, 'NOT_EXISTS') ? null : Promise.reject(e)));
    if (live) {
      const rep = await this.rt.replay(id);
      if (JSON.stringify(rep) !== JSON.stringify(live)) fail(`${id}: live state ${JSON.stringify(live)} differs from replay ${JSON.stringify(rep)}`);
    }
  }

  async dispose(): Promise<void> {
    for (const s of await this.rt.list().catch(() => [])) await this.rt.delete(s.id, true).catch(() => undefined);
    await this.rt.close();
    await assertRunLeftNothing(this.before, this.root, [this.work]);
    if (rootCgroups(this.layout, this.root).length) fail(`cgroups left: ${rootCgroups(this.layout, this.root).join(' ')}`);
    for (const d of cgroupDirs(this.layout, '/berth-fuzz')) {
      try {
        rmdirSync(d);
      } catch {
        // not made, or busy (the leak checks above would have said)
      }
    }
    rmSync(this.work, { recursive: true, force: true });
    this.dir.cleanup();
  }

  // ---- the cases ---------------------------------------------------------------------------

  async config(ic: Extract<InputCase, { kind: 'config' }>, stats: InputStats): Promise<void> {
    stats.configs++;
    const id = `in-${++this.n}`;
    const bundle = mkdtempSync(join(this.work, 'bundle-'));
    try {
      let config = this.baseConfig() as Json | Deep;
      for (const m of ic.mutations) config = applyMutation(config, m);
      const cgroup = this.guard(config, bundle, id);
      const text = jsonText(config);
      writeFileSync(join(bundle, 'config.json'), ic.damage ? damageText(text, ic.damage) : text);
      const created = await outcome(`create ${id}`, this.rt.create(id, { bundle, stdio: 'ignore' }));
      if (!created.ok) {
        const e = created.err;
        if (e.code === 'SYSCALL' || e.step !== undefined) stats.reachedKernel++;
        const events = await this.rt.log.read(id);
        if (events.length > 0) {
          const tail = events.slice(-2).map((ev) => ev.type).join(' ');
          if (tail !== 'CreateRequested CreateFailed') fail(`failed create ${id} logged ${tail}`);
          const logged = (events.at(-1)!.data.error as { code?: string } | undefined)?.code;
          if (logged !== e.code) fail(`create ${id} threw ${e.code} but logged ${String(logged)}`);
        }
        const st = await outcome(`state ${id}`, this.rt.state(id));
        if (st.ok || st.err.code !== 'NOT_EXISTS') fail(`after a failed create, state ${id} is ${st.ok ? st.value.status : st.err.code}`);
      } else {
        stats.reachedKernel++;
        stats.ran++;
        if (ic.start) {
          const started = await outcome(`start ${id}`, this.rt.start(id));
          if (started.ok) await this.waitStopped(id);
        }
        await this.assertLogConsistent(id);
        await within(`delete --force ${id}`, this.rt.delete(id, true));
      }
      await this.assertLogConsistent(id);
      await this.assertClean(`config input ${id}`, [id], cgroup ? [cgroup] : []);
    } finally {
      rmSync(bundle, { recursive: true, force: true });
    }
  }

  /**
   * Keep the fuzz off the host: a root.path that names an existing directory outside the
   * private rootfs, or a cgroupsPath naming an existing cgroup, is pointed back at ours.
   * Returns the container's custom cgroup (it must be gone afterwards).
   */
  guard(config: Json | Deep, bundle: string, id: string): string | null {
    const root = get(config, ['root']);
    const rootPath = get(config, ['root', 'path']);
    if (root && typeof root === 'object' && !Array.isArray(root) && typeof rootPath === 'string') {
      const p = resolve(bundle, rootPath);
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        isDir = false;
      }
      if (isDir && p !== this.rootfs && !p.startsWith(`${this.rootfs}/`)) (root as Record<string, Json>).path = this.rootfs;
    }
    const linux = get(config, ['linux']);
    const cgPath = get(config, ['linux', 'cgroupsPath']);
    if (typeof cgPath !== 'string' || !linux || typeof linux !== 'object' || Array.isArray(linux)) return null;
    let cg: string;
    try {
      cg = resolveCgroupsPath(cgPath, id, { systemd: false });
    } catch {
      return null; // refused by berth as well
    }
    if (cgroupDirs(this.layout, cg).some((d) => existsSync(d))) {
      cg = `/berth-fuzz/${id}`;
      (linux as Record<string, Json>).cgroupsPath = cg;
    }
    return cg;
  }

  async waitStopped(id: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const s = await this.rt.state(id);
      if (s.status === 'stopped') return;
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  async update(ic: Extract<InputCase, { kind: 'update' }>, stats: InputStats): Promise<void> {
    stats.updates++;
    const created = lastCreated(await this.rt.log.read(TARGET))!;
    const files = () => cgroupDirs(this.layout, created.cgroup).flatMap((d) => {
      try {
        return readdirSync(d).filter((f) => LIMIT_FILE.test(f)).map((f) => `${d}/${f}=${readFileSync(join(d, f), 'utf8').trim()}`);
      } catch {
        return [];
      }
    });
    const before = files();
    const version = await this.rt.log.version(TARGET);
    const res = await outcome(`update ${TARGET}`, this.rt.update(TARGET, ic.resources as never));
    if (res.ok) {
      stats.updatesApplied++;
    } else {
      const after = files();
      const changed = after.filter((f) => !before.includes(f));
      if (changed.length) fail(`a failed update (${res.err.code}: ${res.err.message}) changed the cgroup: ${changed.join(', ')} (was ${before.filter((f) => !after.includes(f)).join(', ')})`);
      const events = await this.rt.log.read(TARGET, { from: version + 1 });
      const types = events.map((e) => e.type).join(' ');
      if (types !== '' && types !== 'UpdateRequested UpdateFailed') fail(`a failed update logged ${types}`);
    }
    const st = await this.rt.state(TARGET);
    if (st.status !== 'running') fail(`update left ${TARGET} ${st.status}`);
    await this.assertLogConsistent(TARGET);
  }

  async id(ic: Extract<InputCase, { kind: 'id' }>, stats: InputStats): Promise<void> {
    stats.ids++;
    const { id, op } = ic;
    const valid = ID_RE.test(id) && id !== '.' && id !== '..';
    const existing = id === TARGET || id === SIG;
    if (existing && !['state', 'history', 'replay', 'create'].includes(op)) return;
    const streams = await this.rt.log.streams();
    const rt = this.rt;
    const calls: Record<typeof op, () => Promise<unknown>> = {
      create: () => rt.create(id, { bundle: this.quick, stdio: 'ignore' }),
      state: () => rt.state(id),
      start: () => rt.start(id),
      kill: () => rt.kill(id, 17),
      pause: () => rt.pause(id),
      resume: () => rt.resume(id),
      update: () => rt.update(id, { pids: { limit: 10 } }),
      delete: () => rt.delete(id, true),
      history: () => rt.history(id),
      replay: () => rt.replay(id),
    };
    const res = await outcome(`${op} ${JSON.stringify(id)}`, calls[op]());
    const want = !valid ? 'INVALID_ID' : existing ? (op === 'create' ? 'ID_IN_USE' : 'ok') : op === 'create' ? 'ok' : op === 'replay' ? 'NOT_EXISTS' : 'NOT_EXISTS';
    const got = res.ok ? 'ok' : res.err.code;
    if (got !== want) fail(`${op} ${JSON.stringify(id)}: expected ${want}, got ${got}${res.ok ? '' : `: ${res.err.message}`}`);
    if (op === 'create' && res.ok) await within(`delete ${id}`, rt.delete(id, true));
    if (!valid && JSON.stringify(await this.rt.log.streams()) !== JSON.stringify(streams)) fail(`${op} with invalid id ${JSON.stringify(id)} wrote to the log`);
    await this.assertClean(`${op} ${JSON.stringify(id)}`, [id], []);
  }

  async signal(ic: Extract<InputCase, { kind: 'signal' }>, stats: InputStats): Promise<void> {
    stats.signals++;
    const v = ic.signal;
    const version = await this.rt.log.version(SIG);
    let res;
    let sent: number | undefined;
    if (ic.how === 'runtime') {
      res = await outcome(`kill ${SIG} ${JSON.stringify(v)}`, this.rt.kill(SIG, v as number));
      const valid = typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 64;
      if (res.ok !== valid) fail(`kill with signal ${JSON.stringify(v)}: expected ${valid ? 'success' : 'INVALID_ARGUMENT'}, got ${res.ok ? 'success' : res.err.code}`);
      if (valid) sent = v;
    } else {
      const c = await this.rt.get(SIG);
      res = await outcome(`container.kill ${JSON.stringify(v)}`, c.kill(v as string));
      if (res.ok) {
        const intent = (await this.rt.log.read(SIG, { from: version + 1 })).find((e) => e.type === 'KillRequested');
        sent = intent?.data.signal as number;
        if (typeof v === 'string' && /^[0-9]+$/.test(v) && sent !== Number(v)) fail(`signal ${JSON.stringify(v)} sent as ${sent}`);
        if (!Number.isInteger(sent) || sent! < 1 || sent! > 64 || parseSignal(signalName(sent!)) !== sent) fail(`signal ${JSON.stringify(v)} sent as ${sent}`);
      }
      const classic = typeof v === 'string' && /^(SIG)?(HUP|INT|QUIT|KILL|USR1|USR2|TERM|STOP|CONT|CHLD)$/i.test(v);
      if (classic && !res.ok) fail(`signal ${JSON.stringify(v)} refused: ${res.err.message}`);
    }
    if (!res.ok) {
      if (res.err.code !== 'INVALID_ARGUMENT') fail(`signal ${JSON.stringify(v)}: ${res.err.code} instead of INVALID_ARGUMENT: ${res.err.message}`);
      if ((await this.rt.log.version(SIG)) !== version) fail(`refused signal ${JSON.stringify(v)} was logged`);
    }
    if (sent === 9) await this.waitStopped(SIG);
    await this.assertLogConsistent(SIG);
  }

  async cli(ic: Extract<InputCase, { kind: 'cli' }>, stats: InputStats): Promise<void> {
    stats.cli++;
    const argv = sanitizeArgv(ic.argv, this.quick);
    const cwd = mkdtempSync(join(this.work, 'cwd-'));
    mkdirSync(join(cwd, 'sub'));
    const out = openSync(join(cwd, '.out'), 'w+');
    const err = openSync(join(cwd, '.err'), 'w+');
    let status: number | null = null;
    try {
      status = await new Promise<number | null>((res, rej) => {
        const child = spawn(process.execPath, [CLI, '--root', this.root, ...argv], { cwd, stdio: ['ignore', out, err] });
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('error', rej);
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          res(signal === null ? code : -1);
        });
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const stderr = readFileSync(join(cwd, '.err'), 'utf8');
    const stdout = readFileSync(join(cwd, '.out'), 'utf8');
    rmSync(cwd, { recursive: true, force: true });
    const what = `berth ${argv.map((a) => JSON.stringify(a)).join(' ')}`;
    if (status === -1) fail(`${what} hung (killed after 20 s)`);
    if (/\n\s+at .*\(/.test(stderr) || /\n\s+at .*\(/.test(stdout)) fail(`${what} printed a stack trace:\n${stderr}`);
    const coded = errorCode(stderr);
    if (coded) {
      const code = coded as keyof typeof EXIT_STATUS;
      if (code === 'INTERNAL') fail(`${what}: INTERNAL error: ${stderr.trim()}`);
      if (EXIT_STATUS[code] !== status) fail(`${what}: [${code}] but exit status ${status}`);
    } else if (status !== 0 && !(status === 2 && /unknown command/.test(stderr)) && !argv.includes('run')) {
      fail(`${what}: exit status ${status} without a coded error: ${stderr.trim()}`);
    }
    const made = (await this.rt.list()).map((s) => s.id).filter((i) => i !== TARGET && i !== SIG);
    for (const i of made) await within(`delete ${i}`, this.rt.delete(i, true));
    await this.fixtures();
    await this.assertClean(what, made, []);
  }
}

export async function inputCampaign(c: Campaign): Promise<CampaignResult> {
  const stats: InputStats = { inputs: 0, configs: 0, reachedKernel: 0, ran: 0, updates: 0, updatesApplied: 0, ids: 0, signals: 0, cli: 0 };
  const env = await InputEnv.open();
  let d;
  try {
    const property = fc.asyncProperty(inputCase, async (ic) => {
      stopAtDeadline(c);
      stats.inputs++;
      await env.fixtures();
      switch (ic.kind) {
        case 'config': return env.config(ic, stats);
        case 'update': return env.update(ic, stats);
        case 'id': return env.id(ic, stats);
        case 'signal': return env.signal(ic, stats);
        case 'cli': return env.cli(ic, stats);
      }
    });
    d = await fc.check(property, checkOptions(c));
  } finally {
    await env.dispose();
  }
  return { details: details(d), stats: { ...stats } };
}
