import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { isRuntimeError, RuntimeError } from '../errors.js';
import { validateId } from '../ids.js';
import type { EventLog, NewEvent } from '../store/eventLog.js';
import { Mutex } from '../store/mutex.js';
import type { BridgeSpec, NetHost } from './host.js';
import { linuxNetHost } from './linuxHost.js';
import { describePort, portsOverlap, validatePorts } from './ports.js';
import {
  addressAllocated, addressReleased, foldNetwork, networkCreated, networkStream, type Allocation, type NetworkConfig, type NetworkState,
  type ReleaseReason,
} from './state.js';
import { contains, gatewayOf, overlaps, parseCidr, parseIpv4, parseSubnet, pickAddress, type Subnet } from './subnet.js';
import type { Attachment, AttachRequest, Networks, PortMapping } from './types.js';

/** A bridge network this process may create: its name (the log stream `net:<name>`), bridge and subnet. */
export interface NetworkDefinition {
  name: string;
  /** The bridge interface (at most 15 characters); default: the name. */
  bridge?: string;
  subnet: string;
}

export interface NetworksOptions {
  log: EventLog;
  logger?: Logger;
  /** The networks attach may create; default one, `berth0` on 10.89.0.0/16. Networks already in the log are usable too. */
  networks?: NetworkDefinition[];
  /** The network of an attach that names none; default: the first of `networks`. */
  defaultNetwork?: string;
  /** The kernel seam; default: the real host (ip, nsenter, nft, flock). */
  host?: NetHost;
  /**
   * Where the real host keeps the bridges' lock files (default `/run/berth/networks`, the
   * default root's); the runtime passes `<root>/networks`.
   */
  stateDir?: string;
}

/** Not podman's 10.88.0.0/16: a host with both would have two bridges claiming one subnet. */
export const DEFAULT_NETWORK: NetworkDefinition = { name: 'berth0', subnet: '10.89.0.0/16' };
const DEFAULT_STATE_DIR = '/run/berth/networks';
const STREAM_PREFIX = 'net:';
/** Appends lost to another writer are decided again; more losses than this in a row is a livelock. */
const MAX_RACES = 32;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function tableOf(bridge: string): string {
  return `berth-${bridge}`;
}

/** The host end of a container's veth: a stable name per (network, container) within IFNAMSIZ. */
export function hostVethName(network: string, container: string): string {
  return `bv${createHash('sha256').update(`${network}\0${container}`).digest('hex').slice(0, 11)}`;
}

function checkDefinition(d: NetworkDefinition, i: number): NetworkConfig & { name: string } {
  validateId(d?.name, 'network name');
  const bridge = d.bridge ?? d.name;
  if (!IFNAME.test(bridge) || bridge === '.' || bridge === '..') {
    throw new RuntimeError('INVALID_ARGUMENT', `invalid networks[${i}].bridge ${JSON.stringify(bridge)}: an interface name of at most 15 letters, digits and _ . -`, { field: `networks[${i}].bridge` });
  }
  const subnet = parseSubnet(d.subnet, `networks[${i}].subnet`);
  return { name: d.name, bridge, subnet: subnet.cidr, gateway: gatewayOf(subnet) };
}

const invalid = (field: string, message: string) => new RuntimeError('INVALID_ARGUMENT', message, { field });

/**
 * Bridge networks whose address allocations are event-sourced (docs/network.md). One mutex
 * serializes this process's operations; between processes every allocation and release is an
 * append at the version the decision was made from, so a lost race (CONFLICT) is decided again
 * from the new state and no address is ever handed out twice.
 */
