import type { OciResources } from '../machines/spec.js';

/** A bind mount the caller asks for (`-v /host:/ctr:ro`). */
export interface MountOption {
  source: string;
  destination: string;
  readOnly?: boolean;
}

/** Namespaces to share with another managed container, by its name (podman's `--net container:web`). */
export interface ShareOption {
  net?: string;
  ipc?: string;
  pid?: string;
  uts?: string;
}

export interface DnsOption {
  nameservers?: string[];
  search?: string[];
  options?: string[];
}

/** What to run; the manager writes the OCI spec from berth's defaults plus these. */
export interface ContainerOptions {
  /** The container's name: its id in the runtime and the name of its manager stream. */
  name: string;
  /** Absolute path of an existing root filesystem directory. */
  rootfs: string;
  /** argv of the container's process. */
  command: string[];
  /** Extra environment (`{ A: '1' }` or `['A=1']`); overrides the defaults. */
  env?: Record<string, string> | string[];
  /** `name`, `uid`, `name:group` or `uid:gid`, resolved in the rootfs (default root). */
  user?: string;
  /** Extra supplementary groups, names or gids. */
  groups?: string[];
  /** The process's working directory (default /). */
  workdir?: string;
  /** Default: the name (at most 64 characters, the kernel's limit). */
  hostname?: string;
  mounts?: MountOption[];
  /** Size of the container's /dev/shm: bytes, or `64m`, `1g`, `512k` (default 64m). */
  shmSize?: number | string;
  /** Mount the rootfs read-only. */
  readOnly?: boolean;
  /** systemd mode; default: on when the command is systemd or init. */
  systemd?: boolean;
  /** Signal `stop` sends first (default SIGTERM; SIGRTMIN+3 in systemd mode). */
  stopSignal?: string | number;
  /** Seconds `stop` waits before SIGKILL (default 10). */
  stopTimeout?: number;
  resources?: OciResources;
  /** `none` (own network namespace, loopback up; default), `host`, `container:<name>`, `bridge`. */
  network?: string;
  share?: ShareOption;
  /** Published ports (`8080:80/tcp`), bridge networking only. */
  ports?: string[];
  /**
   * The cgroup parent: the container's cgroup is `<parent>/<name>`. Without it the runtime's
   * default holds (`/berth/<name>` on the default root, `/berth/<root's tag>/<name>` on another),
   * so two roots never share a container's cgroup.
   */
  cgroupParent?: string;
  /** resolv.conf overrides. */
  dns?: DnsOption;
  /** Join this pod (src/manager/pods.ts): its network, ipc and uts namespaces. */
  pod?: string;
  /** `no` (default), `always`, `on-failure[:N]`: enforced by a process running `rt.containers.supervise()`. */
  restart?: string;
}

export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
export const DEFAULT_STOP_TIMEOUT = 10;
