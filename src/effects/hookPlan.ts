/**
 * Hooks, the pure part: the OCI state a hook reads on stdin, and the init plan's share of the
 * hooks (native/init/plan.h HOOKS_SYNC, HOOK_ARG, HOOK_ENV, HOOK). Where each stage runs
 * (runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle"):
 *
 *   prestart, createRuntime   the runtime namespace (hooks.ts, from node), during create, after
 *                             the mounts and before pivot_root: berth-init waits at HOOKS_SYNC
 *                             until they have run (and it is in its cgroup)
 *   createContainer           berth-init, in the container's mount namespace right after
 *                             HOOKS_SYNC and before pivot_root, cwd the rootfs (as runc)
 *   startContainer            berth-init, during start, after the exec fifo handshake and
 *                             before execve, with the container's credentials
 *   poststart                 the runtime namespace, once the user process executes
 *   poststop                  the runtime namespace, after delete removed the container
 */
import type { OciConfig, OciHook } from '../machines/spec.js';
import { OCI_VERSION } from '../machines/replay.js';
import type { PlanOp } from './planWire.js';

export const HOOK_STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type HookStage = (typeof HOOK_STAGES)[number];

/** The runtime-spec state (runtime.md "State") as hooks receive it. */
export interface OciState {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped';
  /** The init's pid as the host sees it; absent once stopped (as runc). */
  pid?: number;
  bundle: string;
  annotations: Record<string, string>;
}

export interface StateSource {
  id: string;
  bundle: string | null;
  config: OciConfig | null;
}

export function ociState(c: StateSource, status: OciState['status'], pid?: number): OciState {
  const s: OciState = { ociVersion: OCI_VERSION, id: c.id, status, bundle: c.bundle ?? '', annotations: c.config?.annotations ?? {} };
  return pid === undefined ? s : { ...s, pid };
}

/** How errors, logs and events name a hook: its JSON path in config.json. */
export function hookName(stage: HookStage, i: number): string {
  return `hooks.${stage}[${i}]`;
}

export function hooksOf(config: OciConfig | null, stage: HookStage): readonly OciHook[] {
  return config?.hooks?.[stage] ?? [];
}

const op = (name: PlanOp['op'], ...args: (string | number)[]): PlanOp => ({ op: name, args: args.map(String) });

function planHook(stage: 'createContainer' | 'startContainer', hook: OciHook, i: number, state: OciState): PlanOp[] {
  // The helper writes '{"pid":<its host pid>,' and then this: the state (without a pid) minus its '{'.
  return [
    ...(hook.args ?? []).map((a) => op('HOOK_ARG', a)),
    ...(hook.env ?? []).map((e) => op('HOOK_ENV', e)),
    op('HOOK', stage, hookName(stage, i), hook.path, hook.timeout ?? 0, JSON.stringify(state).slice(1)),
  ];
}

export interface HookPlan {
  /** HOOKS_SYNC (when there are prestart, createRuntime or createContainer hooks) and the createContainer hooks. */
  beforePivot: PlanOp[];
  /** The startContainer hooks, kept by the helper for EXEC. */
  beforeExec: PlanOp[];
}

export function planHooks(config: OciConfig, c: { id: string; bundle: string }): HookPlan {
  const source = { ...c, config };
  // The go-ahead also holds createContainer hooks back until the helper is in its cgroup (on v1
  // it joins after the spawn): a hook forked before that would stay outside it.
  const sync = ['prestart', 'createRuntime', 'createContainer'].some((s) => hooksOf(config, s as HookStage).length > 0);
  return {
    beforePivot: [
      ...(sync ? [op('HOOKS_SYNC')] : []),
      ...hooksOf(config, 'createContainer').flatMap((h, i) => planHook('createContainer', h, i, ociState(source, 'creating'))),
    ],
    beforeExec: hooksOf(config, 'startContainer').flatMap((h, i) => planHook('startContainer', h, i, ociState(source, 'created'))),
  };
}

/**
 * How long the helper may take beyond its own setup once it runs createContainer hooks: their
 * timeouts added up, or null (no deadline) when one of them has none (the spec sets no limit).
 */
export function createContainerBudgetMs(config: OciConfig): number | null {
  let ms = 0;
  for (const h of hooksOf(config, 'createContainer')) {
    if (h.timeout === undefined) return null;
    ms += h.timeout * 1000;
  }
  return ms;
}
