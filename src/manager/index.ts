import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { concatMap, EMPTY, exhaustMap, from, interval, merge, type Observable, type Subscription } from 'rxjs';
import { RuntimeError, isRuntimeError } from '../errors.js';
import type { ExecProcess } from '../execProcess.js';
import { validateResources } from '../effects/cgroups/validate.js';
import { isContainerStream, validateId } from '../ids.js';
import type { ExitInfo } from '../machines/events.js';
import type { ContainerState } from '../machines/replay.js';
import { validateConfig, type OciConfig, type OciNamespace } from '../machines/spec.js';
import type { ExecOptions, Runtime } from '../runtime.js';
import type { StoredEvent } from '../store/eventLog.js';
import type { Attachment } from '../network/index.js';
import { hostsFile, resolvConf, type HostsEntry } from './files.js';
import { logs$, startCopier, type LogLine, type LogsOptions } from './logs.js';
import type { ContainerOptions } from './options.js';
import { ANNOTATIONS, generateSpec, invalid, setCgroupPath, stopSignalOf, stopTimeoutOf, type ProvidedFiles } from './spec.js';
import { resolveUser } from './users.js';
import { bridgeNetworks, bridgeOf, type BridgeNetworks } from './network.js';
import { decideRestart, exitOf, parseRestartPolicy } from './restartPolicy.js';
import { foldPod, podStream, POD_SCHEMAS, type PodEvent, type PodRecord } from './pods.js';
import { ARCHIVE_FORMAT, IMAGES, MANIFEST, readArchive, writeArchive, type ArchiveManifest } from './archive.js';
import { MANAGER_SCHEMAS, managerStream, foldRecord, type ManagedRecord, type ManagerEvent, type RestoredNetwork } from './events.js';

export type { ContainerOptions, LogLine, LogsOptions };

const run = promisify(execFile);

/** What `inspect` shows: the manager's record, the runtime's state, and where its files are. */
export interface ManagedInfo {
  name: string;
  options: ContainerOptions;
  created: string;
  stopSignal: number;
  stopTimeout: number;
  /** The bundle directory the manager owns (config.json, hosts, resolv.conf, hostname, the log). */
  dir: string;
  logFile: string;
  /** The runtime's state, or null when the container has no runtime state (removed, or never created). */
  state: ContainerState | null;
}

const SHARE_NS = { net: 'network', ipc: 'ipc', pid: 'pid', uts: 'uts' } as const;
const PROC_NS = { network: 'net', ipc: 'ipc', pid: 'pid', uts: 'uts' } as const;

/**
 * The container manager (`rt.containers`): say what to run, and it writes the OCI bundle — the
 * spec from berth's defaults plus the options, the files berth provides — into a directory it
 * owns under the root, then drives the runtime. Everything it decides is an event in the
 * container's manager stream `mgr:<name>` (docs/manager.md).
 */
export class ContainerManager {
  constructor(private readonly rt: Runtime) {}

  private dirOf(name: string): string {
    return join(this.rt.root, 'manager', name);
  }

  private logFileOf(name: string): string {
    return join(this.dirOf(name), 'container.log');
  }

  private async record(name: string): Promise<ManagedRecord> {
    return foldRecord(await this.rt.log.read(managerStream(name)));
  }

  private async append(name: string, version: number, e: ManagerEvent, sync = false): Promise<void> {
    const { type, ...data } = e;
    await this.rt.log.append(managerStream(name), [{ type, schema: MANAGER_SCHEMAS[type], data }], { expectedVersion: version === 0 ? 'no_stream' : version, sync });
  }

  /** The record of a defined container (NOT_EXISTS otherwise). */
  private async defined(name: string): Promise<ManagedRecord & { options: ContainerOptions }> {
    validateId(name, 'container name');
    const r = await this.record(name);
    if (!r.defined || r.options === null) throw new RuntimeError('NOT_EXISTS', `container ${name} does not exist`);
    return r as ManagedRecord & { options: ContainerOptions };
  }

  private async runtimeState(name: string): Promise<ContainerState | null> {
    try {
      return await this.rt.state(name);
    } catch (e) {
      if (isRuntimeError(e, 'NOT_EXISTS')) return null;
      throw e;
    }
  }

