import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { errnoOf, RuntimeError } from '../errors.js';
import { bridgeMac, containerMac, networkRuleset, portRuleset, ruleTag, type BridgeSpec, type NetHost, type VethSpec } from './host.js';
import { describePort } from './ports.js';
import type { PortMapping } from './types.js';

/** Runs a command (no shell), feeding `input` on stdin; a failure is SYSCALL naming the step and the command's stderr. */
function run(step: string, cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const lines = stderr.trim().split('\n').filter(Boolean);
      const why = lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? err.message;
      reject(new RuntimeError('SYSCALL', `${step}: ${cmd} ${args.slice(0, 3).join(' ')}: ${why}`, { step, cause: err }));
    });
    // A command that reads no stdin may exit before it is closed; its status tells, not EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

const nft = (step: string, script: string) => run(step, 'nft', ['-f', '-'], script);

function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** Writes a sysctl under /proc/sys unless it already has the value. */
function sysctl(path: string, value: string): void {
  const file = `/proc/sys/${path}`;
  if (readOr(() => readFileSync(file, 'utf8').trim(), '') !== value) writeFileSync(file, value);
}

async function tableRules(table: string): Promise<Array<{ chain: string; handle: number; comment?: string }>> {
  const out = await run('nft list', 'nft', ['-j', 'list', 'table', 'ip', table]).catch((e: RuntimeError) => {
    if (/No such file or directory/.test(e.message)) return undefined;
    throw e;
  });
  if (out === undefined) return [];
  const items = (JSON.parse(out) as { nftables: Array<{ rule?: { chain: string; handle: number; comment?: string } }> }).nftables;
  return items.flatMap((i) => (i.rule ? [i.rule] : []));
}

/** Probes a port by binding it for a moment: EADDRINUSE means something on the host has it. */
function bindProbe(p: PortMapping): Promise<boolean> {
  const host = p.hostIp ?? '0.0.0.0';
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      if (errnoOf(e) === 'EADDRINUSE') return resolve(false);
      const why = errnoOf(e) === 'EADDRNOTAVAIL' ? `${host} is not an address of this host` : errnoOf(e) ?? e.message;
      reject(new RuntimeError('INVALID_ARGUMENT', `port ${describePort(p)}: ${why}`, { field: 'ports', cause: e }));
    };
    if (p.protocol === 'udp') {
      const s = createSocket('udp4');
      s.once('error', (e) => { s.close(); fail(e); });
      s.bind({ address: host, port: p.hostPort, exclusive: true }, () => s.close(() => resolve(true)));
    } else {
      const s = createServer();
      s.once('error', fail);
      s.listen({ host, port: p.hostPort, exclusive: true }, () => s.close(() => resolve(true)));
    }
  });
}

/** How long a lock is waited for: a holder only runs a few `ip`/`nft` commands. */
const LOCK_WAIT_SECONDS = 60;

/**
 * flock(2) on `<stateDir>/<bridge>.lock`, taken by util-linux `flock` on an fd it inherits: the
 * lock belongs to the open file description, which this process keeps after that child exits,
 * so it lasts until the fd is closed (or this process dies). The wait happens in the child:
 * neither the loop nor the threadpool blocks, and the addon needs no flock of its own.
 */
async function lockFile(stateDir: string, bridge: string): Promise<() => Promise<void>> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, `${bridge}.lock`);
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('flock', ['--exclusive', '--wait', String(LOCK_WAIT_SECONDS), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.once('error', reject);
      child.once('close', (code) => {
        if (code === 0) return resolve();
        const why = code === 1 ? `still held after ${LOCK_WAIT_SECONDS} s` : stderr.trim() || `flock exited with ${String(code)}`;
        reject(new RuntimeError('SYSCALL', `lock network: ${file}: ${why}`, { step: 'lock network' }));
      });
    });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let open = true;
  return async () => {
    if (open) closeSync(fd);
    open = false;
  };
}

/**
 * The NetHost that changes this host: iproute2 (`ip`, JSON output where it reads), util-linux
 * `nsenter` and `flock`, nftables `nft`. Bridge locks are files in `stateDir`.
 */
