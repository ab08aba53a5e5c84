/**
 * One error type for the whole library. Callers branch on `code`, never on message text.
 * Messages are lowercase, without a trailing period, and name the container, field, path or
 * syscall they are about (docs/conventions.md).
 */
export const ERROR_CODES = [
  'INVALID_ID',
  'INVALID_ARGUMENT',
  'INVALID_CONFIG',
  'ID_IN_USE',
  'NOT_EXISTS',
  'ILLEGAL_STATE',
  'SYSCALL',
  'CONFLICT',
  'STORE_LOCKED',
  'STORE_CORRUPT',
  'INTERNAL',
  'HOOK_FAILED',
  'CRIU_FAILED',
  'CRIU_UNSUPPORTED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface RuntimeErrorOptions {
  cause?: unknown;
  /** The config field (JSON path such as `process.args`) or object the error is about. */
  field?: string;
  /** The init-helper step or effect that failed (`mount /proc`, `pivot_root`, `start`), or the hook (`hooks.prestart[0]`). */
  step?: string;
}

export class RuntimeError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly step: string | undefined;

  constructor(code: ErrorCode, message: string, opts: RuntimeErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RuntimeError';
    this.code = code;
    this.field = opts.field;
    this.step = opts.step;
  }

  /** The plain-JSON shape stored in `…Failed` events and printed by `--log-format json`. */
  toJSON(): ErrorInfo {
    const info: ErrorInfo = { code: this.code, message: this.message };
    if (this.field !== undefined) info.field = this.field;
    if (this.step !== undefined) info.step = this.step;
    const errno = (this as { errnoName?: string }).errnoName;
    if (errno !== undefined) info.errno = errno;
    return info;
  }
}

/** A failed system call, shaped like Node's fs errors: `{ code: 'SYSCALL', errnoName: 'EPERM', syscall, path }`. */
export class SyscallError extends RuntimeError {
  readonly errnoName: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string | undefined;

  constructor(
    message: string,
    sys: { errnoName: string; errno: number; syscall: string; path?: string | undefined },
    opts: RuntimeErrorOptions = {},
  ) {
    super('SYSCALL', message, opts);
    this.name = 'SyscallError';
    this.errnoName = sys.errnoName;
    this.errno = sys.errno;
    this.syscall = sys.syscall;
    this.path = sys.path;
  }
}

export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  field?: string;
  step?: string;
  errno?: string;
}

export function isRuntimeError(e: unknown, code?: ErrorCode): e is RuntimeError {
  return e instanceof RuntimeError && (code === undefined || e.code === code);
}

/** A Node or addon error carries `code` (an errno name such as 'ENOENT'); anything else is unknown. */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** Wrap an error from a syscall (addon or node:fs) into a SyscallError naming what was being done. */
export function wrapSyscall(what: string, e: unknown, opts: RuntimeErrorOptions = {}): RuntimeError {
  if (e instanceof RuntimeError) return e;
  const err = e as { code?: string; errno?: number; syscall?: string; path?: string; message?: string };
  const errnoName = errnoOf(e);
  if (errnoName === undefined) {
    return new RuntimeError('INTERNAL', `${what}: ${err?.message ?? String(e)}`, { ...opts, cause: e });
  }
  return new SyscallError(
    `${what}: ${errnoName}`,
    { errnoName, errno: Math.abs(err.errno ?? 0), syscall: err.syscall ?? 'unknown', path: err.path },
    { ...opts, cause: e },
  );
}
