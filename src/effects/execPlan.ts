/**
 * The plan of an exec'd process (berth exec): pure, like initPlan.ts, whose process part it
 * reuses. The helper starts in the runtime's namespaces and, through CLONE_INTO_CGROUP, in the
 * container's cgroup2 directory (v2, or a hybrid's); then:
 *
 *   WAIT 5           until the runtime has joined it to the container's v1 cgroups
 *   SETNS 7 <flags>  every namespace of the container at once, through the init's pidfd at fd 7
 *                    (setns(2) with a pidfd: no /proc path, no pid reuse)
 *   FORK             when the container has a pid or time namespace (they apply to children)
 *   SETSID           a session of its own, as runc's nsexec gives every process it starts
 *   TERMINAL         with process.terminal: a pty of the container's devpts (it has joined the
 *                    mount namespace, so "/" is the container's root), its stdio and controlling
 *                    terminal; the master goes to the runtime over the control socket (fd 6)
 *   RLIMIT* ... CREDS, NO_NEW_PRIVS, UMASK, CWD, ENV*, ARG*, EXEC_NOW, with the container's
 *                    seccomp profile, personality and labels (as runc applies them to exec)
 *
 * The mount namespace's setns puts the process at the container's root (the namespace's root
 * after pivot_root); CWD then checks that the working directory resolves inside it
 * (CVE-2024-21626). Capabilities follow CREDS's rule: the five sets exactly as given, nothing
 * inheritable unless asked (CVE-2022-29162).
 */
import type { OciConfig, OciProcess } from '../machines/spec.js';
import { planProcess } from './initPlan.js';
import type { HostLsm } from './lsm.js';
import { containerNamespaceFlags, needsFork, NS_FD_BASE } from './nsPlan.js';
import type { PlanOp } from './planWire.js';
import { planTerminal } from './terminalPlan.js';

/** The go-ahead pipe's read end, where a create plan has the exec fifo. */
export const GO_FD = 5;
/** The container init's pidfd. */
export const INIT_PIDFD_FD = NS_FD_BASE;

const op = (name: PlanOp['op'], ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });

export function planExec(config: OciConfig, p: OciProcess, lsm?: HostLsm): PlanOp[] {
  const flags = containerNamespaceFlags(config.linux);
  const ops = [op('WAIT', GO_FD)];
  if (flags !== 0) ops.push(op('SETNS', INIT_PIDFD_FD, flags));
  if (needsFork(config.linux)) ops.push(op('FORK'));
  // The container's seccomp profile, personality and labels bind the exec'd process too (runc).
  // No /dev/console bind: that is the container's console, made once by its create.
  ops.push(op('SETSID'), ...planTerminal(p, { console: false }), ...planProcess({ ...config, process: withContainerDefaults(p, config.process) }, { lsm, exec: 'EXEC_NOW' }));
  return ops;
}

/**
 * What an exec'd process does not say, it gets from the container's process, as runc's
 * newInitConfig does: capabilities, rlimits and oom_score_adj. Without this it would keep the
 * helper's: every capability, and the runtime's limits.
 */
export function withContainerDefaults(p: OciProcess, container: OciProcess): OciProcess {
  return {
    ...p,
    capabilities: p.capabilities ?? container.capabilities,
    rlimits: p.rlimits?.length ? p.rlimits : container.rlimits,
    oomScoreAdj: p.oomScoreAdj ?? container.oomScoreAdj,
  };
}
