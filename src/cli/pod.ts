import { RuntimeError } from '../errors.js';
import { bool, list, str } from './args.js';
import type { Command } from './commands.js';
import { byNameOf, listCommand, timeFlag, timeoutOf } from './subcommands.js';

/** `berth pod …`: pods of managed containers (docs/manager.md); members join with `container create --pod`. */

export const podCommands: Command[] = [
  {
    name: 'create',
    summary: 'define a pod and create its holder container, whose network, ipc and uts namespaces members join',
    usage: 'berth pod create --rootfs DIR [--network MODE] [-p HOSTPORT:PORT]... [--dns IP]... <name> [holder command...]',
    flags: [
      { name: 'rootfs', help: 'the holder\'s root filesystem (required)' },
      { name: 'network', help: 'the pod\'s network: none (loopback only, default), host, bridge or bridge:<network>' },
      { name: 'publish', short: 'p', multiple: true, help: 'publish HOSTPORT:PORT[/tcp|udp] of the pod (bridge network only; repeatable)' },
      { name: 'dns', multiple: true, help: 'nameserver for the pod\'s resolv.conf (repeatable)' },
    ],
    stopAtFirstPositional: true,
    async run(ctx) {
      const [name, ...command] = ctx.args.positionals;
      const rootfs = str(ctx.args, 'rootfs');
      if (name === undefined) throw new RuntimeError('INVALID_ARGUMENT', 'pod create: expected <name>');
      if (rootfs === undefined) throw new RuntimeError('INVALID_ARGUMENT', 'pod create: --rootfs is required', { field: 'rootfs' });
      const dns = list(ctx.args, 'dns');
      const network = str(ctx.args, 'network');
      const ports = list(ctx.args, 'publish');
      await (await ctx.runtime()).pods.create({
        name, rootfs, ...(command.length > 0 ? { command } : {}), ...(dns.length > 0 ? { dns: { nameservers: dns } } : {}),
        ...(network !== undefined ? { network } : {}), ...(ports.length > 0 ? { ports } : {}),
      });
      return 0;
    },
  },
  byNameOf('pod', 'start', 'start the pod\'s holder and every member not running', [], async (ctx, name) => {
    await (await ctx.runtime()).pods.start(name);
  }),
  byNameOf('pod', 'stop', 'stop every member, then the holder', [timeFlag], async (ctx, name) => {
    await (await ctx.runtime()).pods.stop(name, timeoutOf(ctx));
  }),
  byNameOf('pod', 'rm', 'remove the pod and its holder (its members too with --force)', [{ name: 'force', short: 'f', boolean: true, help: 'remove the members too, stopping running ones with SIGKILL' }], async (ctx, name) => {
    await (await ctx.runtime()).pods.remove(name, { force: bool(ctx.args, 'force') });
  }),
  listCommand('pod', 'list pods', (rt) => rt.pods.list(), ['NAME', 'STATUS', 'ADDRESS', 'MEMBERS'], (p) => [p.name, p.holder?.state?.status ?? 'stopped', p.network?.address ?? '-', p.members.join(',')]),
];
