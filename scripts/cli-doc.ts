/** Writes docs/cli.md from the command table: `npm run docs:cli`. */
import { commands, type Command } from '../src/cli/commands.js';
import { globalFlags, EXIT_STATUS } from '../src/cli/main.js';
const out: string[] = ['# CLI reference', '', 'berth is flag-compatible with runc for the commands below. Flags take `--name value`,', '`--name=value`, `-n value`, or the single-dash long form; boolean flags take no value.', '', '## Global flags', '', '| flag | meaning |', '| --- | --- |'];
for (const f of globalFlags) out.push(`| \`--${f.name}\`${f.short ? `, \`-${f.short}\`` : ''} | ${f.help} |`);
out.push(
  '', '## Output formats', '',
  'Every report command (`list`, `ps`, `history`, `events`, `replay`, `replay --verify`, `gc`,',
  '`features`) takes `--format table|json` (`-f`): `table` is human columns, `json` one JSON',
  'document, or for the log\'s events (`history`, `events`) one JSON object per line, the shape',
  '`events --follow` streams and `gc --archive` writes. The default is `table` where runc has one',
  '(`list`, `ps`) and for the other listings, `json` where clients parse the output (`features`,',
  '`replay`, `events`). Any other value is `INVALID_ARGUMENT` naming `--format`, refused before',
  'the root is opened. `ps --format json` is runc\'s: an array of host pids. `state` prints the',
  'OCI state as JSON only, as runc does.',
  '', '`berth --version` prints runc\'s lines, `berth version X` first (podman parses it), then',
  '`commit:` (a checkout\'s HEAD; absent for an installed package), `spec:`, `node:`,',
  '`libseccomp:` (linked into the init helper), `criu:` (the one checkpoint would run, or why',
  'there is none) and `cgroup:` (the host\'s layout: v1, hybrid or v2).',
);
out.push('', '## Commands', '');
const describe = (c: Command, title: string) => {
  out.push(`### ${title}`, '', c.summary, '', '```', c.usage, '```', '');
  if (c.flags.length) {
    out.push('| flag | meaning |', '| --- | --- |');
    for (const f of c.flags) out.push(`| \`--${f.name}\`${f.short ? `, \`-${f.short}\`` : ''} | ${f.help} |`);
    out.push('');
  }
  for (const sub of c.subcommands ?? []) describe(sub, `${title} ${sub.name}`);
};
for (const c of commands) describe(c, c.name);
out.push('## Exit statuses', '', 'An error prints one line on stderr, `berth: <message> [<CODE>]` (and, with `--log`, a log', 'entry in the chosen format). `run` otherwise exits with the container\'s status, and a', 'foreground `exec` with its process\'s: the exit code, or 128+n when signal n killed it — so a', 'process\'s own exit code can coincide with one of these, as with runc.', '', '| code | status |', '| --- | --- |');
for (const [k, v] of Object.entries(EXIT_STATUS)) out.push(`| ${k} | ${v} |`);
out.push('', 'Help: `berth --help`, `berth <command> --help`; version: `berth --version`.', '');
console.log(out.join('\n'));
