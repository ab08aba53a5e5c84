/**
 * What `berth --version` reports, in runc's shape (`runc version 1.1.5`, `commit:`, `spec:`,
 * `go:`, `libseccomp:`) plus what decides which features work on this host: the criu berth
 * would run and the cgroup layout. podman reads only the first line (`berth version X`).
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCgroupLayout } from './effects/cgroupLayout.js';
import { criuBinary, criuPath } from './effects/criu.js';
import { OCI_VERSION_MAX, libseccompVersion } from './features.js';

export interface VersionInfo {
  version: string;
  /** The git commit of a checkout berth runs from; null for an installed package. */
  commit: string | null;
  /** The runtime-spec version berth implements. */
  spec: string;
  node: string;
  /** The libseccomp linked into the init helper, or why it could not be asked. */
  libseccomp: string;
  /** The criu checkpoint and restore would run: `4.1.1 (/path)`, or why there is none. */
  criu: string;
  /** The host's cgroup layout: v1, hybrid (v1 controllers and a cgroup2 mount) or v2. */
  cgroup: string;
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** HEAD of the checkout whose top level is the package itself (not of a project berth is installed in). */
function gitCommit(): string | null {
  try {
    const [top, head] = execFileSync('git', ['-C', packageRoot, 'rev-parse', '--show-toplevel', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim().split('\n');
    return top === packageRoot && head ? head : null;
  } catch {
    return null; // no git, or not a checkout
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** criuBinary's errors start with what was being done: `version: criu /x not found`. */
const CRIU_WHAT = 'version';

export async function versionInfo(): Promise<VersionInfo> {
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
  let libseccomp: string;
  try {
    libseccomp = libseccompVersion();
  } catch (e) {
    libseccomp = `unknown (${firstLine(e)})`;
  }
  const criu = await criuBinary(CRIU_WHAT, criuPath()).then((b) => `${b.version} (${b.path})`, (e: unknown) => `unavailable (${firstLine(e).slice(CRIU_WHAT.length + 2)})`);
  return {
    version: pkg.version, commit: gitCommit(), spec: OCI_VERSION_MAX, node: process.version,
    libseccomp, criu, cgroup: readCgroupLayout().kind,
  };
}

export function formatVersion(v: VersionInfo): string {
  return [
    `berth version ${v.version}`,
    ...(v.commit ? [`commit: ${v.commit}`] : []),
    `spec: ${v.spec}`,
    `node: ${v.node}`,
    `libseccomp: ${v.libseccomp}`,
    `criu: ${v.criu}`,
    `cgroup: ${v.cgroup}`,
  ].join('\n');
}
