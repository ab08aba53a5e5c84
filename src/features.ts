/**
 * The runtime-spec features document (features.md, features-linux.md): what this build of
 * berth recognizes, whatever the host has. Every list is read from the tables the validator and
 * the planner use, or, where support is decided by validation code rather than a table
 * (namespaces, idmapped mounts, rdma), by asking the validator itself: the document cannot
 * claim what `create` refuses.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { validateResources } from './effects/cgroups/validate.js';
import { MOUNT_OPTIONS } from './effects/initPlan.js';
import { initHelperPath } from './effects/linux.js';
import {
  SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_FLAGS, SECCOMP_OPERATORS, supportedSeccomp,
} from './machines/security.js';
import {
  CAPABILITY_NAMES, HOOK_STAGES, NAMESPACE_TYPES, defaultConfig, validateConfig, type OciConfig,
} from './machines/spec.js';

/** validateConfig takes any 1.x; these are the versions whose fields berth knows. */
export const OCI_VERSION_MIN = '1.0.0';
export const OCI_VERSION_MAX = '1.2.0';

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp: {
      enabled: boolean;
      actions: string[];
      operators: string[];
      archs: string[];
      knownFlags: string[];
      supportedFlags: string[];
    };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
  };
  annotations: Record<string, string>;
  potentiallyUnsafeConfigAnnotations: string[];
}

/** Whether validateConfig accepts the default config with `edit` applied. */
function accepts(edit: (c: OciConfig) => void): boolean {
  const config = defaultConfig();
  edit(config);
  try {
    validateConfig(JSON.parse(JSON.stringify(config)));
    return true;
  } catch {
    return false;
  }
}

const MAPPING = [{ containerID: 0, hostID: 100000, size: 65536 }];

function withUserNamespace(c: OciConfig): void {
  c.linux = { ...c.linux, uidMappings: MAPPING, gidMappings: MAPPING };
  c.linux.namespaces = [...(c.linux.namespaces ?? []).filter((n) => n.type !== 'user'), { type: 'user' }];
}

function namespaceAccepted(type: (typeof NAMESPACE_TYPES)[number]): boolean {
  return accepts((c) => {
    if (type === 'user') return withUserNamespace(c);
    c.linux = { ...c.linux, namespaces: [{ type: 'mount' }, ...(type === 'mount' ? [] : [{ type }])] };
  });
}

/** An idmapped bind mount with the container's own mappings, the form runc supports. */
function idmapAccepted(): boolean {
  return accepts((c) => {
    withUserNamespace(c);
    c.mounts = [...(c.mounts ?? []), { destination: '/mnt', type: 'bind', source: '/tmp', options: ['rbind'] }];
    Object.assign(c.mounts.at(-1)!, { uidMappings: MAPPING, gidMappings: MAPPING });
  });
}

function rdmaAccepted(): boolean {
  try {
    validateResources({ rdma: { mlx5_0: { hcaHandles: 1 } } }, 2);
    return true;
  } catch {
    return false;
  }
}

/** The libseccomp the init helper is linked with (statically, so this is the build's). */
export function libseccompVersion(): string {
  return execFileSync(initHelperPath(), ['--print=libseccomp-version'], { encoding: 'utf8' }).trim();
}

const sorted = (names: Iterable<string>): string[] => [...new Set(names)].sort();

export function features(): Features {
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
  return {
    ociVersionMin: OCI_VERSION_MIN,
    ociVersionMax: OCI_VERSION_MAX,
    hooks: [...HOOK_STAGES],
    mountOptions: sorted(MOUNT_OPTIONS),
    linux: {
      namespaces: sorted(NAMESPACE_TYPES.filter(namespaceAccepted)),
      capabilities: [...CAPABILITY_NAMES],
      // --systemd-cgroup only maps slice:prefix:name paths onto cgroupfs; berth never asks
      // systemd for a unit, so it does not claim systemd cgroup support.
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: rdmaAccepted() },
      seccomp: {
        enabled: true,
        actions: sorted(supportedSeccomp(SECCOMP_ACTIONS)),
        operators: sorted(SECCOMP_OPERATORS),
        archs: sorted(SECCOMP_ARCHES),
        knownFlags: [...SECCOMP_FLAGS],
        // berth installs the filter with seccomp(2) itself (seccompPlan.ts), so a flag depends on
        // the kernel, not on libseccomp: TSYNC, LOG and SPEC_ALLOW predate Linux 5.11, berth's floor.
        supportedFlags: supportedSeccomp(SECCOMP_FLAGS),
      },
      // Support is built in; whether a host has AppArmor or SELinux is checked at create.
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: idmapAccepted() } },
    },
    annotations: {
      'io.github.seccomp.libseccomp.version': libseccompVersion(),
      'berth.version': pkg.version,
    },
    // No annotation in config.json changes what berth does.
    potentiallyUnsafeConfigAnnotations: [],
  };
}
