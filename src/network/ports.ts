import { RuntimeError } from '../errors.js';
import { parseIpv4 } from './subnet.js';
import type { PortMapping } from './types.js';

const SPEC = /^(?:(?<ip>[^:]+):)?(?<host>[^:/]+):(?<container>[^:/]+)(?:\/(?<protocol>[^/]+))?$/;

/**
 * Published ports as `podman run -p` writes them: `8080:80`, `8080:80/tcp`,
 * `127.0.0.1:8080:80`, `53:53/udp`. Both ports are required (no random host port).
 */
export function parsePorts(specs: string[]): PortMapping[] {
  const out = specs.map((spec, i) => {
    const m = SPEC.exec(spec);
    const bad = (why: string) => new RuntimeError('INVALID_ARGUMENT', `invalid port spec ${JSON.stringify(spec)}: ${why}`, { field: `ports[${i}]` });
    if (!m?.groups) throw bad('expected [ip:]hostPort:containerPort[/tcp|udp]');
    const { ip, host, container, protocol = 'tcp' } = m.groups as Record<string, string | undefined>;
    if (protocol !== 'tcp' && protocol !== 'udp') throw bad(`protocol ${protocol} is not tcp or udp`);
    const p: PortMapping = { hostPort: portNumber(host!, bad), containerPort: portNumber(container!, bad), protocol };
    if (ip !== undefined) {
      if (parseIpv4(ip) === undefined) throw bad(`${ip} is not an IPv4 address`);
      p.hostIp = ip;
    }
    return p;
  });
  return validatePorts(out);
}

function portNumber(s: string, bad: (why: string) => Error): number {
  const n = Number(s);
  if (!/^\d{1,5}$/.test(s) || n < 1 || n > 65535) throw bad(`port ${s} is not a number from 1 to 65535`);
  return n;
}

/**
 * Checks mappings given as objects (the library's callers), and that no two of them claim the
 * same host port and protocol on overlapping host addresses. Returns plain copies.
 */
export function validatePorts(ports: unknown): PortMapping[] {
  if (!Array.isArray(ports)) throw new RuntimeError('INVALID_ARGUMENT', 'invalid ports: expected an array', { field: 'ports' });
  const out = ports.map((p: Partial<PortMapping> | null, i): PortMapping => {
    const bad = (why: string) => new RuntimeError('INVALID_ARGUMENT', `invalid ports[${i}]: ${why}`, { field: `ports[${i}]` });
    if (typeof p !== 'object' || p === null) throw bad('expected { hostPort, containerPort, protocol }');
    for (const k of ['hostPort', 'containerPort'] as const) {
      const n = p[k];
      if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 65535) throw bad(`${k} ${String(n)} is not a port from 1 to 65535`);
    }
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw bad(`protocol ${String(p.protocol)} is not tcp or udp`);
    if (p.hostIp !== undefined && (typeof p.hostIp !== 'string' || parseIpv4(p.hostIp) === undefined)) throw bad(`hostIp ${String(p.hostIp)} is not an IPv4 address`);
    const copy: PortMapping = { hostPort: p.hostPort!, containerPort: p.containerPort!, protocol: p.protocol };
    if (p.hostIp !== undefined) copy.hostIp = p.hostIp;
    return copy;
  });
  out.forEach((p, i) => {
    const j = out.findIndex((q) => portsOverlap(p, q));
    if (j < i) throw new RuntimeError('INVALID_ARGUMENT', `invalid ports[${i}]: ${describePort(p)} is also ports[${j}]`, { field: `ports[${i}]` });
  });
  return out;
}

/** Two mappings that would catch the same connections on the host. */
export function portsOverlap(a: PortMapping, b: PortMapping): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp);
}

export function describePort(p: PortMapping): string {
  return `${p.hostIp === undefined ? '' : `${p.hostIp}:`}${p.hostPort}/${p.protocol}`;
}
