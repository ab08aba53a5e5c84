import { RuntimeError, SyscallError, type ErrorInfo, isRuntimeError } from '../errors.js';

/**
 * Pure helpers of the lifecycle law: names of the machine's states, what OCI status each one
 * shows, and the refusal message for a command the machine does not accept.
 */

export type MachineState =
  | 'boot' | 'absent' | 'creating' | 'created' | 'starting' | 'running' | 'killing' | 'pausing'
  | 'paused' | 'resuming' | 'updating' | 'stopped' | 'deleting' | 'reconciling' | 'deleted' | 'execing'
  | 'checkpointing' | 'checkpointed' | 'restoring';

/** OCI runtime-spec statuses (runtime.md "State"), plus `paused` as runc reports it. */
export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export const TRANSITIONAL: ReadonlySet<MachineState> = new Set([
  'boot', 'creating', 'starting', 'killing', 'pausing', 'resuming', 'updating', 'deleting', 'reconciling',
  'execing', 'checkpointing', 'restoring',
]);

/** The leaf state name of a machine snapshot value (`{ alive: 'running' }` → `running`). */
export function leafState(value: unknown): MachineState {
  let v = value;
  while (typeof v === 'object' && v !== null) v = Object.values(v)[0];
  return v as MachineState;
}

export function isSettled(state: MachineState): boolean {
  return !TRANSITIONAL.has(state);
}

/** The container exists (is not absent or deleted) in this state. */
export function exists(state: MachineState): boolean {
  return state !== 'absent' && state !== 'deleted' && state !== 'boot';
}

export function ociStatus(state: MachineState, ctx: { resume: 'created' | 'running' | 'paused'; restoredFrom: string | null }): OciStatus {
  switch (state) {
    case 'creating':
    case 'restoring': return 'creating';
    case 'checkpointing': return 'running';
    case 'created':
    case 'starting': return 'created';
    case 'running': return 'running';
    case 'paused': return 'paused';
    case 'killing':
    case 'pausing':
    case 'resuming':
    case 'updating':
    case 'execing': return ctx.resume;
    case 'reconciling': {
      const from = (ctx.restoredFrom ?? 'stopped') as MachineState;
      return from === 'reconciling' ? 'stopped' : ociStatus(from, ctx);
    }
    default: return 'stopped';
  }
}

export type Command = 'create' | 'start' | 'kill' | 'delete' | 'pause' | 'resume' | 'update' | 'exec' | 'checkpoint' | 'restore';

/** The error for a command the machine refused in `state` (runc's wording where it has one). */
export function refusal(id: string, command: Command, state: MachineState, force = false): RuntimeError {
  if (!exists(state)) {
    if (command === 'create' || command === 'restore') return new RuntimeError('INTERNAL', `${command} ${id}: refused in state ${state}`);
    return new RuntimeError('NOT_EXISTS', `container ${id} does not exist`);
  }
  if (command === 'create' || (command === 'restore' && !TRANSITIONAL.has(state))) return new RuntimeError('ID_IN_USE', `container with id ${id} already exists`);
  if (TRANSITIONAL.has(state)) {
    return new RuntimeError('ILLEGAL_STATE', `${command} ${id}: container is busy (${state})`);
  }
  const why: Record<Command, string> = {
    create: '',
    start: state === 'stopped' ? 'cannot start a container that has stopped'
      : state === 'paused' ? 'cannot start a paused container' : 'cannot start an already running container',
    kill: 'container not running',
    pause: state === 'paused' ? 'container already paused' : 'container not running or created',
    resume: 'container not paused',
    update: 'container not running',
    checkpoint: state === 'checkpointed' ? 'container already checkpointed' : 'container not running',
    restore: '',
    delete: force ? `cannot delete container in state ${state}` : `cannot delete container that is not stopped: ${state}`,
    exec: state === 'running' ? 'an exec with that id is running'
      : state === 'created' ? 'cannot exec in a container that has not been started' : `cannot exec in a ${state} container`,
  };
  return new RuntimeError('ILLEGAL_STATE', `${command} ${id}: ${why[command]}`);
}

/** The plain-JSON error stored in …Failed events. */
export function toErrorInfo(e: unknown): ErrorInfo {
  if (isRuntimeError(e)) return e.toJSON();
  const msg = e instanceof Error ? e.message : String(e);
  return { code: 'INTERNAL', message: msg };
}

/** Rebuild a throwable error from a logged ErrorInfo (the live error object is not kept). */
export function fromErrorInfo(info: ErrorInfo): RuntimeError {
  const opts = { ...(info.field ? { field: info.field } : {}), ...(info.step ? { step: info.step } : {}) };
  if (info.code === 'SYSCALL' && info.errno) {
    return new SyscallError(info.message, { errnoName: info.errno, errno: 0, syscall: info.step ?? 'unknown' }, opts);
  }
  return new RuntimeError(info.code, info.message, opts);
}
