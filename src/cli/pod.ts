import { RuntimeError } from '../errors.js';
import { list, positionals, str, type FlagSpec } from './args.js';
import { table } from './format.js';
import type { Command, CommandContext } from './commands.js';

/** `berth pod …`: pods of managed containers (docs/manager.md); members join with `container create --pod`. */

const timeFlag: FlagSpec = { name: 'time', short: 't', help: 'seconds each member gets between its stop signal and SIGKILL' };

function podName(ctx: CommandContext, sub: string): string {
  return positionals(ctx.args, `pod ${sub}`, ['name'])[0]!;
}

export const podCommands: Command[] = [
  {
    name: 'create',
    summary: 'define a pod and create its holder container, whose network, ipc and uts namespaces members join',
    usage: 'berth pod create --rootfs DIR [--dns IP]... <name> [holder command...]',
    flags: [
      { name: 'rootfs', help: 'the holder\'s root filesystem (required)' },
      { name: 'dns', multiple: true, help: 'nameserver for the pod\'s resolv.conf (repeatable)' },
    ],
    stopAtFirstPositional: true,
    async run(ctx) {
      const [name, ...command] = ctx.args.positionals;
      const rootfs = str(ctx.args, 'rootfs');
      if (name === undefined) throw new RuntimeError('INVALID_ARGUMENT', 'pod create: expected <name>');
      if (rootfs === undefined) throw new RuntimeError('INVALID_ARGUMENT', 'pod create: --rootfs is required', { field: 'rootfs' });
      const dns = list(ctx.args, 'dns');
      await (await ctx.runtime()).pods.create({ name, rootfs, ...(command.length > 0 ? { command } : {}), ...(dns.length > 0 ? { dns: { nameservers: dns } } : {}) });
      return 0;
    },
  },
  {
    name: 'start',
    summary: 'start the pod\'s holder and every member not running',
    usage: 'berth pod start <name>',
    flags: [],
    async run(ctx) {
      await (await ctx.runtime()).pods.start(podName(ctx, 'start'));
      return 0;
    },
  },
  {
    name: 'stop',
    summary: 'stop every member, then the holder',
    usage: 'berth pod stop [-t SECONDS] <name>',
    flags: [timeFlag],
    async run(ctx) {
      const t = str(ctx.args, 'time');
      if (t !== undefined && !/^\d+(\.\d+)?$/.test(t)) throw new RuntimeError('INVALID_ARGUMENT', `--time ${t}: expected seconds`, { field: 'time' });
      await (await ctx.runtime()).pods.stop(podName(ctx, 'stop'), t === undefined ? {} : { timeout: Number(t) });
      return 0;
    },
  },
  {
    name: 'rm',
    summary: 'remove the pod and its holder (its members too with --force)',
    usage: 'berth pod rm [--force] <name>',
    flags: [{ name: 'force', short: 'f', boolean: true, help: 'remove the members too, stopping running ones with SIGKILL' }],
    async run(ctx) {
      await (await ctx.runtime()).pods.remove(podName(ctx, 'rm'), { force: ctx.args.flags.get('force') === true });
      return 0;
    },
  },
  {
    name: 'ls',
    summary: 'list pods',
    usage: 'berth pod ls [--format table|json]',
    flags: [{ name: 'format', short: 'f', help: 'table or json' }],
    async run(ctx) {
      positionals(ctx.args, 'pod ls', []);
      const pods = await (await ctx.runtime()).pods.list();
      if (str(ctx.args, 'format') === 'json') ctx.out(JSON.stringify(pods, null, 2));
      else ctx.out(table(['NAME', 'STATUS', 'MEMBERS'], pods.map((p) => [p.name, p.holder.state?.status ?? 'stopped', p.members.join(',')])));
      return 0;
    },
  },
];
