import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import type { Syscalls } from './syscalls.js';

const MNT_DETACH = 2;

/**
 * criu locks a container's network during a dump with iptables rules in the container's own
 * network namespace (a `CRIU` chain jumped to from INPUT and OUTPUT, criu/net.c) and removes
 * them when it finishes or fails. A criu that was killed cannot: this removes them the way
 * criu does, so a container that outlives a failed checkpoint keeps its network.
 */
export async function undoNetworkLock(pid: number): Promise<void> {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return; // the init is gone
  }
  // In our own namespace criu locks per connection, not with the chain.
  if (ns === readlinkSync('/proc/self/ns/net')) return;
  for (const [list, restore] of [['iptables', 'iptables-restore'], ['ip6tables', 'ip6tables-restore']] as const) {
    if (!(await inNetns(pid, [list, '-w', '-n', '-L', 'CRIU']))) continue;
    await inNetns(pid, [restore, '-w', '--noflush'], '*filter\n:CRIU - [0:0]\n-D INPUT -j CRIU\n-D OUTPUT -j CRIU\nCOMMIT\n');
    await inNetns(pid, [restore, '-w', '--noflush'], '*filter\n:CRIU - [0:0]\n-X CRIU\nCOMMIT\n');
  }
}

/** Run a command in the network namespace of `pid` (nsenter, util-linux); true when it exits 0. */
export function inNetns(pid: number, argv: string[], input?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = execFile('nsenter', [`--net=/proc/${pid}/ns/net`, '--', ...argv], { timeout: 10_000 }, (err) => resolve(!err));
    // nsenter exits at once when the init (and its namespace) is gone meanwhile: writing its
    // input then fails with EPIPE, an 'error' event that would otherwise crash the process.
    // The exit status says all there is to say.
    child.stdin?.on('error', () => undefined);
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * A restore mounts the cgroup hierarchies under `<work dir>/.criu.cgyard.*` in this mount
 * namespace and unmounts them when done; a criu that was killed leaves them. Detach each yard
 * (with everything under it) and remove its directory.
 */
export function removeCgroupYards(sys: Pick<Syscalls, 'umount2'>, workDir: string): void {
  const prefix = `${workDir.replace(/\/+$/, '')}/.criu.cgyard.`;
  const yards = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m.startsWith(prefix) && !m.slice(prefix.length).includes('/'));
  for (const yard of new Set(yards)) {
    try {
      sys.umount2(yard, MNT_DETACH);
    } catch {
      // already gone
    }
    try {
      rmdirSync(yard);
    } catch {
      // not empty or gone: left for the user, who owns the work directory
    }
  }
}
