import { RuntimeError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { parseArgs, positionals, str, type FlagSpec } from './args.js';
import type { Command, CommandContext } from './commands.js';
import { table } from './format.js';

/** Helpers of the `container` and `pod` command groups. */

export function seconds(flag: string, v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new RuntimeError('INVALID_ARGUMENT', `--${flag} ${v}: expected seconds`, { field: flag });
  return Number(v);
}

export const timeFlag: FlagSpec = { name: 'time', short: 't', help: 'seconds to wait for the stop signal before SIGKILL (default: each container\'s stop timeout)' };
export const timeoutOf = (ctx: CommandContext): { timeout?: number } => (str(ctx.args, 'time') === undefined ? {} : { timeout: seconds('time', str(ctx.args, 'time')!) });

/** A subcommand of `group` over one name. */
export function byNameOf(group: string, name: string, summary: string, flags: FlagSpec[], call: (ctx: CommandContext, id: string) => Promise<number | void>): Command {
  return {
    name,
    summary,
    usage: `berth ${group} ${name}${flags.length > 0 ? ' [flags]' : ''} <name>`,
    flags,
    async run(ctx) {
      const [id] = positionals(ctx.args, `${group} ${name}`, ['name']);
      return (await call(ctx, id!)) ?? 0;
    },
  };
}

/** `<group> ls [--format table|json]`. */
export function listCommand<T>(group: string, summary: string, load: (rt: Runtime) => Promise<T[]>, headers: string[], row: (item: T) => string[]): Command {
  return {
    name: 'ls',
    summary,
    usage: `berth ${group} ls [--format table|json]`,
    flags: [{ name: 'format', short: 'f', help: 'table or json' }],
    async run(ctx) {
      positionals(ctx.args, `${group} ls`, []);
      const items = await load(await ctx.runtime());
      ctx.out(str(ctx.args, 'format') === 'json' ? JSON.stringify(items, null, 2) : table(headers, items.map(row)));
      return 0;
    },
  };
}

/** A command whose first positional picks one of `subs`, which parses its own flags. */
export function withSubcommands(name: string, summary: string, subs: Command[]): Command {
  return {
    name,
    summary,
    usage: `berth ${name} <${subs.map((c) => c.name).join('|')}> [flags] [args]`,
    flags: [],
    stopAtFirstPositional: true,
    subcommands: subs,
    async run(ctx) {
      const [first, ...rest] = ctx.args.positionals;
      const sub = subs.find((c) => c.name === first);
      if (!sub) throw new RuntimeError('INVALID_ARGUMENT', `${name}: unknown subcommand ${JSON.stringify(first ?? '')} (${subs.map((c) => c.name).join(', ')})`);
      return sub.run({ ...ctx, args: parseArgs(rest, sub.flags, sub.stopAtFirstPositional ?? false) });
    },
  };
}
