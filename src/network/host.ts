import { createHash } from 'node:crypto';
import type { PortMapping } from './types.js';

/** A network as the host sees it: the bridge (with the gateway address) and berth's nft table. */
export interface BridgeSpec {
  bridge: string;
  subnet: string;
  gateway: string;
  prefixLength: number;
  /** The nftables table (family ip) that holds this network's NAT rules. */
  table: string;
}

export interface VethSpec {
  hostVeth: string;
  bridge: string;
  /** The container's init: the peer goes into /proc/<pid>/ns/net as eth0. */
  pid: number;
  address: string;
  prefixLength: number;
  gateway: string;
}

/**
 * The seam between the allocation logic (src/network/networks.ts) and the kernel. The real one
 * (linuxHost.ts) drives `ip`, `nsenter` and `nft`; unit tests use FakeNetHost (fake.ts). Every
 * remove is idempotent: detach and reconcile call them on what may already be gone.
 */
export interface NetHost {
  /** The identity of a process's network namespace (`net:[inode]`), undefined when it has none (gone). */
  netns(pid: number | 'self'): Promise<string | undefined>;
  /** /proc/<pid>/stat's start time, undefined when the process is gone. */
  startTime(pid: number): Promise<string | undefined>;
  linkExists(name: string): Promise<boolean>;
  /** The host's IPv4 routes (main table): a bridge subnet must not overlap one of another interface. */
  routes(): Promise<Array<{ dst: string; dev: string }>>;
  /** The bridge with its gateway address, up, and the table with the network's NAT rules; idempotent. */
  setUpNetwork(b: BridgeSpec): Promise<void>;
  /** Removes the table and the bridge. */
  tearDownNetwork(b: Pick<BridgeSpec, 'bridge' | 'table'>): Promise<void>;
  /** A veth pair: the host end on the bridge, the peer as eth0 in the container with its address, lo up, the default route. */
  addVeth(v: VethSpec): Promise<void>;
  deleteLink(name: string): Promise<void>;
  /** DNAT rules for the container's published ports, tagged with the container's name. */
  addPortRules(table: string, container: string, address: string, ports: PortMapping[]): Promise<void>;
  deletePortRules(table: string, container: string): Promise<void>;
  /** Whether nothing on the host listens on the port (a bind probe); throws for a hostIp that is not local. */
  portFree(p: PortMapping): Promise<boolean>;
  /**
   * Waits for the bridge's lock, held across processes (docs/network.md, "The bridge's
   * lifetime"), and resolves with its release. Not reentrant: a holder that asks again waits
   * for itself.
   */
  lock(bridge: string): Promise<() => Promise<void>>;
}

/**
 * The bridge's own MAC address, locally administered and stable per bridge name. A bridge
 * whose address was never set takes the lowest of its ports' addresses, so it changes as
 * containers come and go, and every other container's ARP entry for the gateway goes stale
 * (its traffic is lost until the entry is probed again). An address given at creation is kept.
 */
/**
 * A container's eth0 MAC from its address (02:42 and the four octets, as docker does): a
 * container attached again with the same address (after a restore) keeps its MAC, so the host's
 * and the other containers' neighbour entries for it stay right instead of going stale.
 */
export function containerMac(address: string): string {
  return ['02', '42', ...address.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

export function bridgeMac(bridge: string): string {
  const h = createHash('sha256').update(`berth-bridge\0${bridge}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** The comment that tags a container's rules (nft rules have no other name). */
export function ruleTag(container: string): string {
  return `berth:${container}`;
}

/**
 * The network's tables and base rules, as one `nft -f` transaction. `add` is idempotent; the
 * postrouting chain is flushed and refilled so that running it again changes nothing, while
 * the containers' DNAT rules in prerouting and output stay.
 *
 * - outbound: the subnet's traffic to anywhere else is masqueraded;
 * - published ports reached from the host's loopback: the output chain DNATs 127.0.0.1:port to
 *   the container, the bridge has route_localnet so such a packet may leave by it, and its
 *   127.0.0.0/8 source is masqueraded to the gateway so the container can answer;
 * - hairpin: a container reaching a published port of the host lands on the same bridge; its
 *   source is masqueraded too, or the answer would bypass the DNAT's conntrack entry.
 */
export function networkRuleset(b: BridgeSpec): string {
  const t = `ip ${b.table}`;
  const br = JSON.stringify(b.bridge);
  return [
    `add table ${t}`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting ip saddr ${b.subnet} ip daddr != ${b.subnet} masquerade comment "berth:outbound"`,
    `add rule ${t} postrouting oifname ${br} ip saddr 127.0.0.0/8 ct status dnat masquerade comment "berth:loopback"`,
    `add rule ${t} postrouting oifname ${br} ip saddr ${b.subnet} ct status dnat masquerade comment "berth:hairpin"`,
    '',
  ].join('\n');
}

/**
 * DNAT rules for published ports, in prerouting (from other hosts and containers) and output
 * (from this host's own processes, loopback included). Without a hostIp a rule matches every
 * local address (`fib daddr type local`).
 */
export function portRuleset(table: string, container: string, address: string, ports: PortMapping[]): string {
  const tag = JSON.stringify(ruleTag(container));
  const lines: string[] = [];
  for (const p of ports) {
    const dst = p.hostIp === undefined ? 'fib daddr type local' : `ip daddr ${p.hostIp}`;
    for (const chain of ['prerouting', 'output']) {
      lines.push(`add rule ip ${table} ${chain} ${dst} ${p.protocol} dport ${p.hostPort} dnat to ${address}:${p.containerPort} comment ${tag}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
