import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RuntimeError, isRuntimeError } from '../errors.js';
import { features } from '../features.js';
import { defaultConfig } from '../machines/spec.js';
import type { Runtime } from '../runtime.js';
import { parseSignal, signalName } from '../signals.js';
import type { StoredEvent } from '../store/eventLog.js';
import type { Stats } from '../effects/cgroups/types.js';
import type { ContainerState } from '../machines/replay.js';
import { bool, positionals, str, type FlagSpec, type Parsed } from './args.js';
import { eventDetails, fieldRows, formatFlag, outputFormat, streamTable, table, type OutputFormat } from './format.js';
import { resourcesFromFlags, updateFlags } from './resources.js';
import { relayConsole } from './terminal.js';
import { execFlags, processFromFlags, readProcessFile } from './exec.js';
import { checkpointCommands } from './checkpoint.js';
import { containerCommand } from './container.js';
import { podCommands } from './pod.js';
import { withSubcommands } from './subcommands.js';
import { parseDuration } from '../gc.js';

/** What a command needs: its parsed arguments, a runtime opened on demand, and output. */
export interface CommandContext {
  args: Parsed;
  /** Opens the runtime (late: only commands that need the log open it). */
  runtime(opts?: { serve?: boolean }): Promise<Runtime>;
  out(text: string): void;
  cwd: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpec[];
  /** Flags end at the first positional (`exec <id> <command> -l`: `-l` is the command's). */
  stopAtFirstPositional?: boolean;
  /** Commands under this one (`container create`); `run` dispatches to them. */
  subcommands?: Command[];
  /** Returns the process exit status. */
  run(ctx: CommandContext): Promise<number>;
}

const bundleFlag: FlagSpec = { name: 'bundle', short: 'b', help: 'path to the bundle directory (default: current directory)' };
const pidFileFlag: FlagSpec = { name: 'pid-file', help: 'write the container init\'s host pid to this file' };
const consoleSocketFlag: FlagSpec = { name: 'console-socket', help: 'unix socket that receives the pty master (for process.terminal)' };
const compatFlags: FlagSpec[] = [
  { name: 'no-pivot', boolean: true, ignored: true, help: 'accepted for compatibility; berth always uses pivot_root' },
  { name: 'no-new-keyring', boolean: true, ignored: true, help: 'accepted for compatibility' },
];

const bundleOf = (ctx: CommandContext): string => resolve(ctx.cwd, str(ctx.args, 'bundle') ?? '.');

/**
 * --console-socket, resolved against the working directory (runc dials it as given). runc's
 * rule for run and exec: in the foreground the command itself is the terminal's other end.
 */
function consoleSocketOf(ctx: CommandContext, what: string, detached: boolean): { consoleSocket?: string } {
  const path = str(ctx.args, 'console-socket');
  if (path === undefined) return {};
  if (!detached) {
    throw new RuntimeError('INVALID_ARGUMENT', `${what}: cannot use console socket if berth will not detach or allocate tty`, { field: 'consoleSocket' });
  }
  return { consoleSocket: resolve(ctx.cwd, path) };
}

