import type { StoredEvent } from '../store/eventLog.js';
import type { ContainerOptions } from './options.js';

/**
 * The manager's events, in the stream `mgr:<name>` of each managed container (the runtime's
 * own lifecycle events stay in the stream named by the container id). docs/manager.md has the
 * catalog.
 */
export type ManagerEvent =
  /** The options, as given, and the bundle written from them; logged before the runtime's create. */
  | { type: 'ContainerDefined'; options: ContainerOptions; created: string; bundle: string }
  /** The bundle was written again from the options and the container created anew (start after stop, restart). */
  | { type: 'ContainerRecreated' }
  /** `stop` sent the stop signal and will wait `timeout` seconds. */
  | { type: 'StopRequested'; signal: number; timeout: number }
  /** The timeout passed: SIGKILL to every process of the container. */
  | { type: 'StopEscalated'; signal: number }
  /** The restart policy restarts the container after `exit`: the `attempt`-th restart in a row. */
  | { type: 'RestartedByPolicy'; attempt: number; exit: { code: number | null; signal: number | null } }
  /** criu dumped the container into the manager directory's `checkpoint/`; `export`: the archive written; `network`: the bridge attachment it had (docs/manager.md). */
  | { type: 'ContainerCheckpointed'; export: string | null; leaveRunning: boolean; network: { network: string; address: string } | null }
  /**
   * Restored from the checkpoint images: in place (`archive` null) or imported from an archive
   * of another root; `network`: the bridge attachment it got, and the address it asked for.
   */
  | { type: 'ContainerRestored'; archive: string | null; sourceRoot: string | null; sourceVersions: { manager: number; runtime: number } | null; network: RestoredNetwork | null }
  /** Removed by `rm`, or by a create that failed (`reason` says which). */
  | { type: 'ContainerRemoved'; reason: string };

/** A restored bridge container asks for its old address (`requested`); `address` differs when that one was taken or outside this network. */
export interface RestoredNetwork {
  network: string;
  address: string;
  requested: string | null;
}

export const MANAGER_SCHEMAS: Record<ManagerEvent['type'], number> = {
  ContainerDefined: 1,
  ContainerRecreated: 1,
  StopRequested: 1,
  StopEscalated: 1,
  RestartedByPolicy: 1,
  ContainerCheckpointed: 1,
  ContainerRestored: 1,
  ContainerRemoved: 1,
};

export function managerStream(name: string): string {
  return `mgr:${name}`;
}

export interface ManagedRecord {
  version: number;
  defined: boolean;
  options: ContainerOptions | null;
  created: string | null;
}

/** The manager's record of a container: a fold of its stream (a name can be defined again after removal). */
export function foldRecord(events: readonly StoredEvent[]): ManagedRecord {
  const r: ManagedRecord = { version: 0, defined: false, options: null, created: null };
  for (const e of events) {
    r.version = e.version;
    if (e.type === 'ContainerDefined') {
      r.defined = true;
      r.options = e.data.options as ContainerOptions;
      r.created = e.data.created as string;
    } else if (e.type === 'ContainerRemoved') {
      r.defined = false;
      r.options = null;
      r.created = null;
    }
  }
  return r;
}
