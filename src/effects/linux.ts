/**
 * The real Syscalls: the native addon (native/addon/), loaded once per call of
 * `linuxSyscalls()` through Node's require cache, and delegated to 1:1. This is the only
 * module that imports the addon. Errors thrown by the addon already look like Node's fs errors
 * (`{ code: 'EPERM', errno: 1, syscall, path? }`) and pass through unwrapped.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RuntimeError } from '../errors.js';
import type { SpawnArgs, Spawned, Syscalls, WaitStatus } from './syscalls.js';

/** The exact exports of native/build/Release/berth.node (native/addon/addon.cc). */
interface NativeAddon {
  spawn(a: SpawnArgs): Spawned;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  waitid(pidfd: number): WaitStatus | null;
  setChildSubreaper(on: boolean): void;
  watchFd(fd: number, onReady: () => void): () => void;
  pipe(): [number, number];
  mkfifo(path: string, mode: number): void;
  memfdCreate(name: string): number;
  sealedCopy(path: string): number;
  close(fd: number): void;
}

/** native/build/Release, from src/effects/ (tsx) or dist/effects/ (compiled): both sit two levels below the package root. */
function releaseDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', 'native', 'build', 'Release');
}

function loadAddon(): NativeAddon {
  const file = join(releaseDir(), 'berth.node');
  if (!existsSync(file)) {
    throw new RuntimeError('INTERNAL', 'native addon not built: run npm run build:native', { field: file });
  }
  return createRequire(import.meta.url)(file) as NativeAddon;
}

export function linuxSyscalls(): Syscalls {
  const addon = loadAddon();
  return {
    spawn: (a) => addon.spawn(a),
    pidfdOpen: (pid) => addon.pidfdOpen(pid),
    pidfdSendSignal: (pidfd, signal) => addon.pidfdSendSignal(pidfd, signal),
    waitid: (pidfd) => addon.waitid(pidfd),
    setChildSubreaper: (on) => addon.setChildSubreaper(on),
    watchFd: (fd, onReady) => addon.watchFd(fd, onReady),
    pipe: () => addon.pipe(),
    mkfifo: (path, mode) => addon.mkfifo(path, mode),
    memfdCreate: (name) => addon.memfdCreate(name),
    sealedCopy: (path) => addon.sealedCopy(path),
    close: (fd) => addon.close(fd),
  };
}

/** Absolute path of the init helper executable, native/build/Release/berth-init. */
export function initHelperPath(): string {
  const file = join(releaseDir(), 'berth-init');
  if (!existsSync(file)) {
    throw new RuntimeError('INTERNAL', 'init helper not built: run npm run build:native', { field: file });
  }
  return file;
}
