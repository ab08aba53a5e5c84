import { isRuntimeError, RuntimeError } from '../errors.js';
import { validateId } from '../ids.js';
import type { Attachment } from '../network/index.js';
import type { StoredEvent } from '../store/eventLog.js';
import type { ContainerManager, ManagedInfo } from './index.js';
import type { ContainerOptions, DnsOption } from './options.js';
import { invalid } from './spec.js';

/**
 * Pods: containers sharing the network, ipc and uts namespaces of a small holder container
 * (`<pod>.pod`), podman's infra container. The pod's own decisions are events in `pod:<name>`.
 */
export interface PodOptions {
  name: string;
  /** The holder's rootfs (any rootfs with the holder command; a member's will do). */
  rootfs: string;
  /** The holder's command: it only has to stay alive (default `sleep 2147483647`). */
  command?: string[];
  /** resolv.conf overrides for the holder and, through it, the pod. */
  dns?: DnsOption;
  /**
   * The pod's network, the holder's (members share it): `none` (default: loopback only),
   * `host`, `bridge` or `bridge:<network>`, as a container's.
   */
  network?: string;
  /** Published ports (`8080:80/tcp`) of the pod, on a bridge: they reach whichever member listens. */
  ports?: string[];
}

export type PodEvent =
  | { type: 'PodCreated'; options: PodOptions; holder: string }
  | { type: 'PodMemberAdded'; container: string }
  | { type: 'PodMemberRemoved'; container: string }
  | { type: 'PodStarted' }
  | { type: 'PodStopped' }
  | { type: 'PodRemoved' };

export const POD_SCHEMAS: Record<PodEvent['type'], number> = {
  PodCreated: 1, PodMemberAdded: 1, PodMemberRemoved: 1, PodStarted: 1, PodStopped: 1, PodRemoved: 1,
};

export interface PodRecord {
  version: number;
  exists: boolean;
  options: PodOptions | null;
  holder: string;
  members: string[];
}

export const podStream = (name: string): string => `pod:${name}`;
export const holderOf = (pod: string): string => `${pod}.pod`;

export function foldPod(events: readonly StoredEvent[]): PodRecord {
  const r: PodRecord = { version: 0, exists: false, options: null, holder: '', members: [] };
  for (const e of events) {
    r.version = e.version;
    if (e.type === 'PodCreated') Object.assign(r, { exists: true, options: e.data.options as PodOptions, holder: e.data.holder as string, members: [] });
    else if (e.type === 'PodMemberAdded') r.members = [...r.members, e.data.container as string];
    else if (e.type === 'PodMemberRemoved') r.members = r.members.filter((m) => m !== e.data.container);
    else if (e.type === 'PodRemoved') Object.assign(r, { exists: false, options: null, holder: '', members: [] });
  }
  return r;
}

export interface PodInfo {
  name: string;
  /** null while a failed start has left the pod without its holder: the next start makes it anew. */
  holder: ManagedInfo | null;
  members: string[];
  /** The pod's bridge attachment (its address and published ports), while it has one. */
  network: Attachment | null;
}

/** The holder's container options: the pod's own, around a command that only stays alive. */
function holderOptions(name: string, opts: PodOptions): ContainerOptions {
  const { dns, network, ports } = opts;
  return {
    name: holderOf(name), rootfs: opts.rootfs, command: opts.command ?? ['sleep', '2147483647'], hostname: name,
    ...(dns ? { dns } : {}), ...(network !== undefined ? { network } : {}), ...(ports ? { ports } : {}),
  };
}

/** `rt.pods`: create, start, stop, remove and list pods; members are created with `containers.create({ pod })`. */
export class PodManager {
  constructor(private readonly containers: ContainerManager) {}

  private async pod(name: string): Promise<PodRecord> {
    validateId(name, 'pod name');
    const r = await this.containers.podRecord(name);
    if (!r.exists) throw new RuntimeError('NOT_EXISTS', `pod ${name} does not exist`);
    return r;
  }

  /** Define the pod and create its holder (status created: its namespaces exist for members to join). */
  async create(opts: PodOptions): Promise<void> {
    if (typeof opts !== 'object' || opts === null) throw invalid('options', 'expected an object');
    const name = validateId(opts.name, 'pod name');
    const r = await this.containers.podRecord(name);
    if (r.exists) throw new RuntimeError('ID_IN_USE', `pod ${name} already exists`);
    if (typeof opts.network === 'string' && opts.network.startsWith('container:')) throw invalid('network', 'a pod has a network of its own: none, host, bridge or bridge:<network>');
    const holder = holderOf(name);
    await this.containers.create(holderOptions(name, opts));
    try {
      await this.containers.appendPod(name, r.version, { type: 'PodCreated', options: opts, holder });
    } catch (e) {
      await this.containers.remove(holder, { force: true });
      throw e;
    }
  }

  /**
   * Start the holder, then every member that is not running. A holder that a failed start
   * removed (its create anew was refused: say its published port was taken meanwhile) is
   * created again from the pod's options.
   */
  async start(name: string): Promise<void> {
    const r = await this.pod(name);
    await this.containers.appendPod(name, r.version, { type: 'PodStarted' });
    const holder = await this.holder(r.holder);
    if (holder === null) await this.containers.create(holderOptions(name, r.options!));
    if (holder?.state?.status !== 'running') await this.containers.start(r.holder);
    for (const m of r.members) if ((await this.containers.inspect(m)).state?.status !== 'running') await this.containers.start(m);
  }

  /** Stop every member (each with its stop signal and timeout), then the holder. */
  async stop(name: string, opts: { timeout?: number } = {}): Promise<void> {
    const r = await this.pod(name);
    await this.containers.appendPod(name, r.version, { type: 'PodStopped' });
    for (const m of r.members) await this.containers.stop(m, opts);
    await this.containers.stop(r.holder, { timeout: 0 });
  }

  /** Remove the pod and its holder; members too with `force` (ILLEGAL_STATE while it has any otherwise). */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const r = await this.pod(name);
    if (r.members.length > 0 && !opts.force) throw new RuntimeError('ILLEGAL_STATE', `pod ${name} has containers (${r.members.join(', ')}): remove them first or force`);
    for (const m of r.members) await this.containers.remove(m, { force: true });
    // A holder whose start failed (say its port was taken meanwhile) was removed then.
    await this.containers.remove(r.holder, { force: true }).catch((e: unknown) => {
      if (!isRuntimeError(e, 'NOT_EXISTS')) throw e;
    });
    const now = await this.pod(name);
    await this.containers.appendPod(name, now.version, { type: 'PodRemoved' });
  }

  async inspect(name: string): Promise<PodInfo> {
    const r = await this.pod(name);
    const holder = await this.holder(r.holder);
    return { name, holder, members: r.members, network: holder === null ? null : (await this.containers.attachmentOf(r.holder)) ?? null };
  }

  /** The holder, or null while a failed start has left the pod without one. */
  private async holder(holder: string): Promise<ManagedInfo | null> {
    return this.containers.inspect(holder).catch((e: unknown) => {
      if (isRuntimeError(e, 'NOT_EXISTS')) return null;
      throw e;
    });
  }

  async list(): Promise<PodInfo[]> {
    const out: PodInfo[] = [];
    for (const name of await this.containers.streamNames('pod:')) {
      if ((await this.containers.podRecord(name)).exists) out.push(await this.inspect(name));
    }
    return out;
  }
}