  /** Write the bundle, define the container in the log, create it in the runtime (status created). */
  async create(opts: ContainerOptions): Promise<ManagedContainer> {
    if (typeof opts !== 'object' || opts === null) throw invalid('options', 'expected an object');
    const name = validateId(opts.name, 'container name');
    const r = await this.record(name);
    if (r.defined || (await this.runtimeState(name)) !== null) throw new RuntimeError('ID_IN_USE', `container with id ${name} already exists`);
    const created = new Date().toISOString();
    const config = await this.prepare(opts, created);
    const dir = this.dirOf(name);
    try {
      this.writeBundle(name, opts, config);
      await this.append(name, r.version, { type: 'ContainerDefined', options: opts, created, bundle: dir }, true);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    await this.createInRuntime(name, opts, r.version + 1);
    if (opts.pod !== undefined) {
      const pod = await this.podRecord(opts.pod);
      await this.appendPod(opts.pod, pod.version, { type: 'PodMemberAdded', container: name });
      await this.writePodHosts(opts.pod);
    }
    return new ManagedContainer(this, name);
  }

  /** Everything that can be refused, refused before anything is written: the generated config. */
  private async prepare(opts: ContainerOptions, created: string): Promise<OciConfig> {
    const name = opts.name;
    if (typeof opts.rootfs !== 'string' || !opts.rootfs.startsWith('/')) throw invalid('rootfs', `expected an absolute path, got ${JSON.stringify(opts.rootfs)}`);
    let rootfs: string;
    try {
      rootfs = realpathSync(opts.rootfs);
      if (!statSync(rootfs).isDirectory()) throw new Error('not a directory');
    } catch {
      throw invalid('rootfs', `${opts.rootfs} is not an existing directory`);
    }
    if (rootfs === '/') throw invalid('rootfs', 'the host\'s root directory cannot be a container\'s rootfs');
    if (!Array.isArray(opts.command) || opts.command.length === 0 || opts.command.some((a) => typeof a !== 'string')) {
      throw invalid('command', 'expected a non-empty array of strings');
    }
    if (opts.groups !== undefined && !Array.isArray(opts.groups)) throw invalid('groups', 'expected an array of group names or gids');
    const user = resolveUser(rootfs, opts.user, opts.groups);
    stopSignalOf(opts);
    stopTimeoutOf(opts);
    parseRestartPolicy(opts.restart);
    const namespaces = await this.namespaces(opts);
    const dir = this.dirOf(name);
    const files: ProvidedFiles = { hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf'), hostname: join(dir, 'hostname') };
    const config = generateSpec({ opts, rootfs, user, files, namespaces, created });
    // The runtime's own validators, now: an invalid resource or mount is refused before the
    // manager writes or logs anything.
    validateResources(config.linux?.resources, this.rt.cgroupLayout().kind === 'v2' ? 2 : 1);
    return validateConfig(JSON.parse(JSON.stringify(config)));
  }

  /**
   * The container's namespaces: berth's defaults, the network mode, and those shared with a
   * container that has a live init (created, running or paused), by that init's /proc paths.
   */
  private async namespaces(opts: ContainerOptions): Promise<OciNamespace[]> {
    const net = opts.network ?? 'none';
    const share: Record<string, string | undefined> = { ...(opts.share ?? {}) };
    if (opts.pod !== undefined) {
      // As podman: the network and its ports are the pod's (its holder's), never a member's.
      if (opts.network !== undefined) throw invalid('network', 'a pod member shares the pod\'s network: give the pod its network (pod create --network)');
      if (opts.ports !== undefined && opts.ports.length > 0) throw invalid('ports', 'a pod member publishes no ports of its own: publish them on the pod (pod create -p)');
      for (const k of ['net', 'ipc', 'uts'] as const) if (share[k] !== undefined) throw invalid(`share.${k}`, `a pod member shares the pod's ${k} namespace already`);
      const holder = await this.podHolder(opts.pod);
      Object.assign(share, { net: holder, ipc: holder, uts: holder });
    }
    if (typeof net !== 'string') throw invalid('network', 'expected none, host, container:<name>, bridge or bridge:<network>');
    if (net.startsWith('container:')) {
      if (share.net !== undefined) throw invalid('network', 'container:<name> and share.net both set');
      share.net = net.slice('container:'.length);
    } else if (bridgeOf(net) !== null) {
      const bridge = this.bridge;
      if (bridge === null) throw invalid('network', 'bridge networking is not available in this build of berth');
      if (opts.ports !== undefined) bridge.parsePorts(opts.ports);
    } else if (net !== 'none' && net !== 'host') {
      throw invalid('network', `expected none, host, container:<name>, bridge or bridge:<network>, got ${JSON.stringify(net)}`);
    }
    if (opts.ports !== undefined && opts.ports.length > 0 && bridgeOf(net) === null) throw invalid('ports', 'publishing ports needs network bridge');
    const own: OciNamespace[] = [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
    const out = own.filter((n) => !(n.type === 'network' && net === 'host'));
    for (const [key, target] of Object.entries(share)) {
      if (target === undefined) continue;
      const type = SHARE_NS[key as keyof typeof SHARE_NS];
      if (type === undefined) throw invalid(`share.${key}`, 'expected one of net, ipc, pid, uts');
      if (type === 'network' && net === 'host') throw invalid('share.net', 'the host network and a shared one both set');
      const field = opts.pod !== undefined && opts.share?.[key as keyof typeof SHARE_NS] === undefined ? 'pod' : key === 'net' && opts.share?.net === undefined ? 'network' : `share.${key}`;
      const pid = await this.livePid(field, target);
      const i = out.findIndex((n) => n.type === type);
      out[i] = { type, path: `/proc/${pid}/ns/${PROC_NS[type]}` };
    }
    return out;
  }

  private async livePid(field: string, target: string): Promise<number> {
    try {
      validateId(target, 'container name');
    } catch {
      throw invalid(field, `${JSON.stringify(target)} is not a container name`);
    }
    const s = await this.runtimeState(target);
    if (s === null) throw invalid(field, `container ${target} does not exist`);
    if (s.pid === 0 || s.status === 'stopped') throw invalid(field, `container ${target} is ${s.status}, not running`);
    return s.pid;
  }

  private writeBundle(name: string, opts: ContainerOptions, config: OciConfig): void {
    const dir = this.dirOf(name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ownNetns = config.linux?.namespaces?.some((n) => n.type === 'network') ?? true;
    let hostResolv = '';
    try {
      hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      // no resolv.conf on the host: the defaults apply
    }
    const hostname = config.hostname ?? opts.hostname ?? opts.pod ?? name;
    writeFileSync(join(dir, 'hosts'), hostsFile({ address: '127.0.1.1', names: [hostname, name] }));
    writeFileSync(join(dir, 'resolv.conf'), resolvConf(hostResolv, opts.dns, ownNetns));
    writeFileSync(join(dir, 'hostname'), `${hostname}\n`);
    writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  /**
   * Create the runtime's container from the bundle with its stdout and stderr going to the log
   * copier. On failure the bundle directory goes and the record says the container is removed.
   */
  private async createInRuntime(name: string, opts: ContainerOptions, version: number): Promise<void> {
    const dir = this.dirOf(name);
    let fds: { stdout: number; stderr: number } | null = null;
    try {
      fds = await startCopier(this.rt.sys, this.logFileOf(name));
      await this.rt.create(name, { bundle: dir, stdio: ['ignore', fds.stdout, fds.stderr], detached: true });
      const net = opts.network ?? 'none';
      const bridged = bridgeOf(net) !== null;
      if ((net === 'none' || bridged) && opts.share?.net === undefined && opts.pod === undefined) await this.loopbackUp(name);
      if (bridged) await this.attach(name, opts);
    } catch (e) {
      await this.undo(name, version, `create failed: ${(e as Error).message}`);
      throw e;
    } finally {
      if (fds) for (const fd of [fds.stdout, fds.stderr]) this.rt.sys.close(fd);
    }
  }

  /** Undo a create or an import the runtime refused: no attachment, runtime container or directory; the record says removed. */
  private async undo(name: string, version: number, reason: string): Promise<void> {
    await this.detach(name).catch(() => undefined);
    await this.rt.delete(name, true).catch(() => undefined);
    rmSync(this.dirOf(name), { recursive: true, force: true });
    await this.append(name, version, { type: 'ContainerRemoved', reason });
  }

  /**
   * Bridge networking: the container's network namespace gets its veth and address while the
   * init waits to be started; /etc/hosts then names the container at that address.
   */
  private async attach(name: string, opts: ContainerOptions, address: string | null = null): Promise<Attachment> {
    const networks = this.bridge;
    if (networks === null) throw invalid('network', 'bridge networking is not available in this build of berth');
    const { pid } = await this.rt.state(name);
    const req = { container: name, pid, ...bridgeOf(opts.network), ...(opts.ports ? { ports: networks.parsePorts(opts.ports) } : {}) };
    let a: Attachment;
    try {
      a = await networks.attach({ ...req, ...(address !== null ? { address } : {}) });
    } catch (e) {
      // An address outside this root's network (an archive from another subnet): a new one.
      if (address === null || !isRuntimeError(e, 'INVALID_ARGUMENT') || e.field !== 'address') throw e;
      a = await networks.attach(req);
    }
    writeFileSync(join(this.dirOf(name), 'hosts'), hostsFile({ address: a.address, names: [opts.hostname ?? name, name] }));
    await this.writeNetworkHosts(a.network);
    return a;
  }

  /** Give back a bridge attachment (a no-op for other networks and when there is none). */
  private async detach(name: string): Promise<void> {
    const bridge = this.networks === undefined && !(await this.everBridged(name)) ? null : this.bridge;
    if (bridge === null) return;
    const network = (await bridge.attachments?.())?.find((a) => a.container === name)?.network;
    await bridge.detach(name);
    if (network !== undefined) await this.writeNetworkHosts(network);
  }

  /** The container's bridge attachment (a pod's is its holder's), if it has one now. */
  async attachmentOf(name: string): Promise<Attachment | undefined> {
    if (!(await this.everBridged(name))) return undefined;
    return (await this.bridge?.attachments?.())?.find((a) => a.container === name);
  }

  /** Whether the container was defined on a bridge: only then is the network module opened to detach it. */
  private async everBridged(name: string): Promise<boolean> {
    return bridgeOf((await this.record(name)).options?.network) !== null;
  }

  /**
   * Every managed member of a bridge network gets an /etc/hosts naming all members, rewritten
   * in place (the file is bind-mounted: same inode) when one joins or leaves.
   */
  private async writeNetworkHosts(network: string): Promise<void> {
    const members = (await this.bridge?.attachments?.(network)) ?? [];
    const entries = await Promise.all(members.map((m) => this.bridgeHostsEntry(m.container, m.address)));
    for (const [i, e] of entries.entries()) {
      const text = hostsFile(e.self, entries.filter((_, j) => j !== i).map((o) => o.self));
      for (const c of e.files) {
        const file = join(this.dirOf(c), 'hosts');
        if (existsSync(file)) writeFileSync(file, text);
      }
    }
  }

  /**
   * A bridge member's line in /etc/hosts, and the containers whose own line it is: a pod's
   * holder is attached for the pod, so its line names the pod and every member, and is every
   * member's own line too.
   */
  private async bridgeHostsEntry(container: string, address: string): Promise<{ self: HostsEntry; files: string[] }> {
    const names = [(await this.record(container)).options?.hostname ?? container, container];
    const pod = container.endsWith('.pod') ? await this.podRecord(container.slice(0, -'.pod'.length)) : null;
    const members = pod?.exists === true && pod.holder === container ? pod.members : [];
    return { self: { address, names: [...names, ...members] }, files: [container, ...members] };
  }

  /** undefined: the runtime's own networks, opened on first use; null: none (bridge refused). */
  private networks: BridgeNetworks | null | undefined = undefined;

  private get bridge(): BridgeNetworks | null {
    if (this.networks === undefined) this.networks = bridgeNetworks(this.rt.networks);
    return this.networks;
  }

  /** Plug in another bridge networking (src/manager/network.ts); `undefined` restores the runtime's own, `null` refuses bridge. */
  useNetworks(networks: BridgeNetworks | null | undefined): void {
    this.networks = networks;
  }

  /** A new network namespace has its loopback down; `none` means "loopback only", so bring it up. */
  private async loopbackUp(name: string): Promise<void> {
    const s = await this.rt.state(name);
    try {
      await run('nsenter', [`--net=/proc/${s.pid}/ns/net`, '--', 'ip', 'link', 'set', 'lo', 'up']);
    } catch (e) {
      throw new RuntimeError('SYSCALL', `create ${name}: bring up loopback: ${(e as Error).message.trim()}`, { step: 'network', cause: e });
    }
  }

  /** The pod's record (src/manager/pods.ts): a fold of `pod:<name>`. */
  async podRecord(pod: string): Promise<PodRecord> {
    return foldPod(await this.rt.log.read(podStream(pod)));
  }

  async appendPod(pod: string, version: number, e: PodEvent): Promise<void> {
    const { type, ...data } = e;
    await this.rt.log.append(podStream(pod), [{ type, schema: POD_SCHEMAS[type], data }], { expectedVersion: version === 0 ? 'no_stream' : version });
  }

  private async podHolder(pod: unknown): Promise<string> {
    if (typeof pod !== 'string') throw invalid('pod', 'expected a pod name');
    try {
      validateId(pod, 'pod name');
    } catch {
      throw invalid('pod', `${JSON.stringify(pod)} is not a pod name`);
    }
    const r = await this.podRecord(pod);
    if (!r.exists) throw invalid('pod', `pod ${pod} does not exist`);
    return r.holder;
  }

  /**
   * Every container of a pod is reachable by name on the pod's loopback: the holder's and each
   * member's /etc/hosts list them all, rewritten in place (the bind mounts see the same file)
   * whenever a member comes or goes.
   */
  private async writePodHosts(pod: string): Promise<void> {
    const r = await this.podRecord(pod);
    // A pod on a bridge: its lines are the network's, at the holder's address.
    const network = (await this.attachmentOf(r.holder))?.network;
    if (network !== undefined) return this.writeNetworkHosts(network);
    const text = hostsFile({ address: '127.0.1.1', names: [pod, ...r.members] });
    for (const c of [r.holder, ...r.members]) writeFileSync(join(this.dirOf(c), 'hosts'), text);
  }

  /** The names of the streams with this prefix (`mgr:`, `pod:`). */
  async streamNames(prefix: string): Promise<string[]> {
    // The log keeps every stream's version in memory: no event is read to name them.
    return (await this.rt.log.streams()).filter((s) => s.startsWith(prefix)).map((s) => s.slice(prefix.length));
  }

  async get(name: string): Promise<ManagedContainer> {
    await this.defined(name);
    return new ManagedContainer(this, name);
  }

  /**
   * Start the container's process. A stopped container is created anew first from its
   * options (the runtime, as the OCI spec says, never starts a stopped container again).
   */
  async start(name: string): Promise<void> {
    const r = await this.defined(name);
    const s = await this.runtimeState(name);
    if (s !== null && s.status === 'running') throw new RuntimeError('ILLEGAL_STATE', `cannot start an already running container ${name}`);
    if (s === null || s.status === 'stopped') await this.recreate(name, r);
    await this.rt.start(name);
  }

  private async recreate(name: string, r: ManagedRecord & { options: ContainerOptions }, why: ManagerEvent = { type: 'ContainerRecreated' }): Promise<void> {
    await this.detach(name);
    if ((await this.runtimeState(name)) !== null) await this.rt.delete(name, true);
    const config = await this.prepare(r.options, r.created ?? new Date().toISOString());
    this.writeBundle(name, r.options, config);
    await this.append(name, r.version, why, true);
    await this.createInRuntime(name, r.options, r.version + 1);
    // writeBundle gave a member an /etc/hosts of its own: the pod's lines again
    if (r.options.pod !== undefined) await this.writePodHosts(r.options.pod);
  }

  /**
   * Stop: the stop signal, then SIGKILL to every process once `timeout` seconds pass. The
   * state is polled (the runtime reconciles each read with the kernel), so this works in a
   * process that is not the container's parent, as a CLI command is not.
   */
  async stop(name: string, opts: { timeout?: number } = {}): Promise<void> {
    const r = await this.defined(name);
    const s = await this.runtimeState(name);
    if (s === null || s.status === 'stopped') return;
    const signal = stopSignalOf(r.options);
    const timeout = opts.timeout ?? stopTimeoutOf(r.options);
    await this.append(name, r.version, { type: 'StopRequested', signal, timeout }, true);
    // A frozen process gets the signal only once thawed.
    if (s.status === 'paused') await this.rt.resume(name);
    if (s.status !== 'created') await this.signal(name, signal, false);
    if (s.status === 'created' || !(await this.stopped(name, timeout * 1000))) {
      await this.append(name, r.version + 1, { type: 'StopEscalated', signal: 9 }, true);
      await this.signal(name, 9, true);
      if (!(await this.stopped(name, 30_000))) throw new RuntimeError('SYSCALL', `stop ${name}: still running after SIGKILL`, { step: 'stop' });
    }
    // a stopped container holds no address: a bridge attachment is given back now
    await this.detach(name);
  }

  private async signal(name: string, signal: number, all: boolean): Promise<void> {
    try {
      await this.rt.kill(name, signal, all);
    } catch (e) {
      if (!isRuntimeError(e, 'ILLEGAL_STATE')) throw e; // it stopped meanwhile
    }
  }

  private async stopped(name: string, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    for (;;) {
      const s = await this.runtimeState(name);
      if (s === null || s.status === 'stopped') return true;
      if (Date.now() >= until) return false;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /** Stop, then start anew. */
  async restart(name: string, opts: { timeout?: number } = {}): Promise<void> {
    await this.stop(name, opts);
    const r = await this.defined(name);
    await this.recreate(name, r);
    await this.rt.start(name);
  }

  /** Remove the container, its bundle and its log file; a running one only with `force` (stopped with SIGKILL). */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const r = await this.defined(name);
    const s = await this.runtimeState(name);
    if (s !== null && s.status !== 'stopped' && s.status !== 'created') {
      if (!opts.force) throw new RuntimeError('ILLEGAL_STATE', `cannot remove running container ${name}: stop it first or force`);
      await this.stop(name, { timeout: 0 });
    }
    await this.detach(name);
    if (s !== null) await this.rt.delete(name, true);
    rmSync(this.dirOf(name), { recursive: true, force: true });
    const now = await this.record(name);
    await this.append(name, now.version, { type: 'ContainerRemoved', reason: 'removed' });
    const pod = r.options.pod;
    if (pod !== undefined && (await this.podRecord(pod)).members.includes(name)) {
      await this.appendPod(pod, (await this.podRecord(pod)).version, { type: 'PodMemberRemoved', container: name });
      await this.writePodHosts(pod);
    }
  }

  async inspect(name: string): Promise<ManagedInfo> {
    const r = await this.defined(name);
    return {
      name,
      options: r.options,
      created: r.created ?? '',
      stopSignal: stopSignalOf(r.options),
      stopTimeout: stopTimeoutOf(r.options),
      dir: this.dirOf(name),
      logFile: this.logFileOf(name),
      state: await this.runtimeState(name),
    };
  }

  /** Every defined container. */
  async list(): Promise<ManagedInfo[]> {
    const out: ManagedInfo[] = [];
    for (const name of await this.streamNames('mgr:')) {
      const r = await this.record(name);
      if (r.defined) out.push(await this.inspect(name));
    }
    return out;
  }

  /** The container's output lines (see LogsOptions). */
  logs$(name: string, opts: LogsOptions = {}): Observable<LogLine> {
    validateId(name, 'container name');
    return logs$(this.logFileOf(name), opts);
  }

  /** Run another process in the container: `command` with the container's user, env and workdir unless given. */
  async exec(name: string, command: string[], opts: ExecOptions & { env?: string[]; workdir?: string; user?: string } = {}): Promise<ExecProcess> {
    await this.defined(name);
    const config = JSON.parse(readFileSync(join(this.dirOf(name), 'config.json'), 'utf8')) as OciConfig;
    const user = opts.user === undefined ? config.process.user : (({ uid, gid, additionalGids }) => ({ uid, gid, additionalGids }))(resolveUser(config.root.path, opts.user));
    const process = { ...config.process, args: command, env: [...(config.process.env ?? []), ...(opts.env ?? [])], cwd: opts.workdir ?? config.process.cwd, user };
    const { env: _e, workdir: _w, user: _u, ...execOpts } = opts;
    return this.rt.exec(name, process, execOpts);
  }

  /**
   * Enforce restart policies: on each exit of a managed container (its `Exited` fact, or an
   * `Observed` stop), decide from its manager stream whether its policy restarts it; a restart
   * is the event RestartedByPolicy, then a new create and start. Meant for a long-running
   * library process; unsubscribe to stop. An exit is seen as it is committed when this process
   * is the init's parent; the exit of a container another process created (a CLI command)
   * is only a fact once someone looks, so every `pollMs` the running containers that have a
   * policy are read, which reconciles them with the kernel and logs their exits.
   */
  supervise(opts: { pollMs?: number } = {}): Subscription {
    const exits = this.rt.events$.pipe(
      concatMap((e) => {
        const exit = isContainerStream(e.stream) ? exitOf(e) : null;
        if (exit === null) return EMPTY;
        return from(this.onExit(e.stream, exit).catch((err: unknown) => this.rt.logger.warn({ err, container: e.stream }, 'restart policy')));
      }),
    );
    const probes = interval(opts.pollMs ?? 1000).pipe(exhaustMap(() => from(this.probePolicies().catch((err: unknown) => this.rt.logger.warn({ err }, 'restart policy probe')))));
    return merge(exits, probes).subscribe();
  }

  private async probePolicies(): Promise<void> {
    for (const name of await this.streamNames('mgr:')) {
      const r = await this.record(name);
      if (r.defined && parseRestartPolicy(r.options?.restart).kind !== 'no') await this.runtimeState(name);
    }
  }

  private async onExit(name: string, exit: ExitInfo): Promise<void> {
    const stream = await this.rt.log.read(managerStream(name));
    const r = foldRecord(stream);
    if (!r.defined || r.options === null) return;
    const d = decideRestart(parseRestartPolicy(r.options.restart), exit, stream);
    if (!d.restart) return;
    await this.recreate(name, r as ManagedRecord & { options: ContainerOptions }, { type: 'RestartedByPolicy', attempt: d.attempt, exit });
    await this.rt.start(name);
  }

  /**
   * Dump a running container with criu into its directory's `checkpoint/`; with `export`, then
   * write the archive there (src/manager/archive.ts). It ends checkpointed, or running with
   * `leaveRunning`.
   *
   * A bridge container's attachment is given back before the dump: criu would dump the veth's
   * inner end as a plain veth and restore it with a new host end off the bridge, where the
   * manager's attach makes its own pair. The container is attached again, asking for the same
   * address, when it keeps running (`leaveRunning`, or a dump that failed) and when restored.
   */
  async checkpoint(name: string, opts: { export?: string; leaveRunning?: boolean } = {}): Promise<void> {
    const r = await this.defined(name);
    if (opts.export !== undefined && (typeof opts.export !== 'string' || !opts.export.startsWith('/'))) throw invalid('export', `expected an absolute path, got ${JSON.stringify(opts.export)}`);
    const dir = this.dirOf(name);
    const images = join(dir, IMAGES);
    const leaveRunning = opts.leaveRunning === true;
    const s = await this.runtimeState(name);
    if (s === null || s.status !== 'running') throw new RuntimeError('ILLEGAL_STATE', `cannot checkpoint container ${name} in status ${s?.status ?? 'removed'}`);
    const network = (await this.attachmentOf(name)) ?? null;
    rmSync(images, { recursive: true, force: true });
    mkdirSync(images, { mode: 0o700 });
    if (network !== null) await this.detach(name);
    try {
      await this.rt.checkpoint(name, { imagePath: images, leaveRunning });
    } catch (e) {
      if (network !== null && (await this.runtimeState(name))?.status === 'running') await this.attach(name, r.options, network.address);
      throw e;
    }
    if (network !== null && leaveRunning) await this.attach(name, r.options, network.address);
    const attached = network && { network: network.network, address: network.address };
    await this.append(name, r.version, { type: 'ContainerCheckpointed', export: opts.export ?? null, leaveRunning, network: attached }, true);
    if (opts.export === undefined) return;
    const manifest: ArchiveManifest = {
      format: ARCHIVE_FORMAT, name, root: this.rt.root, dir, options: r.options, created: r.created ?? '',
      network: network && { network: network.network, address: network.address, ports: network.ports },
      events: { manager: await this.rt.log.read(managerStream(name)), runtime: await this.rt.log.read(name) },
    };
    writeFileSync(join(dir, MANIFEST), `${JSON.stringify(manifest)}\n`);
    try {
      await writeArchive(dir, opts.export);
    } finally {
      rmSync(join(dir, MANIFEST), { force: true });
    }
  }

  /**
   * Restore a checkpointed container in place (`name`), or a container from an archive of
   * another root (`{ import, name? }`): the manager directory comes back from the archive with
   * config.json pointing at it, the container is defined here with the archive's options, the
   * event ContainerRestored names the archive and the source root's last versions (the foreign
   * events stay in the archive: this root's log holds only what happened here), and criu
   * restores it. A bridge container asks for its old address, kept when it is free here.
   */
  async restore(target: string | { import: string; name?: string }): Promise<ManagedContainer> {
    if (typeof target === 'string') {
      const r = await this.defined(target);
      const dumped = (await this.history(target)).findLast((e) => e.type === 'ContainerCheckpointed');
      const address = (dumped?.data.network as { address: string } | null | undefined)?.address ?? null;
      await this.restoreInRuntime(target, r.version, { archive: null, sourceRoot: null, sourceVersions: null }, r.options, address);
      return new ManagedContainer(this, target);
    }
    if (typeof target !== 'object' || target === null) throw invalid('import', 'expected a container name or { import }');
    const staging = join(this.rt.root, 'manager', `.import-${process.pid}-${Date.now()}`);
    const m = await readArchive(target.import, staging);
    let name: string;
    try {
      name = validateId(target.name ?? m.name, 'container name');
      const r = await this.record(name);
      if (r.defined || (await this.runtimeState(name)) !== null) throw new RuntimeError('ID_IN_USE', `container with id ${name} already exists`);
      // config.json names the provided files in the source root's directory, and its cgroup and
      // annotation by the source's name: now this root's directory and this name
      const config = JSON.parse(readFileSync(join(staging, 'config.json'), 'utf8').replaceAll(m.dir, this.dirOf(name))) as OciConfig;
      if (!existsSync(config.root.path) || !statSync(config.root.path).isDirectory()) throw invalid('rootfs', `${config.root.path} is not an existing directory on this host`);
      setCgroupPath(config, m.options.cgroupParent, name);
      config.annotations = { ...config.annotations, [ANNOTATIONS.name]: name };
      writeFileSync(join(staging, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
      rmSync(join(staging, MANIFEST));
      renameSync(staging, this.dirOf(name));
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      throw e;
    }
    const options = { ...m.options, name };
    const r = await this.record(name);
    try {
      await this.append(name, r.version, { type: 'ContainerDefined', options, created: m.created, bundle: this.dirOf(name) }, true);
    } catch (e) {
      rmSync(this.dirOf(name), { recursive: true, force: true });
      throw e;
    }
    const last = (events: StoredEvent[]) => events.at(-1)?.version ?? 0;
    const why = { archive: target.import, sourceRoot: m.root, sourceVersions: { manager: last(m.events.manager), runtime: last(m.events.runtime) } };
    await this.restoreInRuntime(name, r.version + 1, why, options, m.network?.address ?? null, true);
    return new ManagedContainer(this, name);
  }

  /** criu restore with stdout and stderr going to a new log copier; an import that fails is undone. */
  private async restoreInRuntime(name: string, version: number, why: Omit<Extract<ManagerEvent, { type: 'ContainerRestored' }>, 'type' | 'network'>, opts: ContainerOptions, address: string | null, imported = false): Promise<void> {
    const dir = this.dirOf(name);
    let fds: { stdout: number; stderr: number } | null = null;
    try {
      fds = await startCopier(this.rt.sys, this.logFileOf(name));
      await this.rt.restore(name, { ...(imported ? { bundle: dir } : {}), imagePath: join(dir, IMAGES), stdio: ['ignore', fds.stdout, fds.stderr] });
      let network: RestoredNetwork | null = null;
      if ((opts.network ?? 'none') === 'bridge') {
        const a = await this.attach(name, opts, address);
        network = { network: a.network, address: a.address, requested: address };
      }
      await this.append(name, version, { type: 'ContainerRestored', ...why, network }, true);
    } catch (e) {
      if (!imported) throw e;
      await this.undo(name, version, `import failed: ${(e as Error).message}`);
      throw e;
    } finally {
      if (fds) for (const fd of [fds.stdout, fds.stderr]) this.rt.sys.close(fd);
    }
  }

  /** The manager's events of a container. */
  history(name: string): Promise<StoredEvent[]> {
    validateId(name, 'container name');
    return this.rt.log.read(managerStream(name));
  }
}

/** A handle on a managed container. */
export class ManagedContainer {
  constructor(private readonly m: ContainerManager, readonly name: string) {}
  start(): Promise<void> { return this.m.start(this.name); }
  stop(opts: { timeout?: number } = {}): Promise<void> { return this.m.stop(this.name, opts); }
  restart(opts: { timeout?: number } = {}): Promise<void> { return this.m.restart(this.name, opts); }
  remove(opts: { force?: boolean } = {}): Promise<void> { return this.m.remove(this.name, opts); }
  inspect(): Promise<ManagedInfo> { return this.m.inspect(this.name); }
  exec(command: string[], opts: ExecOptions = {}): Promise<ExecProcess> { return this.m.exec(this.name, command, opts); }
  checkpoint(opts: { export?: string; leaveRunning?: boolean } = {}): Promise<void> { return this.m.checkpoint(this.name, opts); }
  get logs$(): Observable<LogLine> { return this.m.logs$(this.name, { follow: true }); }
  logs(opts: LogsOptions = {}): Observable<LogLine> { return this.m.logs$(this.name, opts); }
}