export function openNetworks(opts: NetworksOptions): Networks {
  const defs = new Map((opts.networks ?? [DEFAULT_NETWORK]).map((d, i) => {
    const c = checkDefinition(d, i);
    return [c.name, c] as const;
  }));
  const defaultNetwork = opts.defaultNetwork ?? [...defs.keys()][0] ?? DEFAULT_NETWORK.name;
  const { log, logger } = opts;
  const host = opts.host ?? linuxNetHost(opts.stateDir ?? DEFAULT_STATE_DIR);
  const mutex = new Mutex();
  let ready: Promise<void> | undefined;

  const state = async (name: string): Promise<NetworkState> => foldNetwork(await log.read(networkStream(name)));
  const names = async (): Promise<string[]> => {
    const logged = (await log.streams()).filter((s) => s.startsWith(STREAM_PREFIX)).map((s) => s.slice(STREAM_PREFIX.length));
    return [...new Set([...defs.keys(), ...logged])];
  };
  const bridgeSpec = (c: NetworkConfig): BridgeSpec => ({ ...c, prefixLength: parseSubnet(c.subnet).prefixLength, table: tableOf(c.bridge) });
  const alive = async (a: Allocation) => (await host.startTime(a.pid)) === a.start;

  /** Decides events from the stream's current state and appends them at its version; on CONFLICT decides again. */
  async function decide(name: string, choose: (s: NetworkState) => NewEvent[] | Promise<NewEvent[]>): Promise<NetworkState> {
    for (let race = 0; ; race++) {
      const s = await state(name);
      const events = await choose(s);
      if (events.length === 0) return s;
      try {
        const r = await log.append(networkStream(name), events, { expectedVersion: s.version === 0 ? 'no_stream' : s.version, sync: true });
        return foldNetwork(r.events, s);
      } catch (e) {
        if (!isRuntimeError(e, 'CONFLICT') || race >= MAX_RACES) throw e;
      }
    }
  }

  /** The network's config from its log, creating it (NetworkCreated) from this process's definition when the log has none. */
  async function config(name: string): Promise<NetworkConfig> {
    const def = defs.get(name);
    const s = await decide(name, (s) => {
      if (s.config !== undefined) return [];
      if (def === undefined) throw new RuntimeError('NOT_EXISTS', `network ${name} does not exist`, { field: 'network' });
      return [networkCreated({ bridge: def.bridge, subnet: def.subnet, gateway: def.gateway })];
    });
    const c = s.config!;
    if (def !== undefined && (def.bridge !== c.bridge || def.subnet !== c.subnet)) {
      throw invalid('networks', `network ${name} exists with bridge ${c.bridge} and subnet ${c.subnet}, not ${def.bridge} ${def.subnet}`);
    }
    return c;
  }

  /**
   * Host changes that need the bridge, and its removal, happen under the bridge's lock, held
   * across processes: an attach in another process between "the log says the network is empty"
   * and "remove the bridge" would otherwise put its veth on a bridge being deleted.
   */
  async function locked<T>(c: NetworkConfig, fn: () => Promise<T>): Promise<T> {
    const unlock = await host.lock(c.bridge);
    try {
      return await fn();
    } finally {
      await unlock();
    }
  }

  /**
   * Removes what the host has of an allocation, then logs its release; the last one takes the
   * bridge and table along. Whether it was the last is read again under the lock: an attach
   * appends its allocation before it takes the lock to set up the bridge. A release that leaves
   * others needs no lock: the last of those will see the network empty itself.
   */
  async function release(name: string, c: NetworkConfig, a: Allocation, reason: ReleaseReason): Promise<void> {
    const b = bridgeSpec(c);
    await host.deletePortRules(b.table, a.container);
    await host.deleteLink(a.hostVeth);
    const after = await decide(name, (s) => (s.allocations.get(a.container)?.address === a.address ? [addressReleased(a, reason)] : []));
    if (after.allocations.size > 0) return;
    await locked(c, async () => {
      if ((await state(name)).allocations.size === 0) await host.tearDownNetwork(b);
    });
  }

  async function findAllocation(container: string): Promise<{ name: string; config: NetworkConfig; allocation: Allocation } | undefined> {
    for (const name of await names()) {
      const s = await state(name);
      const a = s.allocations.get(container);
      if (a !== undefined && s.config !== undefined) return { name, config: s.config, allocation: a };
    }
    return undefined;
  }

  async function checkPorts(ports: PortMapping[], except: string): Promise<void> {
    const published: Allocation[] = [];
    for (const name of await names()) published.push(...(await state(name)).allocations.values());
    for (const [i, p] of ports.entries()) {
      const holder = published.find((a) => a.container !== except && a.ports.some((q) => portsOverlap(p, q)));
      if (holder) throw invalid(`ports[${i}]`, `port ${describePort(p)} is already published by container ${holder.container}`);
      const free = await host.portFree(p).catch((e: unknown) => {
        throw isRuntimeError(e, 'INVALID_ARGUMENT') ? invalid(`ports[${i}]`, e.message) : e;
      });
      if (!free) throw invalid(`ports[${i}]`, `port ${describePort(p)} is in use on the host`);
    }
  }

  /** A subnet that overlaps another interface's route would steal (or lose) that traffic. */
  async function checkRoutes(name: string, c: NetworkConfig, subnet: Subnet): Promise<void> {
    for (const r of await host.routes()) {
      if (r.dev === c.bridge || r.dst === 'default') continue;
      const dst = parseCidr(r.dst);
      if (dst !== undefined && overlaps(dst, subnet)) throw invalid('subnet', `network ${name}: subnet ${c.subnet} overlaps the route to ${r.dst} on ${r.dev}`);
    }
  }

  async function checkPid(pid: unknown): Promise<{ pid: number; start: string }> {
    if (!Number.isInteger(pid) || (pid as number) < 1) throw invalid('pid', `invalid pid ${String(pid)}: expected a process id`);
    const ns = await host.netns(pid as number);
    const start = await host.startTime(pid as number);
    if (ns === undefined || start === undefined) throw invalid('pid', `pid ${String(pid)} has no network namespace: no such process`);
    if (ns === (await host.netns('self'))) throw invalid('pid', `pid ${String(pid)} is in the host's network namespace: a bridge network needs the container's own`);
    return { pid: pid as number, start };
  }

  async function attach(req: AttachRequest): Promise<Attachment> {
    const container = validateId(req?.container);
    const ports = validatePorts(req.ports ?? []);
    const name = validateId(req.network ?? defaultNetwork, 'network name');
    if (req.address !== undefined && parseIpv4(req.address) === undefined) throw invalid('address', `invalid address ${JSON.stringify(req.address)}: not an IPv4 address`);
    const proc = await checkPid(req.pid);
    const c = await config(name);
    const subnet = parseSubnet(c.subnet);
    if (req.address !== undefined && !contains(subnet, parseIpv4(req.address)!)) throw invalid('address', `address ${req.address} is not in network ${name}'s subnet ${c.subnet}`);
    // Routes are checked when the bridge is to be made: once it is up, its own route is the subnet's.
    if ((await state(name)).allocations.size === 0) await checkRoutes(name, c, subnet);

    let preferred = req.address;
    const held = await findAllocation(container);
    if (held !== undefined) {
      if (await alive(held.allocation)) throw invalid('container', `container ${container} is already attached to network ${held.name}`);
      // A restored (or recreated) container: its old init is gone; its address is its first choice.
      await release(held.name, held.config, held.allocation, 'replaced');
      if (held.name === name) preferred ??= held.allocation.address;
    }
    await checkPorts(ports, container);

    const allocation: Allocation = { container, address: '', hostVeth: hostVethName(name, container), ...proc, ports };
    await decide(name, (s) => {
      if (s.allocations.has(container)) throw invalid('container', `container ${container} is already attached to network ${name}`);
      const mine = [...s.allocations.values()];
      for (const [i, p] of ports.entries()) {
        const holder = mine.find((a) => a.ports.some((q) => portsOverlap(p, q)));
        if (holder) throw invalid(`ports[${i}]`, `port ${describePort(p)} is already published by container ${holder.container}`);
      }
      const address = pickAddress(subnet, new Set([c.gateway, ...mine.map((a) => a.address)]), preferred);
      if (address === undefined) throw invalid('network', `network ${name}: no free address left in ${c.subnet}`);
      allocation.address = address;
      return [addressAllocated(allocation)];
    });

    const b = bridgeSpec(c);
    try {
      await locked(c, async () => {
        await host.setUpNetwork(b);
        await host.addVeth({ hostVeth: allocation.hostVeth, bridge: c.bridge, pid: proc.pid, address: allocation.address, prefixLength: b.prefixLength, gateway: c.gateway });
        await host.addPortRules(b.table, container, allocation.address, ports);
      });
    } catch (e) {
      // The lock is given back by now: release takes it again for the bridge's last-one check.
      await release(name, c, allocation, 'failed').catch((undo) => logger?.error({ err: undo, container, network: name }, 'network: undoing a failed attach failed'));
      throw e;
    }
    return toAttachment(name, c, allocation);
  }

  async function detach(container: string): Promise<void> {
    const held = await findAllocation(validateId(container));
    if (held !== undefined) await release(held.name, held.config, held.allocation, 'detached');
  }

  async function reconcile(): Promise<void> {
    for (const name of await names()) {
      const s = await state(name);
      if (s.config === undefined) continue;
      for (const a of s.allocations.values()) {
        if (await alive(a)) continue;
        // The init is gone; a veth still there means its netns is held by something else.
        if (await host.linkExists(a.hostVeth)) {
          logger?.warn({ container: a.container, network: name, veth: a.hostVeth }, 'network: init gone but veth remains; address kept');
          continue;
        }
        await release(name, s.config, a, 'reconciled');
      }
    }
  }

  async function attachments(network?: string): Promise<Attachment[]> {
    const out: Attachment[] = [];
    for (const name of network === undefined ? await names() : [network]) {
      const s = await state(name);
      if (s.config !== undefined) for (const a of s.allocations.values()) out.push(toAttachment(name, s.config, a));
    }
    return out;
  }

  const once = <A extends unknown[], T>(fn: (...a: A) => Promise<T>) => (...a: A): Promise<T> =>
    mutex.run(async () => {
      ready ??= reconcile().catch((e) => {
        ready = undefined;
        throw e;
      });
      await ready;
      return fn(...a);
    });

  return {
    attach: once(attach),
    detach: once(detach),
    attachments: once(attachments),
    reconcile: () => mutex.run(reconcile),
  };
}

function toAttachment(network: string, c: NetworkConfig, a: Allocation): Attachment {
  return {
    container: a.container, network, address: a.address, prefixLength: parseSubnet(c.subnet).prefixLength, gateway: c.gateway,
    ports: a.ports.map((p) => ({ ...p })),
  };
}
