import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { EventLog } from '../../src/store/eventLog.js';

/**
 * A test network of its own: a bridge name and a subnet no other test process uses (derived
 * from the pid), so tests never touch a real network.
 */
export function testNetwork(tag: string, index = 0, prefixLength = 28) {
  const n = process.pid;
  return { name: `${tag}${n}`, bridge: `bt${tag}${n}`.slice(0, 15), subnet: `10.213.${n % 250}.${index * 16}/${prefixLength}` };
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function nftTable(table: string): Array<{ chain: string; comment?: string; expr: unknown[] }> | undefined {
  try {
    const out = execFileSync('nft', ['-j', 'list', 'table', 'ip', table], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return (JSON.parse(out) as { nftables: Array<{ rule?: { chain: string; comment?: string; expr: unknown[] } }> }).nftables.flatMap((i) => (i.rule ? [i.rule] : []));
  } catch {
    return undefined;
  }
}

/** A tcp port nothing on the host listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Something in the network namespace of `pid` listens on tcp `port` (a LISTEN row, state 0A, in
 * its /proc/<pid>/net/tcp or tcp6): a server a test just started is ready to be connected to.
 */
export function listening(pid: number, port: number): boolean {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  // busybox nc listens on the IPv6 wildcard when it can (tcp6), on IPv4 otherwise (tcp)
  return ['tcp', 'tcp6'].some((file) => {
    try {
      return readFileSync(`/proc/${pid}/net/${file}`, 'utf8').split('\n').some((row) => {
        const [, addr, , state] = row.trim().split(/\s+/);
        return addr?.endsWith(local) === true && state === '0A';
      });
    } catch {
      return false;
    }
  });
}

/** Waits until `done()` holds (the kernel tears a dead netns down asynchronously, and its veth with it). */
export async function until(done: () => boolean, what: string, tries = 250): Promise<void> {
  for (let i = 0; i < tries && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(done(), what);
}

/**
 * Nothing of a network is left: no bridge, no veth of its containers, no nft table, and every
 * address the log allocated was released.
 */
export async function assertNetworkGone(log: EventLog, net: { name: string; bridge: string }, veths: string[]): Promise<void> {
  assert.equal(linkExists(net.bridge), false, `bridge ${net.bridge} left`);
  await until(() => veths.every((v) => !linkExists(v)), `veth left: ${veths.filter(linkExists).join(' ')}`);
  assert.equal(nftTable(`berth-${net.bridge}`), undefined, `nft table berth-${net.bridge} left`);
  const held = new Map<string, string>();
  for (const e of await log.read(`net:${net.name}`)) {
    if (e.type === 'AddressAllocated') held.set(String(e.data.container), String(e.data.address));
    if (e.type === 'AddressReleased') held.delete(String(e.data.container));
  }
  assert.deepEqual([...held], [], 'addresses allocated and never released');
}

/** Reads what a tcp server at host:port says, from the host. */
export function readFrom(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}