export function linuxNetHost(stateDir: string): NetHost {
  return {
    async netns(pid) {
      return readOr<string | undefined>(() => readlinkSync(`/proc/${pid}/ns/net`), undefined);
    },
    async startTime(pid) {
      const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, 'latin1'), '');
      return stat === '' ? undefined : stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    },
    async linkExists(name) {
      // /sys is this (the host's) network namespace's sysfs.
      return existsSync(`/sys/class/net/${name}`);
    },
    async routes() {
      return JSON.parse(await run('read routes', 'ip', ['-j', '-4', 'route', 'show'])) as Array<{ dst: string; dev: string }>;
    },
    async setUpNetwork(b: BridgeSpec) {
      if (!existsSync(`/sys/class/net/${b.bridge}`)) {
        await run('create bridge', 'ip', ['link', 'add', b.bridge, 'address', bridgeMac(b.bridge), 'type', 'bridge']).catch((e: RuntimeError) => {
          if (!/File exists/.test(e.message)) throw e; // another process made it meanwhile
        });
      }
      // `replace` and `up` are no-ops on a bridge that has them: one spawn, whatever its state.
      await run('bridge address', 'ip', ['-batch', '-'], `addr replace ${b.gateway}/${b.prefixLength} dev ${b.bridge}\nlink set ${b.bridge} up\n`);
      // Loopback-sourced packets (DNAT'ed from 127.0.0.1 by the output chain) may only leave
      // by an interface with route_localnet; only this bridge gets it.
      sysctl(`net/ipv4/conf/${b.bridge}/route_localnet`, '1');
      // Outbound NAT and published ports from other hosts need forwarding (as podman and docker
      // set it); it is host-wide, so it is never turned back off.
      sysctl('net/ipv4/ip_forward', '1');
      await nft('nft network rules', networkRuleset(b));
    },
    async tearDownNetwork(b) {
      // `add` first makes the delete idempotent within one transaction (nft 1.0.6 has no `destroy`).
      await nft('nft delete table', `add table ip ${b.table}\ndelete table ip ${b.table}\n`);
      if (existsSync(`/sys/class/net/${b.bridge}`)) await this.deleteLink(b.bridge);
    },
    async addVeth(v: VethSpec) {
      // The peer is made straight inside the container's namespace, so its name (eth0) never
      // meets the host's interfaces.
      await run('create veth', 'ip', ['link', 'add', v.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'address', containerMac(v.address), 'netns', String(v.pid)]);
      await run('veth to bridge', 'ip', ['link', 'set', v.hostVeth, 'master', v.bridge, 'up']);
      const inside = ['link set lo up', 'link set eth0 up', `addr add ${v.address}/${v.prefixLength} dev eth0`, `route add default via ${v.gateway}`];
      await run('container eth0', 'nsenter', [`--net=/proc/${v.pid}/ns/net`, 'ip', '-batch', '-'], `${inside.join('\n')}\n`);
    },
    async deleteLink(name) {
      // Gone already: "Cannot find device" when ip looks it up, "No such device" (ENODEV) when
      // it vanished between the lookup and the delete (the kernel takes a veth down with its
      // dying netns asynchronously).
      await run('delete link', 'ip', ['link', 'del', name]).catch((e: RuntimeError) => {
        if (!/Cannot find device|No such device/.test(e.message)) throw e;
      });
    },
    async addPortRules(table, container, address, ports) {
      const script = portRuleset(table, container, address, ports);
      if (script !== '') await nft('nft port rules', script);
    },
    async deletePortRules(table, container) {
      const tag = ruleTag(container);
      const mine = (await tableRules(table)).filter((r) => r.comment === tag);
      if (mine.length > 0) await nft('nft delete rules', mine.map((r) => `delete rule ip ${table} ${r.chain} handle ${r.handle}\n`).join(''));
    },
    portFree: bindProbe,
    lock: (bridge) => lockFile(stateDir, bridge),
  };
}
