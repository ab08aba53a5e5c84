import { RuntimeError } from '../errors.js';
import { parseArgs } from './args.js';
import type { Command } from './commands.js';

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