function preserveFds(ctx: CommandContext): void {
  const n = str(ctx.args, 'preserve-fds');
  if (n !== undefined && n !== '0') throw new RuntimeError('INVALID_ARGUMENT', `--preserve-fds ${n}: passing extra fds is not supported yet`);
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

const ociState = (s: Awaited<ReturnType<Runtime['state']>>) => ({
  ociVersion: s.ociVersion, id: s.id, pid: s.pid, status: s.status, bundle: s.bundle,
  rootfs: s.rootfs, created: s.created, owner: s.owner, annotations: s.annotations,
});

/** A command that takes one container id and makes one runtime call. */
function byId(name: string, summary: string, call: (rt: Runtime, id: string) => Promise<unknown>): Command {
  return {
    name,
    summary,
    usage: `berth ${name} <id>`,
    flags: [],
    async run(ctx) {
      const [id] = positionals(ctx.args, name, ['container-id']);
      await call(await ctx.runtime(), id!);
      return 0;
    },
  };
}

export const commands: Command[] = [
  {
    name: 'spec',
    summary: 'write a default config.json into the bundle directory',
    usage: 'berth spec [--bundle DIR]',
    flags: [bundleFlag, { name: 'rootless', boolean: true, ignored: true, help: 'accepted for compatibility' }],
    async run(ctx) {
      const file = resolve(bundleOf(ctx), 'config.json');
      if (existsSync(file)) throw new RuntimeError('INVALID_ARGUMENT', `file ${file} exists: remove it first`);
      writeFileSync(file, `${json(defaultConfig())}\n`, { mode: 0o644 });
      return 0;
    },
  },
  {
    name: 'features',
    summary: 'print the OCI features document: what this build of berth recognizes (JSON, or a table of fields)',
    usage: 'berth features [--format json|table]',
    flags: [formatFlag('json')],
    async run(ctx) {
      positionals(ctx.args, 'features', []);
      const doc = features();
      ctx.out(outputFormat(ctx.args, 'json') === 'json' ? json(doc) : table(['FIELD', 'VALUE'], fieldRows(doc)));
      return 0;
    },
  },
  {
    name: 'create',
    summary: 'create a container from a bundle; its process waits for start',
    usage: 'berth create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] <id>',
    flags: [bundleFlag, pidFileFlag, consoleSocketFlag, { name: 'preserve-fds', help: 'extra fds to pass (only 0)' }, ...compatFlags],
    async run(ctx) {
      const [id] = positionals(ctx.args, 'create', ['container-id']);
      preserveFds(ctx);
      const rt = await ctx.runtime();
      const pidFile = str(ctx.args, 'pid-file');
      // This process exits once the container is created: it cannot hold a terminal's master.
      await rt.create(id!, { bundle: bundleOf(ctx), ...(pidFile ? { pidFile: resolve(ctx.cwd, pidFile) } : {}), ...consoleSocketOf(ctx, `create ${id}`, true), detached: true });
      return 0;
    },
  },
  byId('start', 'run the user process of a created container', (rt, id) => rt.start(id)),
  {
    name: 'state',
    summary: 'print the OCI state of a container as JSON',
    usage: 'berth state <id>',
    flags: [],
    async run(ctx) {
      const [id] = positionals(ctx.args, 'state', ['container-id']);
      ctx.out(json(ociState(await (await ctx.runtime()).state(id!))));
      return 0;
    },
  },
  {
    name: 'kill',
    summary: 'send a signal (default SIGTERM) to the container\'s init',
    usage: 'berth kill [--all] <id> [signal]',
    flags: [{ name: 'all', short: 'a', boolean: true, help: 'signal every process of the container' }],
    async run(ctx) {
      const [id, sig] = positionals(ctx.args, 'kill', ['container-id'], ['signal']);
      const signal = parseSignal(sig ?? 'SIGTERM');
      await (await ctx.runtime()).kill(id!, signal, bool(ctx.args, 'all'));
      return 0;
    },
  },
  {
    name: 'delete',
    summary: 'delete a stopped container (with --force, kill it first)',
    usage: 'berth delete [--force] <id>',
    flags: [{ name: 'force', short: 'f', boolean: true, help: 'kill the container if it is not stopped' }],
    async run(ctx) {
      const [id] = positionals(ctx.args, 'delete', ['container-id']);
      const force = bool(ctx.args, 'force');
      try {
        await (await ctx.runtime()).delete(id!, force);
      } catch (e) {
        // As runc: a forced delete of a container that is already gone succeeds, so a client's
        // cleanup (containerd's shim deletes again after the container is removed) is idempotent.
        if (!(force && isRuntimeError(e) && e.code === 'NOT_EXISTS')) throw e;
      }
      return 0;
    },
  },
  byId('pause', 'freeze every process of the container', (rt, id) => rt.pause(id)),
  byId('resume', 'thaw a paused container', (rt, id) => rt.resume(id)),
  {
    name: 'update',
    summary: 'change the resource limits of a container; the change is logged',
    usage: 'berth update [-r FILE] [--memory N] [--cpu-quota N] ... <id>',
    flags: updateFlags,
    async run(ctx) {
      const [id] = positionals(ctx.args, 'update', ['container-id']);
      const resources = resourcesFromFlags(ctx.args, () => readFileSync(0, 'utf8'));
      await (await ctx.runtime()).update(id!, resources);
      return 0;
    },
  },
  {
    name: 'ps',
    summary: 'list the processes of a container (host pids)',
    usage: 'berth ps [--format table|json] <id>',
    flags: [formatFlag('table')],
    async run(ctx) {
      const [id] = positionals(ctx.args, 'ps', ['container-id']);
      const fmt = outputFormat(ctx.args, 'table');
      const pids = await (await ctx.runtime()).ps(id!);
      if (fmt === 'json') ctx.out(JSON.stringify(pids));
      else ctx.out(table(['PID', 'CMD'], pids.map((p) => [String(p), commandLine(p)])));
      return 0;
    },
  },
  {
    name: 'events',
    summary: 'print resource usage (--stats once, else every --interval), OOM and memory-pressure events as JSON lines or table rows',
    usage: 'berth events [--stats] [--interval 5s] [--format json|table] <id> | berth events --follow [--format json|table] [<id>]',
    flags: [
      { name: 'stats', boolean: true, help: 'print the stats once and exit' },
      { name: 'interval', help: 'how often to print stats (default 5s)' },
      { name: 'follow', boolean: true, help: 'tail the log: every event of one container (or all) as it is committed' },
      formatFlag('json'),
    ],
    async run(ctx) {
      const fmt = outputFormat(ctx.args, 'json');
      if (bool(ctx.args, 'follow')) return follow(ctx, fmt);
      const [id] = positionals(ctx.args, 'events', ['container-id']);
      const every = bool(ctx.args, 'stats') ? 0 : parseInterval(str(ctx.args, 'interval') ?? '5s');
      const rt = await ctx.runtime({ serve: false });
      const line = fmt === 'json'
        ? (type: string, data?: unknown) => ctx.out(JSON.stringify({ type, id, ...(data === undefined ? {} : { data }) }))
        : statsTable(ctx);
      if (bool(ctx.args, 'stats')) {
        line('stats', await rt.stats(id!));
        return 0;
      }
      const sub = rt.events$For(id!).subscribe((e) => { if (e.type === 'OomKilled') line('oom'); });
      sub.add(rt.memoryPressure$(id!).subscribe({ next: (level) => line('memory_pressure', { level }), error: () => undefined }));
      try {
        for (;;) {
          const s = await rt.state(id!);
          if (s.status === 'stopped') return 0;
          line('stats', await rt.stats(id!));
          await new Promise((r) => setTimeout(r, every));
        }
      } finally {
        sub.unsubscribe();
      }
    },
  },
  {
    name: 'replay',
    summary: 'rebuild a container\'s state from the log alone, now or at a sequence number or time; --verify compares it with the kernel (exit 1 on differences)',
    usage: 'berth replay [--at SEQ | --at-time ISO] [--format json|table] (<id> | --all) | berth replay --verify [--repair] [--format table|json] [<id>]',
    flags: [
      { name: 'at', help: 'the state after this sequence number' },
      { name: 'at-time', help: 'the state at this time (ISO 8601)' },
      { name: 'all', boolean: true, help: 'every container in the root' },
      { name: 'verify', boolean: true, help: 'compare the replayed state of one container (or all) with what the kernel shows; exit 1 if they differ' },
      { name: 'repair', boolean: true, help: 'with --verify: append what the kernel shows as Observed facts; exit 1 only if differences remain' },
      { ...formatFlag('json'), help: 'table or json (default json; with --verify, table)' },
    ],
    async run(ctx) {
      if (bool(ctx.args, 'verify')) return verify(ctx);
      const fmt = outputFormat(ctx.args, 'json');
      if (bool(ctx.args, 'repair')) throw new RuntimeError('INVALID_ARGUMENT', '--repair needs --verify');
      const all = bool(ctx.args, 'all');
      const ids = all ? positionals(ctx.args, 'replay', []) : positionals(ctx.args, 'replay', ['container-id']);
      const atStr = str(ctx.args, 'at');
      const atTime = str(ctx.args, 'at-time');
      if (atStr !== undefined && !/^\d+$/.test(atStr)) throw new RuntimeError('INVALID_ARGUMENT', `--at ${atStr}: a sequence number`);
      if (atTime !== undefined && Number.isNaN(Date.parse(atTime))) throw new RuntimeError('INVALID_ARGUMENT', `--at-time ${atTime}: an ISO 8601 time`);
      const rt = await ctx.runtime();
      const opts = { ...(atStr !== undefined ? { at: Number(atStr) } : {}), ...(atTime !== undefined ? { atTime: new Date(atTime) } : {}) };
      if (!all) {
        const s = await rt.replay(ids[0]!, opts);
        ctx.out(fmt === 'json' ? json(s) : replayTable(s === null ? [] : [s]));
        return 0;
      }
      const states = [];
      for (const id of await rt.containerIds()) {
        const s = await rt.replay(id, opts);
        if (s !== null && s.state !== 'deleted') states.push(s);
      }
      ctx.out(fmt === 'json' ? json(states) : replayTable(states));
      return 0;
    },
  },
  {
    name: 'gc',
    summary: 'archive and prune the log streams of deleted containers; live ones are never touched',
    usage: 'berth gc [--archive DIR] [--older-than DURATION] [--format table|json]',
    flags: [
      { name: 'archive', help: 'append each stream to DIR/<id>.ndjson (synced) before pruning it' },
      { name: 'older-than', help: 'only containers deleted at least this long ago (90s, 15m, 24h, 7d)' },
      formatFlag('table'),
    ],
    async run(ctx) {
      positionals(ctx.args, 'gc', []);
      const fmt = outputFormat(ctx.args, 'table');
      const archive = str(ctx.args, 'archive');
      const older = str(ctx.args, 'older-than');
      const opts = {
        ...(archive !== undefined ? { archive: resolve(ctx.cwd, archive) } : {}),
        ...(older !== undefined ? { olderThanMs: parseDuration(older) } : {}),
      };
      const res = await (await ctx.runtime()).gc(opts);
      if (fmt === 'json') ctx.out(JSON.stringify(res));
      else ctx.out(table(['ID', 'EVENTS', 'ARCHIVE'], res.pruned.map((p) => [p.id, String(p.pruned), p.archive ?? '-'])));
      return 0;
    },
  },
  {
    name: 'run',
    summary: 'create and start a container, wait for it, delete it; exit with its status',
    usage: 'berth run [--bundle DIR] [--detach] [--keep] [--pid-file FILE] [--console-socket SOCK] <id>',
    flags: [
      bundleFlag, pidFileFlag, consoleSocketFlag, { name: 'preserve-fds', help: 'extra fds to pass (only 0)' },
      { name: 'detach', short: 'd', boolean: true, help: 'return once started' },
      { name: 'keep', boolean: true, help: 'do not delete the container after it exits' },
      ...compatFlags,
    ],
    async run(ctx) {
      const [id] = positionals(ctx.args, 'run', ['container-id']);
      preserveFds(ctx);
      const detach = bool(ctx.args, 'detach');
      const consoleSocket = consoleSocketOf(ctx, `run ${id}`, detach);
      // A foreground run holds the log for the container's lifetime, so it serves the log
      // to other berth processes on the same root.
      const rt = await ctx.runtime({ serve: !detach });
      const pidFile = str(ctx.args, 'pid-file');
      const c = await rt.create(id!, { bundle: bundleOf(ctx), ...(pidFile ? { pidFile: resolve(ctx.cwd, pidFile) } : {}), ...consoleSocket, detached: detach });
      if (detach) {
        await c.start().catch(async (e: unknown) => {
          await c.delete({ force: true }).catch(() => undefined);
          throw e;
        });
        return 0;
      }
      const forward = forwardSignals((sig) => c.kill(sig).catch(() => undefined));
      const relay = c.console ? relayConsole(c, c.console) : null;
      try {
        await c.start();
        const exit = await c.wait();
        await relay?.finish();
        if (!bool(ctx.args, 'keep')) await c.delete({ force: true });
        return exit.signal !== null ? 128 + exit.signal : exit.code ?? 0;
      } catch (e) {
        await relay?.finish();
        await c.delete({ force: true }).catch(() => undefined);
        throw e;
      } finally {
        forward();
      }
    },
  },
  ...checkpointCommands(),
  containerCommand(),
  withSubcommands('pod', 'pods: managed containers sharing a holder\'s network, ipc and uts namespaces: create, start, stop, rm, ls', podCommands),
  {
    name: 'exec',
    summary: 'run another process in a running container; exit with its status (runc exec)',
    usage: 'berth exec [--detach] [--tty] [--console-socket SOCK] [--pid-file F] [--cwd D] [--env K=V]... [--user UID[:GID]] [--additional-gids G]... [--cap C]... [--no-new-privs] (--process FILE <id> | <id> <command> [args...])',
    flags: execFlags,
    stopAtFirstPositional: true,
    async run(ctx) {
      preserveFds(ctx);
      const [id, ...argv] = ctx.args.positionals;
      const processFile = str(ctx.args, 'process');
      if (id === undefined) throw new RuntimeError('INVALID_ARGUMENT', 'exec: expected <container-id>');
      if (processFile !== undefined && argv.length > 0) throw new RuntimeError('INVALID_ARGUMENT', 'exec: give either --process or a command, not both');
      if (processFile === undefined && argv.length === 0) throw new RuntimeError('INVALID_ARGUMENT', 'exec: expected <container-id> <command> [args...] (or --process FILE)');
      const detach = bool(ctx.args, 'detach');
      // A foreground exec holds the root until its process ends: it serves the log meanwhile.
      const rt = await ctx.runtime({ serve: !detach });
      const process = processFile !== undefined
        ? readProcessFile(ctx.cwd, processFile)
        : processFromFlags((await rt.config(id)).process, ctx.args, argv);
      const pidFile = str(ctx.args, 'pid-file');
      // runc's terminal rules (prepareConsole): a detached terminal needs --console-socket, a
      // socket needs --detach and a terminal; in the foreground this process relays the pty.
      const e = await rt.exec(id, process, { ...(pidFile ? { pidFile: resolve(ctx.cwd, pidFile) } : {}), ...consoleSocketOf(ctx, `exec ${id}`, detach), detached: detach });
      if (detach) return 0;
      const forward = forwardSignals((sig) => {
        try {
          e.kill(sig);
        } catch {
          // already exited
        }
      });
      const relay = e.console ? relayConsole(e, e.console) : null;
      try {
        const exit = await e.wait();
        return exit.signal !== null ? 128 + exit.signal : exit.code ?? 0;
      } finally {
        await relay?.finish();
        forward();
      }
    },
  },
  {
    name: 'list',
    summary: 'list the containers of the root',
    usage: 'berth list [--format table|json] [--quiet]',
    flags: [formatFlag('table'), { name: 'quiet', short: 'q', boolean: true, help: 'print only the ids' }],
    async run(ctx) {
      positionals(ctx.args, 'list', []);
      const fmt = outputFormat(ctx.args, 'table');
      const states = await (await ctx.runtime()).list();
      if (bool(ctx.args, 'quiet')) ctx.out(states.map((s) => s.id).join('\n'));
      else if (fmt === 'json') ctx.out(JSON.stringify(states.map(ociState)));
      else ctx.out(table(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner])));
      return 0;
    },
  },
  {
    name: 'history',
    summary: 'print a container\'s events from the log, with sequence numbers and times',
    usage: 'berth history [--format table|json] <id>',
    flags: [formatFlag('table')],
    async run(ctx) {
      const [id] = positionals(ctx.args, 'history', ['container-id']);
      const fmt = outputFormat(ctx.args, 'table');
      const events = await (await ctx.runtime()).history(id!);
      if (fmt === 'json') ctx.out(events.map((e) => JSON.stringify(e)).join('\n'));
      else ctx.out(table(['SEQ', 'TIME', 'EVENT', 'DETAILS'], events.map((e) => [String(e.version), e.at, e.type, eventDetails(e)])));
      return 0;
    },
  },
];

