import { resolve } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { RuntimeError } from '../errors.js';
import type { ContainerOptions, LogLine } from '../manager/index.js';
import type { MountOption } from '../manager/options.js';
import { parseDuration } from '../gc.js';
import { bool, list, positionals, str, type FlagSpec } from './args.js';
import { byNameOf, listCommand, seconds, timeFlag, timeoutOf, withSubcommands } from './subcommands.js';
import { resourcesFromFlags, updateFlags } from './resources.js';
import { forwardSignals, type Command, type CommandContext } from './commands.js';

/** `berth container …`: the container manager (docs/manager.md) from the command line. */

const createFlags: FlagSpec[] = [
  { name: 'rootfs', help: 'the root filesystem directory (required)' },
  { name: 'env', short: 'e', multiple: true, help: 'NAME=value in the environment (repeatable)' },
  { name: 'user', short: 'u', help: 'name[:group] or uid[:gid], resolved in the rootfs (default root)' },
  { name: 'group-add', multiple: true, help: 'an extra supplementary group, name or gid (repeatable)' },
  { name: 'workdir', short: 'w', help: 'working directory in the container (default /)' },
  { name: 'hostname', help: 'the container\'s hostname (default: its name)' },
  { name: 'volume', short: 'v', multiple: true, help: 'bind mount HOST:CONTAINER[:ro] (repeatable)' },
  { name: 'shm-size', help: 'size of /dev/shm (default 64m)' },
  { name: 'read-only', boolean: true, help: 'mount the rootfs read-only' },
  { name: 'systemd', help: 'true or false: systemd mode (default: true when the command is systemd or init)' },
  { name: 'stop-signal', help: 'signal stop sends first (default SIGTERM; SIGRTMIN+3 in systemd mode)' },
  { name: 'stop-timeout', help: 'seconds stop waits before SIGKILL (default 10)' },
  { name: 'network', help: 'none (loopback only, default), host, container:<name>, bridge or bridge:<network>' },
  { name: 'share', multiple: true, help: 'KIND=NAME: join the net, ipc, pid or uts namespace of container NAME (repeatable)' },
  { name: 'publish', short: 'p', multiple: true, help: 'publish HOSTPORT:PORT[/tcp|udp] (bridge network only)' },
  { name: 'pod', help: 'join this pod: its network, ipc and uts namespaces (berth pod create)' },
  { name: 'restart', help: 'no, always, on-failure or on-failure:N: enforced by a library process running rt.containers.supervise()' },
  { name: 'cgroup-parent', help: 'cgroup parent of the container\'s cgroup (default: the runtime\'s for the root)' },
  { name: 'dns', multiple: true, help: 'nameserver for resolv.conf (repeatable)' },
  { name: 'dns-search', multiple: true, help: 'search domain for resolv.conf (repeatable)' },
  { name: 'dns-option', multiple: true, help: 'option for resolv.conf (repeatable)' },
  ...updateFlags.filter((f) => f.name !== 'resources' && !f.ignored),
];

const RESOURCE_FLAGS = updateFlags.filter((f) => f.name !== 'resources' && !f.ignored).map((f) => f.name);

function volume(v: string, i: number): MountOption {
  const [source, destination, mode, ...rest] = v.split(':');
  if (!source || !destination || rest.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new RuntimeError('INVALID_ARGUMENT', `--volume ${v}: expected HOST:CONTAINER[:ro|rw]`, { field: `mounts[${i}]` });
  }
  return { source, destination, readOnly: mode === 'ro' };
}

