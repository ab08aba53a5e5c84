import type { ExitInfo } from '../machines/events.js';
import type { StoredEvent } from '../store/eventLog.js';
import { invalid } from './spec.js';

/** `no`, `always`, `on-failure` (unlimited) or `on-failure:N` (at most N restarts in a row). */
export interface RestartPolicy {
  kind: 'no' | 'always' | 'on-failure';
  /** On-failure's limit; null: none. */
  max: number | null;
}

export function parseRestartPolicy(v: string | undefined): RestartPolicy {
  if (v === undefined || v === 'no') return { kind: 'no', max: null };
  if (v === 'always') return { kind: 'always', max: null };
  const m = typeof v === 'string' ? /^on-failure(?::(\d+))?$/.exec(v) : null;
  if (!m || (m[1] !== undefined && Number(m[1]) < 1)) throw invalid('restart', `expected no, always, on-failure or on-failure:N (N >= 1), got ${JSON.stringify(v)}`);
  return { kind: 'on-failure', max: m[1] === undefined ? null : Number(m[1]) };
}

/** Manager events after which a policy's count starts again: the user defined, started or stopped it. */
const RESETS = new Set(['ContainerDefined', 'ContainerRecreated', 'StopRequested', 'StopEscalated', 'ContainerRemoved']);

/**
 * Whether the policy restarts a container that exited with `exit`, given its manager stream,
 * and which attempt that would be. A stop asked for by the user is never undone: the last
 * manager event then is StopRequested (appended before the signal). An exit whose status is
 * unknown (logged by a process that was not the init's parent) counts as a failure.
 */
export function decideRestart(policy: RestartPolicy, exit: ExitInfo, stream: readonly StoredEvent[]): { restart: false } | { restart: true; attempt: number } {
  const last = stream[stream.length - 1];
  if (policy.kind === 'no' || last === undefined || last.type.startsWith('Stop') || last.type === 'ContainerRemoved') return { restart: false };
  let attempts = 0;
  for (let i = stream.length - 1; i >= 0 && !RESETS.has(stream[i]!.type); i--) if (stream[i]!.type === 'RestartedByPolicy') attempts++;
  const failed = exit.code !== 0 || exit.signal !== null;
  if (policy.kind === 'on-failure' && (!failed || (policy.max !== null && attempts >= policy.max))) return { restart: false };
  return { restart: true, attempt: attempts + 1 };
}

/** The init's exit in a container stream event: an `Exited` fact, or an `Observed` stopped finding. */
export function exitOf(e: StoredEvent): ExitInfo | null {
  if (e.type === 'Exited') return { code: (e.data.code as number | null) ?? null, signal: (e.data.signal as number | null) ?? null };
  if (e.type === 'Observed' && e.data.status === 'stopped') return (e.data.exit as ExitInfo | null) ?? { code: null, signal: null };
  return null;
}
