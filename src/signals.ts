/**
 * Signal names and numbers for Linux x86_64, as `kill -l` prints them (bits/signum-arch.h).
 *
 * Parsing follows runc's `kill`: a decimal number, or a name in any case with or without the
 * `SIG` prefix. Real-time signals are written relative to glibc's SIGRTMIN (34; the kernel's
 * 32 and 33 are reserved by glibc's threading) and SIGRTMAX (64): `RTMIN`, `RTMIN+3`,
 * `SIGRTMAX-1`, as `kill -l` does. Numbers 32 and 33 are accepted as numbers only.
 */
import { RuntimeError } from './errors.js';

const NAMES: readonly (string | undefined)[] = [
  undefined, 'HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV',
  'USR2', 'PIPE', 'ALRM', 'TERM', 'STKFLT', 'CHLD', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'URG',
  'XCPU', 'XFSZ', 'VTALRM', 'PROF', 'WINCH', 'IO', 'PWR', 'SYS',
];

/** Other names the C library accepts for the same numbers. */
const ALIASES: Readonly<Record<string, number>> = { IOT: 6, CLD: 17, POLL: 29 };

export const SIGRTMIN = 34;
export const SIGRTMAX = 64;

const BY_NAME: ReadonlyMap<string, number> = new Map([
  ...NAMES.flatMap((name, n) => (name === undefined ? [] : [[name, n] as [string, number]])),
  ...Object.entries(ALIASES),
]);

function unknown(input: string | number): never {
  throw new RuntimeError('INVALID_ARGUMENT', `unknown signal ${String(input)}`);
}

/** `TERM`, `SIGTERM`, `sigterm`, `15`, 15, `SIGRTMIN+3`, `RTMAX-1` → the signal number. */
export function parseSignal(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 1 && input <= SIGRTMAX) return input;
    return unknown(input);
  }
  // Library callers are not type-checked: null, objects and arrays are not signals either.
  if (typeof input !== 'string') return unknown(JSON.stringify(input) ?? String(input));
  if (/^[0-9]+$/.test(input)) return parseSignal(Number(input));
  const upper = input.toUpperCase();
  const name = upper.startsWith('SIG') ? upper.slice(3) : upper;
  const fixed = BY_NAME.get(name);
  if (fixed !== undefined) return fixed;
  // `SIG32`, `SIG33`: how signalName spells the two glibc-reserved numbers, so names round-trip.
  if (/^[0-9]+$/.test(name) && upper.startsWith('SIG')) return parseSignal(Number(name));
  const rt = /^RT(MIN|MAX)(?:([+-])([0-9]+))?$/.exec(name);
  if (rt === null) return unknown(input);
  const [, base, sign, offset] = rt;
  const n = Number(offset ?? '0');
  // RTMIN only counts up and RTMAX only down, as in `kill -l` and glibc's __libc_current_sigrtmin.
  if (base === 'MIN' && sign !== '-' && SIGRTMIN + n <= SIGRTMAX) return SIGRTMIN + n;
  if (base === 'MAX' && sign !== '+' && SIGRTMAX - n >= SIGRTMIN) return SIGRTMAX - n;
  return unknown(input);
}

/** 15 → `SIGTERM`, 37 → `SIGRTMIN+3`, 63 → `SIGRTMAX-1` (the `kill -l` spelling). */
export function signalName(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > SIGRTMAX) return unknown(n);
  const fixed = NAMES[n];
  if (fixed !== undefined) return `SIG${fixed}`;
  if (n < SIGRTMIN) return `SIG${n}`;
  // kill -l switches from RTMIN+n to RTMAX-n halfway: RTMIN..RTMIN+15, then RTMAX-14..RTMAX.
  const fromMin = n - SIGRTMIN;
  const fromMax = SIGRTMAX - n;
  if (fromMin === 0) return 'SIGRTMIN';
  if (fromMax === 0) return 'SIGRTMAX';
  return fromMin <= 15 ? `SIGRTMIN+${fromMin}` : `SIGRTMAX-${fromMax}`;
}