/** The manager's options from `create`/`run` flags and positionals `<name> <command> [args...]`. */
export function optionsFromFlags(ctx: CommandContext, command: string): ContainerOptions {
  const [name, ...argv] = ctx.args.positionals;
  const rootfs = str(ctx.args, 'rootfs');
  if (name === undefined || argv.length === 0) throw new RuntimeError('INVALID_ARGUMENT', `container ${command}: expected <name> <command> [args...]`);
  if (rootfs === undefined) throw new RuntimeError('INVALID_ARGUMENT', `container ${command}: --rootfs is required`, { field: 'rootfs' });
  const o: ContainerOptions = { name, rootfs, command: argv };
  const s = (flag: string) => str(ctx.args, flag);
  const env = list(ctx.args, 'env');
  if (env.length > 0) o.env = env;
  if (s('user') !== undefined) o.user = s('user')!;
  if (list(ctx.args, 'group-add').length > 0) o.groups = list(ctx.args, 'group-add');
  if (s('workdir') !== undefined) o.workdir = s('workdir')!;
  if (s('hostname') !== undefined) o.hostname = s('hostname')!;
  if (list(ctx.args, 'volume').length > 0) o.mounts = list(ctx.args, 'volume').map(volume);
  if (s('shm-size') !== undefined) o.shmSize = s('shm-size')!;
  if (bool(ctx.args, 'read-only')) o.readOnly = true;
  const systemd = s('systemd');
  if (systemd !== undefined) {
    if (systemd !== 'true' && systemd !== 'false') throw new RuntimeError('INVALID_ARGUMENT', `--systemd ${systemd}: expected true or false`, { field: 'systemd' });
    o.systemd = systemd === 'true';
  }
  if (s('stop-signal') !== undefined) o.stopSignal = s('stop-signal')!;
  if (s('stop-timeout') !== undefined) o.stopTimeout = seconds('stop-timeout', s('stop-timeout')!);
  if (s('network') !== undefined) o.network = s('network')!;
  for (const kv of list(ctx.args, 'share')) {
    const [kind, target] = kv.split('=');
    if (!kind || !target) throw new RuntimeError('INVALID_ARGUMENT', `--share ${kv}: expected KIND=NAME`, { field: 'share' });
    o.share = { ...o.share, [kind]: target };
  }
  if (list(ctx.args, 'publish').length > 0) o.ports = list(ctx.args, 'publish');
  if (s('cgroup-parent') !== undefined) o.cgroupParent = s('cgroup-parent')!;
  if (s('restart') !== undefined) o.restart = s('restart')!;
  if (s('pod') !== undefined) o.pod = s('pod')!;
  const dns = { nameservers: list(ctx.args, 'dns'), search: list(ctx.args, 'dns-search'), options: list(ctx.args, 'dns-option') };
  const given = Object.fromEntries(Object.entries(dns).filter(([, v]) => v.length > 0));
  if (Object.keys(given).length > 0) o.dns = given;
  if (RESOURCE_FLAGS.some((f) => s(f) !== undefined)) o.resources = resourcesFromFlags(ctx.args, () => '');
  return o;
}

function printLine(l: LogLine): void {
  (l.stream === 'stderr' ? process.stderr : process.stdout).write(`${l.line}\n`);
}

const byName = (name: string, summary: string, flags: FlagSpec[], call: (ctx: CommandContext, id: string) => Promise<number | void>) => byNameOf('container', name, summary, flags, call);

