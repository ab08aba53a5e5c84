/**
 * The files berth provides in a managed container, written in its manager directory and
 * bind-mounted over the rootfs's: the rootfs is never written, and a read-only one works.
 */
import type { DnsOption } from './options.js';

export interface HostsEntry { address: string; names: string[] }

/** /etc/hosts: localhost, then the container's own address and names, then others (pod members). */
export function hostsFile(self: HostsEntry, others: readonly HostsEntry[] = []): string {
  const rows: HostsEntry[] = [
    { address: '127.0.0.1', names: ['localhost'] },
    { address: '::1', names: ['localhost', 'ip6-localhost', 'ip6-loopback'] },
    self,
    ...others,
  ];
  return rows.map((r) => `${r.address}\t${[...new Set(r.names)].join(' ')}\n`).join('');
}

const LOOPBACK = /^(127\.|::1$|0:0:0:0:0:0:0:1$)/;

/**
 * /etc/resolv.conf from the host's: loopback nameservers mean nothing in another network
 * namespace (systemd-resolved's 127.0.0.53 is the host's), so they are dropped there; when
 * none is left, public ones are used, as podman does. `dns` replaces each kind it names.
 */
export function resolvConf(host: string, dns: DnsOption = {}, ownNetns = true): string {
  const lines = host.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';'));
  const values = (kind: string) => lines.filter((l) => l.split(/\s+/)[0] === kind).flatMap((l) => l.split(/\s+/).slice(1));
  let nameservers = dns.nameservers ?? values('nameserver').filter((n) => !ownNetns || !LOOPBACK.test(n));
  if (nameservers.length === 0) nameservers = ['8.8.8.8', '8.8.4.4'];
  const search = dns.search ?? [...values('search'), ...values('domain')];
  const options = dns.options ?? values('options');
  return [
    ...(search.length > 0 ? [`search ${search.join(' ')}`] : []),
    ...nameservers.map((n) => `nameserver ${n}`),
    ...(options.length > 0 ? [`options ${options.join(' ')}`] : []),
  ].join('\n') + '\n';
}
