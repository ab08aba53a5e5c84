import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type OciConfig } from '../../src/machines/spec.js';

/**
 * Test bundles: a rootfs made from Debian's busybox-static (one static binary and a symlink per
 * applet), built once per machine and shared read-only, plus a config.json per test.
 */
const BUSYBOX = '/bin/busybox';
export const ROOTFS = '/var/tmp/berth-test-rootfs';
/**
 * What the rootfs is made of. Containers on it get their mount points made in it (as under
 * runc), so it gathers others over a run; what is copied out of it (a client's image) takes
 * these only.
 */
export const ROOTFS_DIRS = ['bin', 'dev', 'proc', 'sys', 'tmp', 'etc', 'root', 'var', 'run'];

export function busyboxRootfs(): string {
  if (existsSync(join(ROOTFS, '.complete'))) return ROOTFS;
  if (!existsSync(BUSYBOX)) throw new Error('busybox-static is not installed: run scripts/setup.sh');
  const tmp = `${ROOTFS}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const d of ROOTFS_DIRS) mkdirSync(join(tmp, d), { recursive: true });
  copyFileSync(BUSYBOX, join(tmp, 'bin/busybox'));
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(tmp, 'bin', a));
  writeFileSync(join(tmp, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(tmp, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(tmp, '.complete'), '');
  try {
    renameSync(tmp, ROOTFS);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process finished first
  }
  return ROOTFS;
}

export interface Bundle {
  dir: string;
  config: OciConfig;
  cleanup(): void;
}

/** A bundle running `args` in the busybox rootfs; `edit` changes the default config. */
export function makeBundle(args: string[], edit: (c: OciConfig) => void = () => undefined): Bundle {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bundle-'));
  const config = defaultConfig();
  config.root = { path: busyboxRootfs(), readonly: true };
  config.process.args = args;
  config.hostname = 'berth-test';
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return { dir, config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function tempRoot(): { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'berth-root-'));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