/** replay --verify: one report per container; a table of differences, or JSON. */
async function verify(ctx: CommandContext): Promise<number> {
  const [id] = positionals(ctx.args, 'replay --verify', [], ['container-id']);
  if (str(ctx.args, 'at') !== undefined || str(ctx.args, 'at-time') !== undefined) {
    throw new RuntimeError('INVALID_ARGUMENT', '--verify compares the state now: it takes no --at or --at-time');
  }
  const fmt = outputFormat(ctx.args, 'table');
  const repair = bool(ctx.args, 'repair');
  const reports = await (await ctx.runtime()).verify(id, { repair });
  const left = (r: (typeof reports)[number]) => (repair ? r.remaining : r.differences);
  if (fmt === 'json') ctx.out(JSON.stringify(reports, null, 2));
  else {
    const rows = reports.flatMap((r) => r.busy
      ? [[r.id, r.state, 'busy', 'another process is carrying out an operation', '-']]
      : r.differences.map((d) => [r.id, r.state, d.check, d.expected, d.observed]));
    const repaired = reports.filter((r) => r.repaired).map((r) => `${r.id}: appended Observed ${r.repaired!.status}`);
    ctx.out([rows.length ? table(['ID', 'STATE', 'CHECK', 'EXPECTED', 'OBSERVED'], rows) : `${reports.length} container(s): the log matches the kernel`, ...repaired].join('\n'));
  }
  return reports.some((r) => left(r).length > 0) ? 1 : 0;
}

