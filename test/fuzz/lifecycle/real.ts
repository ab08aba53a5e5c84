/**
 * The system under test of one lifecycle run: a runtime on a fresh root (closed and reopened by
 * some commands), bundles per program and limits, and the two ways to drive it: the library
 * (`openRuntime`) and the CLI (`dist/cli.js`, a separate process, possibly killed mid-command).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { defaultCgroupPath } from '../../../src/effects/cgroup.js';
import { readCgroupLayout, type CgroupLayout } from '../../../src/effects/cgroupLayout.js';
import { linuxSyscalls } from '../../../src/effects/linux.js';
import { openRuntime, type Runtime } from '../../../src/index.js';
import type { OciResources } from '../../../src/machines/spec.js';
import { makeBundle, tempRoot, type Bundle } from '../../helpers/bundle.js';
import { CLI, errorCode } from '../../helpers/cli.js';
import { snapshot, type HostSnapshot } from '../../helpers/leaks.js';
import { cgroupDirs, rootCgroups } from './kernel.js';
import type { Limits } from './model.js';
import { PROGRAMS, type Program } from './program.js';

const sys = linuxSyscalls();

export type Via = 'lib' | 'cli';

/** What an operation returned: success, or the error code (library) / `[CODE]` (CLI stderr). */
export type Outcome = { ok: true } | { ok: false; code: string; message: string };

export class Real {
  rt: Runtime | null = null;
  readonly layout: CgroupLayout = readCgroupLayout();
  readonly before: HostSnapshot;
  /**
   * Pids of the inits and detached exec'd processes the library runtime started (their parent is
   * this process's runtime, which must reap them itself).
   */
  readonly libInits = new Set<number>();
  private readonly bundles = new Map<string, Bundle>();
  private readonly dir = tempRoot();
  /** How long each CLI command last took to finish (ms), to aim kill delays inside it; shared by runs. */
  static readonly cliTimes = new Map<string, number>();

  private constructor() {
    this.before = snapshot();
  }

  static async open(): Promise<Real> {
    const r = new Real();
    await r.reopen();
    if (Real.cliStartMs === 0) Real.cliStartMs = (await r.cli(['--version'])).ms;
    return r;
  }

  /** How long a `berth` process takes to load before it does anything (measured once). */
  static cliStartMs = 0;

  get root(): string {
    return this.dir.root;
  }

  runtime(): Runtime {
    if (!this.rt) throw new Error('the runtime is closed');
    return this.rt;
  }

  async close(): Promise<void> {
    const rt = this.rt;
    this.rt = null;
    await rt?.close();
  }

  async reopen(): Promise<void> {
    await this.close();
    this.rt = await openRuntime({ root: this.root });
  }

  bundle(program: Program, limits: Limits): string {
    const key = JSON.stringify([program, limits]);
    let b = this.bundles.get(key);
    if (!b) {
      b = makeBundle(PROGRAMS[program], (c) => {
        c.linux!.resources = { ...c.linux!.resources, ...resourcesOf(limits) };
      });
      this.bundles.set(key, b);
    }
    return b.dir;
  }

