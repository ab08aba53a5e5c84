import { RuntimeError } from '../errors.js';
import { signalName } from '../signals.js';
import type { StoredEvent } from '../store/eventLog.js';
import { str, type FlagSpec, type Parsed } from './args.js';

/**
 * Every report command takes `--format table|json` (`-f`, as runc's list and ps). `table` is
 * human columns; `json` is one JSON document, or for the log's own events (`history`,
 * `events`) one JSON object per line, the shape `events --follow` streams and `gc --archive`
 * writes. Each command has its own default: table where runc's has one, json where the output
 * is a document clients parse (`features`, `replay`, `events`).
 */
export type OutputFormat = 'table' | 'json';

export function formatFlag(fallback: OutputFormat): FlagSpec {
  return { name: 'format', short: 'f', help: `table or json (default ${fallback})` };
}

/** The command's --format, checked before it does anything. */
export function outputFormat(p: Parsed, fallback: OutputFormat): OutputFormat {
  const f = str(p, 'format') ?? fallback;
  if (f !== 'table' && f !== 'json') throw new RuntimeError('INVALID_ARGUMENT', `--format ${f}: use table or json`, { field: 'format' });
  return f;
}

/** A left-aligned text table with two spaces between columns (runc list's look). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [headers, ...rows].map((cells) => line(cells, widths)).join('\n');
}

function line(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
}

/**
 * A table printed row by row as a stream goes (rows are not known in advance): fixed column
 * widths, a wider cell pushes the rest of its row along.
 */
export function streamTable(columns: [header: string, width: number][]): { header: string; row(cells: string[]): string } {
  const widths = columns.map(([h, w]) => Math.max(h.length, w));
  return { header: line(columns.map(([h]) => h), widths), row: (cells) => line(cells, widths) };
}

/** A nested document as FIELD/VALUE rows: dotted paths, lists joined with commas. */
export function fieldRows(value: unknown, prefix = ''): string[][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return [[prefix, '-']];
    return entries.flatMap(([k, v]) => fieldRows(v, prefix ? `${prefix}.${k}` : k));
  }
  if (Array.isArray(value)) return [[prefix, value.length ? value.map(String).join(',') : '-']];
  return [[prefix, String(value)]];
}

/** One line per event: the payload's interesting fields, without the (large) config. */
export function eventDetails(e: StoredEvent): string {
  const d = e.data;
  switch (e.type) {
    case 'CreateRequested': return `bundle=${d.bundle}`;
    case 'Created': return `pid=${d.pid}`;
    case 'KillRequested':
    case 'Signaled': return `signal=${signalName(Number(d.signal))}${d.all ? ' all' : ''}`;
    case 'Exited': return d.signal !== null ? `signal=${signalName(Number(d.signal))}` : `code=${d.code ?? 'unknown'}`;
    case 'DeleteRequested': return d.force ? 'force' : '';
    case 'Observed': return `status=${d.status} (${d.reason})`;
    case 'ExecRequested': return `exec=${d.execId} args=${JSON.stringify((d.process as { args?: string[] } | undefined)?.args ?? [])}`;
    case 'ExecStarted': return `exec=${d.execId} pid=${d.pid}`;
    case 'ExecExited': return `exec=${d.execId} ${d.signal !== null ? `signal=${signalName(Number(d.signal))}` : `code=${d.code ?? 'unknown'}`}`;
    case 'ExecFailed': {
      const err = d.error as { code?: string; message?: string } | undefined;
      return `exec=${d.execId} ${err?.code}: ${err?.message}`;
    }
    default: {
      const err = d.error as { code?: string; message?: string } | undefined;
      return err ? `${err.code}: ${err.message}` : '';
    }
  }
}
