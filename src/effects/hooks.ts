/**
 * Hooks that run in the runtime namespace (prestart, createRuntime, poststart, poststop), from
 * node; createContainer and startContainer run in berth-init (native/init/hooks.c) with the
 * same contract:
 *   - stdin: the OCI state JSON (hookPlan.ts `ociState`);
 *   - argv: `args` as given (args[0] is argv[0], as execv); absent or empty: just the path;
 *   - environment: exactly `env`, nothing inherited (runc passes its own when `env` is absent);
 *   - `timeout` seconds: SIGKILL at the deadline, and the hook failed;
 *   - a failure is `HOOK_FAILED` with `step` naming the hook (`hooks.prestart[0]`), its exit
 *     status or signal and the tail of its stderr; stdout is read and dropped.
 * Only the hook is waited for: once it exits its output is read until end of file or a short
 * grace, so a background child holding its pipes cannot stall the operation.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsc, statSync } from 'node:fs';
import { constants as osc } from 'node:os';
import type { Logger } from 'pino';
import { RuntimeError, errnoOf, type ErrorInfo } from '../errors.js';
import type { OciConfig, OciHook } from '../machines/spec.js';
import { HOOK_STAGES, hookName, hooksOf, type HookStage, type OciState } from './hookPlan.js';

const TAIL_BYTES = 256;
/** How long a hook's output is still read after it exited. */
const DRAIN_MS = 100;
const errnoNames = new Map(Object.entries(osc.errno).map(([name, n]) => [n, name]));

/** The last bytes of an output as one printable line. */
function printable(b: Buffer): string {
  return b.toString('utf8').replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/ +/g, ' ').trim();
}

function failed(what: string, name: string, why: string, stderr = ''): RuntimeError {
  return new RuntimeError('HOOK_FAILED', `${what}: ${name} ${why}${stderr ? `: ${stderr}` : ''}`, { step: name });
}

function environment(env: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/**
 * Run one hook and wait for it. `what` prefixes the error (`create web`); `cwd` is where it
 * runs (runc runs them in the bundle, its own working directory).
 */
export function runHook(hook: OciHook, name: string, state: OciState, what: string, cwd: string): Promise<void> {
  const argv = hook.args !== undefined && hook.args.length > 0 ? hook.args : [hook.path];
  return new Promise((resolve, reject) => {
    const child = spawn(hook.path, argv.slice(1), {
      argv0: argv[0], env: environment(hook.env), cwd, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = Buffer.alloc(0);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    if (hook.timeout !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, Math.min(hook.timeout * 1000, 2 ** 31 - 1));
    }
    child.stdin.on('error', () => undefined); // a hook need not read its state (EPIPE)
    child.stdin.end(JSON.stringify(state));
    child.stdout.resume();
    child.stderr.on('data', (b: Buffer) => {
      stderr = Buffer.concat([stderr, b]);
      stderr = stderr.subarray(Math.max(0, stderr.length - TAIL_BYTES));
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      const errno = errnoOf(e);
      reject(failed(what, name, `exec ${hook.path}${errno ? `: ${errno}` : ''}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const done = () => {
        child.stdout.destroy();
        child.stderr.destroy();
        const err = printable(stderr);
        if (timedOut) reject(failed(what, name, `timed out after ${hook.timeout}s`, err));
        else if (code === 0) resolve();
        else if (code !== null) reject(failed(what, name, `exited with status ${code}`, err));
        else reject(failed(what, name, `killed by signal ${signal === null ? '?' : osc.signals[signal]}`, err));
      };
      if (child.stderr.readableEnded) return done();
      const grace = setTimeout(done, DRAIN_MS);
      child.stderr.once('end', () => {
        clearTimeout(grace);
        done();
      });
    });
  });
}

/** The hooks of a stage whose failure fails the operation: in order, stopping at the first failure. */
export async function runHooks(stage: HookStage, config: OciConfig | null, state: OciState, what: string, cwd: string): Promise<void> {
  const hooks = hooksOf(config, stage);
  for (let i = 0; i < hooks.length; i++) await runHook(hooks[i]!, hookName(stage, i), state, what, cwd);
}

/**
 * poststart and poststop: a failure is a warning, and the remaining hooks still run (runtime.md
 * "Lifecycle" steps 9 and 13). Each failure is logged and returned for the event that records
 * the operation (`Started.warnings`, `Deleted.warnings`).
 */
export async function runHooksWarning(
  stage: 'poststart' | 'poststop', config: OciConfig | null, state: OciState, what: string, cwd: string, log: Logger,
): Promise<ErrorInfo[]> {
  const warnings: ErrorInfo[] = [];
  const hooks = hooksOf(config, stage);
  for (let i = 0; i < hooks.length; i++) {
    try {
      await runHook(hooks[i]!, hookName(stage, i), state, what, cwd);
    } catch (e) {
      const info = (e as RuntimeError).toJSON();
      log.warn({ id: state.id, hook: info.step, code: info.code }, info.message);
      warnings.push(info);
    }
  }
  return warnings;
}

/**
 * Before anything is created: every hook that resolves in the runtime namespace must be an
 * executable file (startContainer hooks resolve in the container, so only the helper can tell).
 */
export function checkHooks(config: OciConfig): void {
  for (const stage of HOOK_STAGES) {
    if (stage === 'startContainer') continue;
    hooksOf(config, stage).forEach((h, i) => {
      const field = `${hookName(stage, i)}.path`;
      let why: string | null = null;
      try {
        if (!statSync(h.path).isFile()) why = 'is not a regular file';
        else accessSync(h.path, fsc.X_OK);
      } catch (e) {
        why = errnoOf(e) === 'ENOENT' ? 'does not exist' : errnoOf(e) === 'EACCES' ? 'is not executable' : `cannot be used (${errnoOf(e) ?? String(e)})`;
      }
      if (why !== null) throw new RuntimeError('INVALID_CONFIG', `invalid config: ${field} ${h.path} ${why}`, { field });
    });
  }
}

/** The working directory of runtime-namespace hooks: the bundle while it exists, else "/". */
export function hookCwd(bundle: string | null): string {
  try {
    if (bundle && statSync(bundle).isDirectory()) return bundle;
  } catch {
    // a bundle removed before delete
  }
  return '/';
}

/**
 * The helper's report of a failed createContainer or startContainer hook
 * (`ERR HOOK <errno> <name> <what>[: <stderr tail>]`) as the same error a runtime-side hook gives.
 */
export function helperHookFailure(what: string, errno: number, detail: string): RuntimeError {
  const sp = detail.indexOf(' ');
  const name = sp < 0 ? detail : detail.slice(0, sp);
  const rest = sp < 0 ? '' : detail.slice(sp + 1);
  const errnoName = errno === 0 || errnoNames.get(errno) === 'ETIMEDOUT' ? '' : `: ${errnoNames.get(errno) ?? `errno ${errno}`}`;
  return new RuntimeError('HOOK_FAILED', `${what}: ${name} ${rest}${errnoName}`, { step: name });
}