  /**
   * Run `berth --root <root> ...args`; with `killAfterMs`, SIGKILL it then if it still runs.
   * Its stdout and stderr are files: a container it creates inherits them and may outlive it.
   */
  async cli(args: string[], killAfterMs?: number): Promise<{ outcome: Outcome; killed: boolean; ms: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'berth-fuzz-cli-'));
    const out = openSync(join(dir, 'out'), 'w+');
    const err = openSync(join(dir, 'err'), 'w+');
    const t0 = performance.now();
    try {
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
        const child = spawn(process.execPath, [CLI, '--root', this.root, ...args], { stdio: ['ignore', out, err] });
        const timers = [setTimeout(() => child.kill('SIGKILL'), 60_000)];
        if (killAfterMs !== undefined) timers.push(setTimeout(() => child.kill('SIGKILL'), killAfterMs));
        child.on('error', reject);
        child.on('exit', (c, s) => {
          for (const t of timers) clearTimeout(t);
          resolve({ code: c, signal: s });
        });
      });
      const ms = performance.now() - t0;
      const stderr = readFileSync(join(dir, 'err'), 'utf8');
      if (signal !== null) return { outcome: { ok: false, code: 'KILLED', message: `killed by ${signal}` }, killed: true, ms };
      if (code === 0) {
        Real.cliTimes.set(args[0]!, ms);
        return { outcome: { ok: true }, killed: false, ms };
      }
      return { outcome: { ok: false, code: errorCode(stderr) ?? `EXIT_${code}`, message: stderr.trim() }, killed: false, ms };
    } finally {
      closeSync(out);
      closeSync(err);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * Force-delete what is left and close the runtime. Whatever still escaped the runtime (after
   * a failure) is killed through the root's cgroups, so one failed run does not spill into the next.
   */
  async dispose(): Promise<void> {
    const rt = this.rt;
    // Bounded: after a failure the runtime may be stuck; what it leaves is killed below.
    const settled = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), new Promise((res) => setTimeout(res, 30_000).unref())]);
    if (rt) await this.reaping(async () => { for (const s of await rt.list().catch(() => [])) await settled(rt.delete(s.id, true)); });
    await this.close().catch(() => undefined);
    for (const dir of rootCgroups(this.layout, this.root).reverse()) {
      try {
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone, or a hierarchy without the file
      }
    }
    for (let i = 0; i < 50; i++) {
      const left = rootCgroups(this.layout, this.root).filter((d) => {
        try {
          rmdirSync(d);
          return false;
        } catch {
          return existsSync(d);
        }
      });
      if (left.length === 0) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    // berth removes its empty default parents with the last container; after a failure, do it here.
    for (const d of cgroupDirs(this.layout, dirname(defaultCgroupPath(this.root, 'x')!))) {
      try {
        rmdirSync(d);
      } catch {
        // still used by other work on the host, or gone
      }
    }
  }

  /**
   * Act as the shim: reap exited processes reparented to this process (this test is their
   * subreaper, as containerd-shim or conmon is for runc), never an init the library runtime
   * created: reaping those is the runtime's job, and the checks see it if it does not. Only
   * container processes (in a pid namespace below ours): this process's own children (a `berth`
   * command, the library's criu) are Node's to reap, which learns their exit status so.
   */
  shimReap(): void {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || this.libInits.has(Number(name))) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      } catch {
        continue;
      }
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z' || Number(ppid) !== process.pid || !inChildPidNs(name)) continue;
      try {
        const fd = sys.pidfdOpen(Number(name));
        try {
          sys.waitid(fd);
        } finally {
          sys.close(fd);
        }
      } catch {
        // reaped meanwhile
      }
    }
  }

  private images = 0;

  /** A new directory for a checkpoint's images, under the run's root (removed with it). */
  imageDir(id: string): string {
    const dir = join(this.root, 'images', `${id}-${++this.images}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Run `op` while reaping as a shim does, on its own and at once, not only when a check looks:
   * an operation may wait for an init to finish exiting, and a pid namespace's init in its last
   * moments waits until every process of its namespace has been reaped, among them exec'd
   * processes that a `berth exec --detach` which has exited left to this process.
   */
  async reaping<T>(op: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => this.shimReap(), 50);
    try {
      return await op();
    } finally {
      clearInterval(timer);
    }
  }

  bundleDirs(): string[] {
    return [...this.bundles.values()].map((b) => b.dir);
  }

  /** Remove the root and the bundles (after the leak checks, which look into the root). */
  removeFiles(): void {
    for (const b of this.bundles.values()) b.cleanup();
    if (existsSync(this.root)) this.dir.cleanup();
  }
}

/** Whether the process lives in a pid namespace below ours (NSpid still says so for a zombie). */
function inChildPidNs(pid: string): boolean {
  try {
    return (/^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? '').trim().split(/\s+/).length > 1;
  } catch {
    return false;
  }
}

export function resourcesOf(l: Limits): OciResources {
  const r: OciResources = {};
  if (l.memory !== undefined) r.memory = { limit: l.memory };
  if (l.pids !== undefined) r.pids = { limit: l.pids };
  if (l.shares !== undefined) r.cpu = { shares: l.shares };
  return r;
}
