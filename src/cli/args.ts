import { readFileSync } from 'node:fs';
import { RuntimeError, errnoOf } from '../errors.js';

/**
 * runc-style arguments (urfave/cli): `--name value`, `--name=value`, `-n value`, and the
 * single-dash long form `-name value` that older clients pass; booleans take no value
 * (`--force`, `-f`, `--force=true`). Flags may come before or between positionals until `--`.
 */
export interface FlagSpec {
  name: string;
  short?: string;
  boolean?: boolean;
  /** Accepted for compatibility; its value is ignored. */
  ignored?: boolean;
  /** May be given more than once (`--env A=1 --env B=2`); read with `list()`. */
  multiple?: boolean;
  help: string;
}

export interface Parsed {
  flags: Map<string, string | boolean | string[]>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], stopAtFirstPositional = false): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    if (s.short) byName.set(s.short, s);
  }
  const flags: Parsed['flags'] = new Map();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      if (stopAtFirstPositional) {
        positionals.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(key);
    if (!spec) throw new RuntimeError('INVALID_ARGUMENT', `flag provided but not defined: ${a.split('=')[0]}`);
    let value: string | boolean;
    if (spec.boolean) {
      value = eq >= 0 ? body.slice(eq + 1) !== 'false' : true;
    } else if (eq >= 0) {
      value = body.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new RuntimeError('INVALID_ARGUMENT', `flag needs an argument: ${a}`);
      value = next;
      i++;
    }
    if (spec.ignored) continue;
    if (spec.multiple) flags.set(spec.name, [...list({ flags, positionals }, spec.name), String(value)]);
    else flags.set(spec.name, value);
  }
  return { flags, positionals };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** Every value of a `multiple` flag, in order. */
export function list(p: Parsed, name: string): string[] {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
}

export function bool(p: Parsed, name: string): boolean {
  return p.flags.get(name) === true;
}

/** Exactly `names.length` positionals (the container id, and so on). */
export function positionals(p: Parsed, command: string, names: string[], optional: string[] = []): string[] {
  const n = p.positionals.length;
  if (n < names.length || n > names.length + optional.length) {
    const usage = [...names.map((x) => `<${x}>`), ...optional.map((x) => `[${x}]`)].join(' ');
    throw new RuntimeError('INVALID_ARGUMENT', `${command}: expected ${usage}, got ${n} argument${n === 1 ? '' : 's'}`);
  }
  return p.positionals;
}

/** The text of a file a flag names; one it cannot read (missing, a directory, …) is INVALID_ARGUMENT naming the flag. */
export function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new RuntimeError('INVALID_ARGUMENT', `--${flag}: ${path}: ${errnoOf(e) ?? String(e)}`, { field: flag });
  }
}
