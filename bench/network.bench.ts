/**
 * Network benchmark: attaching a process's netns to a bridge network (address from the log,
 * veth, eth0 set up inside, one published port) and detaching it, through berth's Networks on
 * a runtime's LevelDB log, side by side with the same kernel steps as bare commands (`ip`,
 * `nsenter`, `nft`, run the same way, with no log, checks or read-backs). Steady state: another
 * attachment keeps the bridge and table up. See docs/bench.md ("Networks").
 *
 *   npm run bench:network [-- --runs N] [--warmup N] [--seed N] [--out FILE] [--label TEXT]
 *
 * It reports; it never fails on a number. Exit status: 0 after a run, 2 if it cannot start.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { openRuntime } from '../src/index.js';
import { openNetworks } from '../src/network/index.js';
import { benchOptions, codeInfo, fatal, fmt, hostLine, log, machineInfo, now, prng, round, roundStats, runOptions, shuffled, stats, usage, writeReport } from './common.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const { values: flags } = parseArgs({ options: benchOptions('30', '3') });
usage(flags.help, `usage: npm run bench:network -- [--runs N] [--warmup N] [--seed N] [--out FILE] [--label TEXT]
  --runs N      measured attach+detach cycles per row (default 30)
  --warmup N    unmeasured rounds first (default 3)
`);
const { runs: RUNS, warmup: WARMUP, seed: SEED } = runOptions(flags);
if (process.getuid?.() !== 0) fatal('bench:network needs root');

const NET = { name: `bench${process.pid}`, bridge: `bb${process.pid}`.slice(0, 15), subnet: '10.214.0.0/24' };
const TABLE = `berth-${NET.bridge}`;
const PORT = 18000 + (process.pid % 1000);

function sh(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = execFile(cmd, args, { encoding: 'utf8' }, (err, out, errOut) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${errOut}`)) : resolve(out)));
    c.stdin?.on('error', () => undefined);
    c.stdin?.end(input);
  });
}

/** A process in a network namespace of its own, as a container's init is. */
function netnsHolder() {
  const p = spawn('unshare', ['-n', 'sleep', '100000'], { stdio: 'ignore' });
  return { pid: p.pid!, stop: () => new Promise<void>((r) => { p.once('exit', () => r()); p.kill('SIGKILL'); }) };
}

function readOr(read: () => string): string {
  try {
    return read();
  } catch {
    return '';
  }
}

/** The floor: the commands an attach and a detach need, bare. */
async function commandsAttach(pid: number, veth: string, address: string): Promise<number> {
  await sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid)]);
  await sh('ip', ['link', 'set', veth, 'master', NET.bridge, 'up']);
  await sh('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'], `link set lo up\nlink set eth0 up\naddr add ${address}/24 dev eth0\nroute add default via 10.214.0.1\n`);
  const out = await sh('nft', ['--echo', '--handle', '-f', '-'], `add rule ip ${TABLE} prerouting fib daddr type local tcp dport ${PORT} dnat to ${address}:80\n`);
  return Number(/# handle (\d+)/.exec(out)?.[1]);
}

async function commandsDetach(veth: string, handle: number): Promise<void> {
  await sh('nft', ['-f', '-'], `delete rule ip ${TABLE} prerouting handle ${handle}\n`);
  await sh('ip', ['link', 'del', veth]);
}

async function main(): Promise<void> {
  const started = new Date();
  const root = mkdtempSync(join(tmpdir(), 'berth-bench-net-'));
  const rt = await openRuntime({ root });
  const nets = openNetworks({ log: rt.log, networks: [NET], stateDir: join(root, 'networks') });
  const anchor = netnsHolder();
  const subject = netnsHolder();
  const samples: Record<string, number[]> = { 'berth attach': [], 'berth detach': [], 'commands attach': [], 'commands detach': [] };
  try {
    // Ready once unshare has made the namespace (it then execs sleep, same pid).
    const own = readlinkSync('/proc/self/ns/net');
    for (const h of [anchor, subject]) while (readOr(() => readlinkSync(`/proc/${h.pid}/ns/net`)) === own) await new Promise((r) => setTimeout(r, 5));
    await nets.attach({ container: 'anchor', pid: anchor.pid }); // keeps bridge and table up
    const rand = prng(SEED);
    for (let round = 0; round < WARMUP + RUNS; round++) {
      for (const row of shuffled(['berth', 'commands'], rand)) {
        let t = now();
        if (row === 'berth') {
          await nets.attach({ container: 'subject', pid: subject.pid, ports: [{ hostPort: PORT, containerPort: 80, protocol: 'tcp' }] });
          const attached = now() - t;
          t = now();
          await nets.detach('subject');
          if (round >= WARMUP) samples['berth attach']!.push(attached), samples['berth detach']!.push(now() - t);
        } else {
          const handle = await commandsAttach(subject.pid, 'bbfloor0', '10.214.0.200');
          const attached = now() - t;
          t = now();
          await commandsDetach('bbfloor0', handle);
          if (round >= WARMUP) samples['commands attach']!.push(attached), samples['commands detach']!.push(now() - t);
        }
      }
    }
  } finally {
    await nets.detach('subject').catch(() => undefined);
    await sh('ip', ['link', 'del', 'bbfloor0']).catch(() => undefined);
    await nets.detach('anchor');
    await anchor.stop();
    await subject.stop();
    await rt.close();
    rmSync(root, { recursive: true, force: true });
  }
  if (existsSync(`/sys/class/net/${NET.bridge}`)) log(`bench: bridge ${NET.bridge} left behind`);

  const rows = Object.entries(samples).map(([name, xs]) => ({ name, ms: roundStats(stats(xs)) }));
  const median = (name: string) => stats(samples[name]!)?.median ?? NaN;
  log(hostLine());
  log(`runs ${RUNS}, warmup ${WARMUP}, seed ${SEED}`);
  for (const r of rows) log(`${r.name.padEnd(16)} median ${fmt(r.ms?.median)} ms  p90 ${fmt(r.ms?.p90)} ms`);
  const ratios = { attach: round(median('berth attach') / median('commands attach'), 2), detach: round(median('berth detach') / median('commands detach'), 2) };
  log(`berth / commands: attach ${ratios.attach}x, detach ${ratios.detach}x`);
  writeReport(flags.out, join(HERE, 'results'), 'network', started, {
    started: started.toISOString(), machine: machineInfo(), code: codeInfo(join(HERE, '..'), flags.label), runs: RUNS, warmup: WARMUP, seed: SEED, rows, ratios,
  });
}

main().catch((e) => {
  log(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
});
