import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI (npm run build); e2e tests drive it as podman or a shell would. */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `berth --root <root> ...args`. Its stdout and stderr are files, not pipes: a container
 * created by the command inherits them (as with runc) and may outlive the command.
 */
export function berth(root: string, args: string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), 'berth-cli-'));
  const out = openSync(join(dir, 'out'), 'w+');
  const err = openSync(join(dir, 'err'), 'w+');
  return new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--root', root, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
      stdio: ['ignore', out, err],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} timed out; stderr: ${readFileSync(join(dir, 'err'), 'utf8')}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({
        status: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15),
        stdout: readFileSync(join(dir, 'out'), 'utf8'),
        stderr: readFileSync(join(dir, 'err'), 'utf8'),
      });
    });
  }).finally(() => {
    closeSync(out);
    closeSync(err);
    rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * The code of the error a failed command printed (`berth: ... [CODE]`). It is looked for on its
 * own line, not at the end of stderr: a background warning (a fact another process superseded,
 * a cgroup gone under a watcher) may still be logged after it.
 */
export function errorCode(stderr: string): string | undefined {
  return /^berth: .*\[([A-Z_]+)\]$/m.exec(stderr)?.[1];
}