/**
 * events --follow: JSON lines of committed events until interrupted. The process holds the
 * root for long, so when it owns the log it serves it: other berth commands keep working
 * (and their events show up here).
 */
async function follow(ctx: CommandContext, fmt: OutputFormat): Promise<number> {
  const [id] = positionals(ctx.args, 'events', [], ['container-id']);
  const rt = await ctx.runtime({ serve: true });
  const events$ = id === undefined ? rt.events$ : rt.events$For(id);
  const t = streamTable([['TIME', 24], ['ID', 12], ['SEQ', 3], ['EVENT', 17], ['DETAILS', 0]]);
  if (fmt === 'table') ctx.out(t.header);
  const print = fmt === 'json' ? (e: StoredEvent) => ctx.out(JSON.stringify(e)) : (e: StoredEvent) => ctx.out(t.row([e.at, e.stream, String(e.version), e.type, eventDetails(e)]));
  await new Promise<void>((resolve) => {
    const sub = events$.subscribe({ next: print, complete: resolve, error: () => resolve() });
    const stop = () => {
      sub.unsubscribe();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

function parseInterval(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new RuntimeError('INVALID_ARGUMENT', `--interval ${v}: use e.g. 500ms, 5s, 1m`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'] ?? 1000);
}

/** events (stats) as table rows: one per sample, OOM kill or memory-pressure notice. */
function statsTable(ctx: CommandContext): (type: string, data?: unknown) => void {
  const t = streamTable([['TIME', 24], ['TYPE', 15], ['CPU_NS', 12], ['MEMORY', 10], ['PIDS', 4], ['DETAILS', 0]]);
  let header = false;
  return (type, data) => {
    if (!header) ctx.out(t.header);
    header = true;
    const s = type === 'stats' ? data as Stats : null;
    const details = type === 'memory_pressure' ? `level=${(data as { level: string }).level}` : '';
    ctx.out(t.row([new Date().toISOString(), type, s ? String(s.cpu.usage.total) : '-', s ? String(s.memory.usage.usage) : '-', s ? String(s.pids.current) : '-', details]));
  };
}

/** replay's states as rows: what the log says each container was (at the point asked). */
function replayTable(states: ContainerState[]): string {
  const exit = (s: ContainerState) => (s.exit === null ? '-' : s.exit.signal !== null ? `signal=${signalName(s.exit.signal)}` : `code=${s.exit.code ?? 'unknown'}`);
  return table(['ID', 'STATE', 'STATUS', 'PID', 'SEQ', 'EXIT'], states.map((s) => [s.id, s.state, s.status, String(s.pid), String(s.version), exit(s)]));
}

/** Forward the signals a terminal or supervisor sends us to the container, as runc run does. */
/** Forward the signals a terminal or supervisor sends this process to the container; returns the undo. */
export function forwardSignals(send: (sig: number) => void): () => void {
  const names = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
  const handlers = names.map((n) => {
    const h = () => send(parseSignal(n));
    process.on(n, h);
    return [n, h] as const;
  });
  return () => {
    for (const [n, h] of handlers) process.off(n, h);
  };
}
