/**
 * The real Syscalls: the native addon (native/addon/), loaded through Node's require cache. This is the only
 * module that imports the addon. Errors thrown by the addon already look like Node's fs errors
 * (`{ code: 'EPERM', errno: 1, syscall, path? }`) and pass through unwrapped.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RuntimeError } from '../errors.js';
import type { Syscalls } from './syscalls.js';

/**
 * The addon's export table (native/addon/addon.cc) is the Syscalls interface itself, one
 * function per method with the same name and signature; the check below keeps the two in step.
 */
const METHODS = [
  'spawn', 'pidfdOpen', 'pidfdSendSignal', 'waitid', 'setChildSubreaper', 'watchFd', 'pipe', 'mkfifo',
  'memfdCreate', 'sealedCopy', 'close',
  'eventfd', 'bpfProgLoadDevice', 'bpfProgAttach', 'bpfProgDetach', 'bpfProgQueryDevice', 'bpfProgGetFdById',
  'socketpair', 'connectUnix', 'sendFds', 'recvFds', 'setWindowSize',
  'spawnUsernsHolder', 'openTree', 'mountSetattr',
  'nsGetType',
  'mount', 'umount2',
] as const satisfies readonly (keyof Syscalls)[];

/**
 * native/build/Release of the package this module is in: from src/effects/ (tsx), dist/effects/
 * (compiled) or dist/ (the bundled CLI), the nearest directory up with a package.json.
 */
function releaseDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return resolve(dir, 'native', 'build', 'Release');
}

export function linuxSyscalls(): Syscalls {
  const file = join(releaseDir(), 'berth.node');
  if (!existsSync(file)) {
    throw new RuntimeError('INTERNAL', 'native addon not built: run npm run build:native', { field: file });
  }
  const addon = createRequire(import.meta.url)(file) as Record<string, unknown>;
  const missing = METHODS.filter((m) => typeof addon[m] !== 'function');
  if (missing.length > 0) {
    throw new RuntimeError('INTERNAL', `native addon is out of date (missing ${missing.join(', ')}): run npm run build:native`, { field: file });
  }
  return addon as unknown as Syscalls;
}

/** Absolute path of a built helper executable in native/build/Release. */
function helperPath(name: string, what: string): string {
  const file = join(releaseDir(), name);
  if (!existsSync(file)) {
    throw new RuntimeError('INTERNAL', `${what} not built: run npm run build:native`, { field: file });
  }
  return file;
}

/** The init helper, native/build/Release/berth-init. */
export function initHelperPath(): string {
  return helperPath('berth-init', 'init helper');
}

/** The log copier of managed containers, native/build/Release/berth-logs. */
export function logCopierPath(): string {
  return helperPath('berth-logs', 'log copier');
}
