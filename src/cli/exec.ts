import { resolve } from 'node:path';
import { RuntimeError } from '../errors.js';
import type { CapabilityName, OciProcess } from '../machines/spec.js';
import { bool, list, readFlagFile, str, type FlagSpec, type Parsed } from './args.js';

/** runc exec's flags (those berth implements), for the command table. */
export const execFlags: FlagSpec[] = [
  { name: 'detach', short: 'd', boolean: true, help: 'return once the process runs (its exit is logged by the next command that sees it gone)' },
  { name: 'pid-file', help: 'write the process\'s host pid to this file' },
  { name: 'cwd', help: 'working directory in the container (default: the container process\'s)' },
  { name: 'env', short: 'e', multiple: true, help: 'add K=V to the environment (repeatable)' },
  { name: 'user', short: 'u', help: 'UID[:GID] to run as (default: the container process\'s)' },
  { name: 'additional-gids', short: 'g', multiple: true, help: 'supplementary group id (repeatable; replaces the container process\'s)' },
  { name: 'cap', short: 'c', multiple: true, help: 'add a capability (e.g. CAP_NET_ADMIN) to the bounding, effective and permitted sets (repeatable)' },
  { name: 'no-new-privs', boolean: true, help: 'set no_new_privs' },
  { name: 'process', short: 'p', help: 'a process.json (config.json\'s process) to run instead of the command and the flags above' },
  { name: 'tty', short: 't', boolean: true, help: 'allocate a pseudo-terminal in the container (in the foreground this process relays it; with --detach it needs --console-socket)' },
  { name: 'console-socket', help: 'unix socket that receives the pty master (with --tty and --detach, as runc)' },
  { name: 'preserve-fds', help: 'extra fds to pass (only 0)' },
];

function invalidFlag(flag: string, reason: string): RuntimeError {
  return new RuntimeError('INVALID_ARGUMENT', `--${flag}: ${reason}`, { field: flag });
}

/** A --process file: JSON, validated later with the field named (INVALID_CONFIG). */
export function readProcessFile(cwd: string, file: string): unknown {
  const path = resolve(cwd, file);
  const text = readFlagFile('process', path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RuntimeError('INVALID_CONFIG', `invalid config: process: ${path} is not JSON: ${(e as Error).message}`, { field: 'process' });
  }
}

function id(flag: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 4294967294) throw invalidFlag(flag, `${JSON.stringify(v)} is not a numeric id`);
  return Number(v);
}

/**
 * The process runc exec builds from its flags: the container's own process with `args`
 * replaced, `terminal` set by `--tty`, `--cwd`, `--user`, `--additional-gids` replacing theirs, `--env` appended,
 * `--no-new-privs` set, and each `--cap` added to the bounding, effective and permitted sets
 * (and to the ambient set only when the inheritable set is given, since an ambient cap needs an
 * inheritable one).
 */
export function processFromFlags(base: OciProcess, p: Parsed, args: string[]): OciProcess {
  const out: OciProcess = structuredClone(base);
  out.args = args;
  out.terminal = bool(p, 'tty');
  const cwd = str(p, 'cwd');
  if (cwd !== undefined) out.cwd = cwd;
  out.env = [...(base.env ?? []), ...list(p, 'env')];
  const user = str(p, 'user');
  if (user !== undefined) {
    const [uid = '', gid, ...rest] = user.split(':');
    if (rest.length > 0) throw invalidFlag('user', `${JSON.stringify(user)}: use UID[:GID]`);
    out.user = { ...out.user, uid: id('user', uid), ...(gid !== undefined ? { gid: id('user', gid) } : {}) };
  }
  const gids = list(p, 'additional-gids');
  if (gids.length > 0) out.user = { ...out.user, additionalGids: gids.map((g) => id('additional-gids', g)) };
  if (bool(p, 'no-new-privs')) out.noNewPrivileges = true;
  const caps = list(p, 'cap') as CapabilityName[];
  if (caps.length > 0) {
    const c = { ...out.capabilities };
    for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...(c[set] ?? []), ...caps];
    if (c.inheritable !== undefined) c.ambient = [...(c.ambient ?? []), ...caps];
    out.capabilities = c;
  }
  return out;
}
