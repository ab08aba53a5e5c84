import { writeSync } from 'node:fs';
import { RuntimeError } from './errors.js';

/**
 * Crash points: a seam for the fault-injection test (test/e2e/crash.e2e.test.ts), inert unless
 * enabled. With `BERTH_CRASH_AT=<point>` in the environment when a runtime opens, the process
 * kills itself with SIGKILL the first time it reaches that point, so the test can prove that
 * every step of every operation is recoverable: nothing acknowledged is lost, reconciliation
 * appends the truth, and `delete --force` cleans up. Without the variable every point is a no-op.
 *
 * `<op>:intent` is right after the intent was appended (before the effect runs);
 * `<op>:outcome` is right before the effect's fact is appended; the others are inside effects.
 */
export const CRASH_POINTS = [
  'create:intent',
  'create:cgroup', // the cgroup is made and its limits written
  'create:fifo', // the exec fifo is made
  'create:spawned', // berth-init is cloned, not yet ready (on v1, not yet joined)
  'create:ready', // berth-init reported READY
  'create:outcome',
  'start:intent',
  'start:fifo', // the exec fifo is open: the init is released
  'start:read', // the init's byte is read, the fifo not yet removed
  'start:outcome',
  'kill:intent',
  'kill:signaled',
  'kill:outcome',
  'pause:intent',
  'pause:outcome',
  'resume:intent',
  'resume:outcome',
  'update:intent',
  'update:written', // the cgroup files are written
  'update:outcome',
  'delete:intent',
  'delete:killed', // (force) SIGKILL sent and the init reaped
  'delete:cgroup', // the cgroup is removed, the container directory not yet
  'delete:outcome',
  'checkpoint:dumped', // criu dumped and killed the tree, berth's record is in the images; init, cgroup and directory not yet released
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

/**
 * Takes any name, so operations added later compile without a point of their own; only the
 * names in CRASH_POINTS can ever fire (BERTH_CRASH_AT is checked against the list).
 */
export type CrashSeam = (point: string) => void;

export const CRASH_ENV = 'BERTH_CRASH_AT';

/** The seam for this process, from the environment read once (at runtime open). */
export function crashSeam(value: string | undefined = process.env[CRASH_ENV]): CrashSeam {
  if (value === undefined || value === '') return () => undefined;
  if (!(CRASH_POINTS as readonly string[]).includes(value)) {
    throw new RuntimeError('INVALID_ARGUMENT', `${CRASH_ENV}=${value}: not a crash point (${CRASH_POINTS.join(', ')})`, { field: CRASH_ENV });
  }
  return (point) => {
    if (point !== value) return;
    // Said on stderr first, so the test knows the point was reached and not some other death.
    writeSync(2, `berth: crash point ${point}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}

const OUTCOMES: Record<string, CrashPoint> = {
  Created: 'create:outcome', CreateFailed: 'create:outcome',
  Started: 'start:outcome', StartFailed: 'start:outcome',
  Signaled: 'kill:outcome', KillFailed: 'kill:outcome',
  Paused: 'pause:outcome', PauseFailed: 'pause:outcome',
  Resumed: 'resume:outcome', ResumeFailed: 'resume:outcome',
  Updated: 'update:outcome', UpdateFailed: 'update:outcome',
  Deleted: 'delete:outcome', DeleteFailed: 'delete:outcome',
};

/** The point just before an operation's outcome (this fact) is appended, if it is one. */
export function outcomePoint(factType: string): CrashPoint | undefined {
  return OUTCOMES[factType];
}
