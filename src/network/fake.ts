import { RuntimeError } from '../errors.js';
import { describePort } from './ports.js';
import { ruleTag, type BridgeSpec, type NetHost, type VethSpec } from './host.js';
import type { PortMapping } from './types.js';

type Method = keyof NetHost;

/**
 * A NetHost that keeps the host's network state in memory (unit tests): processes with their
 * netns, links, nft tables and their rules' tags, ports busy on the host. Every call is
 * recorded; `failNext` scripts a failure.
 */
export class FakeNetHost implements NetHost {
  readonly calls: Array<{ method: Method; args: unknown[] }> = [];
  readonly procs = new Map<number, { netns: string; start: string }>();
  /** name → the bridge, or the veth with the pid whose netns holds its peer and its master (null: none). */
  readonly links = new Map<string, { kind: 'bridge' } | { kind: 'veth'; pid: number; bridge: string | null; address: string }>();
  /** table → the tags of its rules (`berth:<container>`, one per published port and chain). */
  readonly tables = new Map<string, string[]>();
  readonly busyPorts = new Set<string>();
  /** bridge → the end of its lock's queue: one FakeNetHost is one kernel, shared by every "process". */
  readonly #locks = new Map<string, Promise<void>>();
  /** The bridges whose lock someone holds now. */
  readonly held = new Set<string>();
  readonly hostNetns = 'net:[1]';
  #failures = new Map<Method, string>();

  /** A container init with its own netns (or the host's, or none). */
  addProcess(pid: number, netns: string | 'host' | null = `net:[${1000 + pid}]`, start = `s${pid}`): this {
    if (netns !== null) this.procs.set(pid, { netns: netns === 'host' ? this.hostNetns : netns, start });
    else this.procs.set(pid, { netns: '', start });
    return this;
  }

  /** The process exits; its netns and the veth peers inside it go with it. */
  exit(pid: number): void {
    this.procs.delete(pid);
    for (const [name, l] of this.links) if (l.kind === 'veth' && l.pid === pid) this.links.delete(name);
  }

  failNext(method: Method, message = 'scripted failure'): this {
    this.#failures.set(method, message);
    return this;
  }

  #call(method: Method, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const f = this.#failures.get(method);
    if (f !== undefined) {
      this.#failures.delete(method);
      throw new RuntimeError('SYSCALL', `${method}: ${f}`, { step: method });
    }
  }

  async netns(pid: number | 'self') {
    this.#call('netns', pid);
    if (pid === 'self') return this.hostNetns;
    const ns = this.procs.get(pid)?.netns;
    return ns === '' ? undefined : ns;
  }

  async startTime(pid: number) {
    this.#call('startTime', pid);
    return this.procs.get(pid)?.start;
  }

  async linkExists(name: string) {
    this.#call('linkExists', name);
    return this.links.has(name);
  }

  /** Routes of the host's other interfaces (the bridges' own come from their links). */
  readonly otherRoutes: Array<{ dst: string; dev: string }> = [{ dst: 'default', dev: 'eth0' }, { dst: '192.0.2.0/24', dev: 'eth0' }];

  async routes() {
    this.#call('routes');
    return [...this.otherRoutes];
  }

  async setUpNetwork(b: BridgeSpec) {
    this.#call('setUpNetwork', b);
    this.links.set(b.bridge, { kind: 'bridge' });
    if (!this.tables.has(b.table)) this.tables.set(b.table, []);
  }

  async tearDownNetwork(b: Pick<BridgeSpec, 'bridge' | 'table'>) {
    this.#call('tearDownNetwork', b);
    this.tables.delete(b.table);
    this.links.delete(b.bridge);
    // As the kernel does: the bridge's ports stay, without a master.
    for (const l of this.links.values()) if (l.kind === 'veth' && l.bridge === b.bridge) l.bridge = null;
  }

  async addVeth(v: VethSpec) {
    this.#call('addVeth', v);
    if (this.links.has(v.hostVeth)) throw new RuntimeError('SYSCALL', `create veth: ${v.hostVeth} exists`, { step: 'create veth' });
    if (!this.procs.has(v.pid)) throw new RuntimeError('SYSCALL', `create veth: no process ${v.pid}`, { step: 'create veth' });
    if (this.links.get(v.bridge)?.kind !== 'bridge') throw new RuntimeError('SYSCALL', `veth to bridge: no bridge ${v.bridge}`, { step: 'veth to bridge' });
    this.links.set(v.hostVeth, { kind: 'veth', pid: v.pid, bridge: v.bridge, address: v.address });
  }

  async deleteLink(name: string) {
    this.#call('deleteLink', name);
    this.links.delete(name);
  }

  async addPortRules(table: string, container: string, _address: string, ports: PortMapping[]) {
    this.#call('addPortRules', table, container, ports);
    const rules = this.tables.get(table);
    if (rules === undefined) throw new RuntimeError('SYSCALL', `nft port rules: no table ${table}`, { step: 'nft port rules' });
    for (const _ of ports) rules.push(ruleTag(container), ruleTag(container));
  }

  async deletePortRules(table: string, container: string) {
    this.#call('deletePortRules', table, container);
    const rules = this.tables.get(table);
    if (rules) this.tables.set(table, rules.filter((r) => r !== ruleTag(container)));
  }

  async lock(bridge: string) {
    this.#call('lock', bridge);
    const before = this.#locks.get(bridge) ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const mine = before.then(() => held);
    this.#locks.set(bridge, mine);
    await before;
    this.held.add(bridge);
    return async () => {
      this.held.delete(bridge);
      release();
      if (this.#locks.get(bridge) === mine) this.#locks.delete(bridge);
    };
  }

  async portFree(p: PortMapping) {
    this.#call('portFree', p);
    return !this.busyPorts.has(describePort({ ...p, hostIp: undefined } as PortMapping));
  }
}
