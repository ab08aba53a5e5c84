import { RuntimeError } from '../errors.js';

/** An IPv4 subnet in CIDR form, as numbers (berth's bridge networks are IPv4 only). */
export interface Subnet {
  /** The network address, host bits zero. */
  base: number;
  prefixLength: number;
  /** `a.b.c.d/n` with the host bits cleared. */
  cidr: string;
}

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** `a.b.c.d` → its 32-bit value, or undefined when it is not a dotted quad. */
export function parseIpv4(s: string): number | undefined {
  const m = QUAD.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255) || m.slice(1).some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * `10.88.0.0/16` → a Subnet. At most /30: a bridge network needs a gateway and at least one
 * container address besides the network and broadcast addresses.
 */
export function parseSubnet(s: string, field = 'subnet'): Subnet {
  const net = parseCidr(s);
  if (net === undefined || !s.includes('/') || net.prefixLength < 1 || net.prefixLength > 30) {
    throw new RuntimeError('INVALID_ARGUMENT', `invalid ${field} ${JSON.stringify(s)}: expected an IPv4 CIDR a.b.c.d/n with n from 1 to 30`, { field });
  }
  return net;
}

/** `a.b.c.d/n` (n from 0 to 32) or a host address `a.b.c.d` (/32), as `ip route` prints them; undefined otherwise. */
export function parseCidr(s: string): Subnet | undefined {
  const [addr, len = '32', ...rest] = s.split('/');
  const base = parseIpv4(addr ?? '');
  const prefixLength = Number(len);
  if (base === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len) || prefixLength > 32) return undefined;
  const masked = (base & mask(prefixLength)) >>> 0;
  return { base: masked, prefixLength, cidr: `${formatIpv4(masked)}/${prefixLength}` };
}

function mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0;
}

/** The first and last usable host addresses (network and broadcast addresses excluded). */
export function hostRange(net: Subnet): { first: number; last: number } {
  const size = 2 ** (32 - net.prefixLength);
  return { first: net.base + 1, last: net.base + size - 2 };
}

export function contains(net: Subnet, address: number): boolean {
  return ((address & mask(net.prefixLength)) >>> 0) === net.base;
}

/** Whether two subnets share an address (one contains the other's network address). */
export function overlaps(a: Subnet, b: Subnet): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The gateway (the bridge's address): the first host address. */
export function gatewayOf(net: Subnet): string {
  return formatIpv4(hostRange(net).first);
}

/**
 * The address to hand out: `preferred` when it is a free host address of the subnet, otherwise
 * the lowest free one. Undefined when every host address is taken (the gateway counts as taken).
 */
export function pickAddress(net: Subnet, taken: ReadonlySet<string>, preferred?: string): string | undefined {
  const { first, last } = hostRange(net);
  const p = preferred === undefined ? undefined : parseIpv4(preferred);
  if (p !== undefined && p >= first && p <= last && !taken.has(formatIpv4(p))) return formatIpv4(p);
  for (let a = first; a <= last; a++) {
    const s = formatIpv4(a);
    if (!taken.has(s)) return s;
  }
  return undefined;
}