export const containerCommands: Command[] = [
  {
    name: 'create',
    summary: 'write a container\'s spec from a rootfs and options, and create it (status created)',
    usage: 'berth container create --rootfs DIR [flags] <name> <command> [args...]',
    flags: createFlags,
    stopAtFirstPositional: true,
    async run(ctx) {
      const rt = await ctx.runtime();
      await rt.containers.create(optionsFromFlags(ctx, 'create'));
      return 0;
    },
  },
  {
    name: 'run',
    summary: 'create and start a container; in the foreground, print its output and exit with its status',
    usage: 'berth container run --rootfs DIR [--detach] [--rm] [flags] <name> <command> [args...]',
    flags: [
      ...createFlags,
      { name: 'detach', short: 'd', boolean: true, help: 'return once started' },
      { name: 'rm', boolean: true, help: 'remove the container once it exits (foreground only)' },
    ],
    stopAtFirstPositional: true,
    async run(ctx) {
      const detach = bool(ctx.args, 'detach');
      if (detach && bool(ctx.args, 'rm')) throw new RuntimeError('INVALID_ARGUMENT', 'container run: --rm needs the foreground', { field: 'rm' });
      const rt = await ctx.runtime({ serve: !detach });
      const c = await rt.containers.create(optionsFromFlags(ctx, 'run'));
      try {
        await c.start();
      } catch (e) {
        await c.remove({ force: true }).catch(() => undefined);
        throw e;
      }
      if (detach) return 0;
      // ^C and the like go to the container's init, as with `berth run`.
      const forward = forwardSignals((sig) => void rt.kill(c.name, sig).catch(() => undefined));
      try {
        // The log ends once every process of the container closed its output.
        await lastValueFrom(c.logs$.pipe(tap(printLine)), { defaultValue: null });
      } finally {
        forward();
      }
      await rt.containers.stop(c.name, { timeout: 0 }).catch(() => undefined);
      const exit = (await c.inspect()).state?.exit ?? null;
      if (bool(ctx.args, 'rm')) await c.remove({ force: true });
      return exit?.signal ? 128 + exit.signal : exit?.code ?? 0;
    },
  },
  byName('start', 'start a created or stopped container (a stopped one is created anew)', [], async (ctx, id) => {
    await (await ctx.runtime()).containers.start(id);
  }),
  byName('stop', 'send the stop signal, then SIGKILL after the timeout', [timeFlag], async (ctx, id) => {
    await (await ctx.runtime()).containers.stop(id, timeoutOf(ctx));
  }),
  byName('restart', 'stop, then start anew', [timeFlag], async (ctx, id) => {
    await (await ctx.runtime()).containers.restart(id, timeoutOf(ctx));
  }),
  byName('rm', 'remove a container, its bundle and its log', [{ name: 'force', short: 'f', boolean: true, help: 'stop a running container first (SIGKILL)' }], async (ctx, id) => {
    await (await ctx.runtime()).containers.remove(id, { force: bool(ctx.args, 'force') });
  }),
  byName('inspect', 'print the container\'s options, state and files as JSON', [], async (ctx, id) => {
    ctx.out(JSON.stringify(await (await ctx.runtime()).containers.inspect(id), null, 2));
  }),
  byName('logs', 'print the container\'s output', [
    { name: 'follow', short: 'f', boolean: true, help: 'keep printing until the container\'s output ends' },
    { name: 'since', help: 'only lines since a time (RFC 3339) or a duration ago (10m, 2h)' },
    { name: 'tail', help: 'only the last N lines' },
  ], async (ctx, id) => {
    const rt = await ctx.runtime();
    await rt.containers.inspect(id);
    const since = str(ctx.args, 'since');
    const tail = str(ctx.args, 'tail');
    if (tail !== undefined && !/^\d+$/.test(tail)) throw new RuntimeError('INVALID_ARGUMENT', `--tail ${tail}: expected a number of lines`, { field: 'tail' });
    const opts = {
      follow: bool(ctx.args, 'follow'),
      ...(since === undefined ? {} : { since: sinceOf(since) }),
      ...(tail === undefined ? {} : { tail: Number(tail) }),
    };
    await lastValueFrom(rt.containers.logs$(id, opts).pipe(tap(printLine)), { defaultValue: null });
  }),
  byName('checkpoint', 'dump a running container with criu; --export writes a checkpoint archive (tar)', [
    { name: 'export', help: 'write the archive to this file (restore it on another root with restore --import)' },
    { name: 'leave-running', boolean: true, help: 'keep the container running after the dump' },
  ], async (ctx, id) => {
    const file = str(ctx.args, 'export');
    await (await ctx.runtime()).containers.checkpoint(id, { ...(file === undefined ? {} : { export: resolve(file) }), leaveRunning: bool(ctx.args, 'leave-running') });
  }),
  {
    name: 'restore',
    summary: 'restore a checkpointed container in place, or with --import one from a checkpoint archive',
    usage: 'berth container restore [--import FILE] [--name NAME] [NAME]',
    flags: [
      { name: 'import', help: 'the checkpoint archive (container checkpoint --export)' },
      { name: 'name', help: 'the imported container\'s name (default: its name in the archive)' },
    ],
    async run(ctx) {
      const file = str(ctx.args, 'import');
      const [name] = positionals(ctx.args, 'container restore', file === undefined ? ['name'] : []);
      const rt = await ctx.runtime();
      if (file === undefined) await rt.containers.restore(name!);
      else await rt.containers.restore({ import: resolve(file), ...(str(ctx.args, 'name') === undefined ? {} : { name: str(ctx.args, 'name')! }) });
      return 0;
    },
  },
  listCommand('container', 'list managed containers', (rt) => rt.containers.list(), ['NAME', 'STATUS', 'PID', 'CREATED', 'COMMAND'],
    (i) => [i.name, i.state?.status ?? 'stopped', String(i.state?.pid ?? 0), i.created, i.options.command.join(' ')]),
  {
    name: 'supervise',
    summary: 'enforce restart policies until SIGINT or SIGTERM (a long-running process; serves the root\'s log)',
    usage: 'berth container supervise [--interval MS]',
    flags: [{ name: 'interval', help: 'how often containers other processes created are checked for an exit, in ms (default 1000)' }],
    async run(ctx) {
      positionals(ctx.args, 'container supervise', []);
      const ms = str(ctx.args, 'interval');
      if (ms !== undefined && !/^[1-9]\d*$/.test(ms)) throw new RuntimeError('INVALID_ARGUMENT', `--interval ${ms}: expected milliseconds`, { field: 'interval' });
      const rt = await ctx.runtime({ serve: true });
      const sub = rt.containers.supervise(ms === undefined ? {} : { pollMs: Number(ms) });
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      });
      sub.unsubscribe();
      return 0;
    },
  },
  {
    name: 'exec',
    summary: 'run another process in a running container as its user; exit with its status',
    usage: 'berth container exec [--env K=V]... [--workdir D] [--user U] <name> <command> [args...]',
    flags: [
      { name: 'env', short: 'e', multiple: true, help: 'NAME=value added to the container\'s environment' },
      { name: 'workdir', short: 'w', help: 'working directory (default: the container\'s)' },
      { name: 'user', short: 'u', help: 'name[:group] or uid[:gid] (default: the container\'s user)' },
    ],
    stopAtFirstPositional: true,
    async run(ctx) {
      const [name, ...argv] = ctx.args.positionals;
      if (name === undefined || argv.length === 0) throw new RuntimeError('INVALID_ARGUMENT', 'container exec: expected <name> <command> [args...]');
      const rt = await ctx.runtime();
      const s = (f: string) => str(ctx.args, f);
      const e = await rt.containers.exec(name, argv, {
        stdio: 'inherit', env: list(ctx.args, 'env'),
        ...(s('workdir') === undefined ? {} : { workdir: s('workdir')! }),
        ...(s('user') === undefined ? {} : { user: s('user')! }),
      });
      const exit = await e.wait();
      return exit.signal !== null ? 128 + exit.signal : exit.code ?? 0;
    },
  },
];

function sinceOf(v: string): Date {
  const t = Date.parse(v);
  if (!Number.isNaN(t)) return new Date(t);
  try {
    return new Date(Date.now() - parseDuration(v));
  } catch {
    throw new RuntimeError('INVALID_ARGUMENT', `--since ${v}: expected an RFC 3339 time or a duration (10m, 2h)`, { field: 'since' });
  }
}

/** The `container` command of the table: its subcommands parse their own flags. */
export function containerCommand(): Command {
  return withSubcommands('container', 'containers from a rootfs and options: create, run, start, stop, restart, rm, ls, inspect, logs, exec, checkpoint, restore, supervise', containerCommands);
}
