import { openSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { RuntimeError, isRuntimeError, type ErrorCode } from '../errors.js';
import { DEFAULT_ROOT, openRuntime, type Runtime } from '../runtime.js';
import { parseArgs, str, bool, type FlagSpec } from './args.js';
import { commands, type Command } from './commands.js';
import { formatVersion, versionInfo } from '../version.js';

/** Stable exit statuses per error code (docs/cli.md); `run` otherwise exits with the container's. */
export const EXIT_STATUS: Record<ErrorCode, number> = {
  INTERNAL: 1,
  SYSCALL: 1,
  INVALID_ARGUMENT: 2,
  INVALID_ID: 2,
  INVALID_CONFIG: 3,
  NOT_EXISTS: 4,
  ID_IN_USE: 5,
  ILLEGAL_STATE: 6,
  CONFLICT: 7,
  STORE_LOCKED: 7,
  STORE_CORRUPT: 8,
  HOOK_FAILED: 1,
  CRIU_FAILED: 1,
  CRIU_UNSUPPORTED: 9,
};

export const globalFlags: FlagSpec[] = [
  { name: 'root', help: `root directory for the log and container state (default ${DEFAULT_ROOT})` },
  { name: 'log', help: 'write the log to this file (default: stderr, warnings only)' },
  { name: 'log-format', help: 'text or json' },
  { name: 'debug', boolean: true, help: 'log debug messages' },
  { name: 'systemd-cgroup', boolean: true, help: 'read cgroupsPath as slice:prefix:name and place the cgroup as systemd would' },
  { name: 'rootless', ignored: true, help: 'accepted for compatibility' },
  { name: 'criu', ignored: true, help: 'accepted for compatibility' },
  { name: 'help', short: 'h', boolean: true, help: 'show help' },
  { name: 'version', short: 'v', boolean: true, help: 'print the version' },
];

function makeLogger(file: string | undefined, fmt: string, debug: boolean): Logger {
  if (fmt !== 'text' && fmt !== 'json') {
    throw new RuntimeError('INVALID_ARGUMENT', `--log-format: ${JSON.stringify(fmt)} is neither text nor json`, { field: 'log-format' });
  }
  const level = debug ? 'debug' : file ? 'info' : 'warn';
  const dest = file === undefined ? 2 : openLogFile(file);
  if (fmt === 'json') return pino({ level, base: null, messageKey: 'msg' }, pino.destination({ dest, sync: true }));
  return pino({
    level, base: null, timestamp: false,
    formatters: { level: (label) => ({ level: label }) },
  }, pino.destination({ dest, sync: true }));
}

/** Opened here, not by pino, so a directory or a missing parent is the caller's error, named. */
function openLogFile(file: string): number {
  try {
    return openSync(file, 'a', 0o640);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new RuntimeError('INVALID_ARGUMENT', `--log ${JSON.stringify(file)}: cannot open for appending (${reason})`, { field: 'log', cause: e });
  }
}

function help(cmd?: Command): string {
  if (cmd) {
    return [`usage: ${cmd.usage}`, '', cmd.summary, '', ...cmd.flags.filter((f) => !f.ignored).map((f) => `  --${f.name}${f.short ? `, -${f.short}` : ''}  ${f.help}`)].join('\n');
  }
  return [
    'usage: berth [global flags] <command> [flags] [args]',
    '',
    'berth runs OCI bundles and records every lifecycle event in a log.',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`),
    '',
    'global flags:',
    ...globalFlags.filter((f) => !f.ignored).map((f) => `  --${f.name}  ${f.help}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let log: Logger | null = null;
  let logFile: string | undefined;
  let rt: Runtime | null = null;
  try {
    const global = parseArgs(argv, globalFlags, true);
    logFile = str(global, 'log');
    log = makeLogger(logFile, str(global, 'log-format') ?? 'text', bool(global, 'debug'));
    const [name, ...rest] = global.positionals;
    if (bool(global, 'version') || name === 'version') {
      process.stdout.write(`${formatVersion(await versionInfo())}\n`);
      return 0;
    }
    if (!name && !bool(global, 'help')) {
      process.stderr.write(`${help()}\n`);
      throw new RuntimeError('INVALID_ARGUMENT', 'a command is required');
    }
    if (!name || bool(global, 'help') || name === 'help') {
      const cmd = commands.find((c) => c.name === rest[0]);
      process.stdout.write(`${help(name === 'help' ? cmd : undefined)}\n`);
      return 0;
    }
    const cmd = commands.find((c) => c.name === name);
    if (!cmd) {
      process.stderr.write(`berth: unknown command ${JSON.stringify(name)}\n${help()}\n`);
      return 2;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      const sub = cmd.subcommands?.find((c) => c.name === rest[0]);
      process.stdout.write(`${help(sub ?? cmd)}${sub || !cmd.subcommands ? '' : `\n\nsubcommands:\n${cmd.subcommands.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join('\n')}`}\n`);
      return 0;
    }
    const args = parseArgs(rest, cmd.flags, cmd.stopAtFirstPositional ?? false);
    const root = str(global, 'root') ?? DEFAULT_ROOT;
    const logger = log;
    return await cmd.run({
      args,
      cwd: process.cwd(),
      out: (text) => process.stdout.write(text.length ? `${text}\n` : ''),
      runtime: async (o = {}) => (rt ??= await openRuntime({ root, serve: o.serve ?? false, logger, systemdCgroup: bool(global, 'systemd-cgroup') })),
    });
  } catch (e) {
    const code: ErrorCode = isRuntimeError(e) ? e.code : 'INTERNAL';
    const message = e instanceof Error ? e.message : String(e);
    // With --log the error also goes to the log file, in its format (podman and containerd
    // read it from there, as they do runc's); stderr always gets one line.
    if (logFile) log?.error({ code, ...(isRuntimeError(e) && e.field ? { field: e.field } : {}) }, message);
    process.stderr.write(`berth: ${message} [${code}]\n`);
    return EXIT_STATUS[code];
  } finally {
    await (rt as Runtime | null)?.close();
  }
}
