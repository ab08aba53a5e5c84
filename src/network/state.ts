import { RuntimeError } from '../errors.js';
import type { NewEvent, StoredEvent } from '../store/eventLog.js';
import type { PortMapping } from './types.js';

/**
 * The events of a network's stream `net:<name>` (docs/network.md). Allocation is decided by
 * replaying them: an address is in use from its AddressAllocated to its AddressReleased.
 */
export const NETWORK_SCHEMAS = { NetworkCreated: 1, AddressAllocated: 1, AddressReleased: 1 } as const;

export interface NetworkConfig {
  bridge: string;
  /** CIDR with host bits cleared. */
  subnet: string;
  gateway: string;
}

export interface Allocation {
  container: string;
  address: string;
  /** The host end of the container's veth pair (its peer is eth0 in the container). */
  hostVeth: string;
  /** The init the address was given to, and its start time (/proc/<pid>/stat field 22). */
  pid: number;
  start: string;
  ports: PortMapping[];
}

export type ReleaseReason = 'detached' | 'failed' | 'reconciled' | 'replaced';

export interface NetworkState {
  /** The stream's version this state was folded from (the expected version of the next append). */
  version: number;
  config: NetworkConfig | undefined;
  allocations: Map<string, Allocation>;
}

export function networkStream(name: string): string {
  return `net:${name}`;
}

export function networkCreated(config: NetworkConfig): NewEvent {
  return { type: 'NetworkCreated', schema: 1, data: { ...config } };
}

export function addressAllocated(a: Allocation): NewEvent {
  return { type: 'AddressAllocated', schema: 1, data: { ...a, ports: a.ports.map((p) => ({ ...p })) } };
}

export function addressReleased(a: Pick<Allocation, 'container' | 'address'>, reason: ReleaseReason): NewEvent {
  return { type: 'AddressReleased', schema: 1, data: { container: a.container, address: a.address, reason } };
}

export function emptyNetworkState(): NetworkState {
  return { version: 0, config: undefined, allocations: new Map() };
}

/**
 * Folds a stream's events. An event that breaks the allocation law (an address or container
 * allocated twice, a release of what is not allocated) is STORE_CORRUPT: appends are fenced
 * by the expected version, so a correct writer never produces one.
 */
export function foldNetwork(events: readonly StoredEvent[], from: NetworkState = emptyNetworkState()): NetworkState {
  const s: NetworkState = { version: from.version, config: from.config, allocations: new Map(from.allocations) };
  for (const e of events) {
    const bad = (why: string) => new RuntimeError('STORE_CORRUPT', `${e.stream}@${e.version} ${e.type}: ${why}`);
    const d = e.data;
    if (e.type === 'NetworkCreated') {
      if (s.config !== undefined) throw bad('the network was already created');
      s.config = { bridge: String(d.bridge), subnet: String(d.subnet), gateway: String(d.gateway) };
    } else if (e.type === 'AddressAllocated') {
      const a = d as unknown as Allocation;
      if (s.allocations.has(a.container)) throw bad(`container ${a.container} already has an address`);
      if ([...s.allocations.values()].some((x) => x.address === a.address)) throw bad(`address ${a.address} is already allocated`);
      s.allocations.set(a.container, { container: a.container, address: a.address, hostVeth: a.hostVeth, pid: a.pid, start: a.start, ports: a.ports });
    } else if (e.type === 'AddressReleased') {
      const held = s.allocations.get(String(d.container));
      if (held === undefined || held.address !== d.address) throw bad(`container ${String(d.container)} does not hold ${String(d.address)}`);
      s.allocations.delete(held.container);
    }
    s.version = e.version;
  }
  return s;
}
