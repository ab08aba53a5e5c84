/**
 * Older payload shapes of the log, brought to the current schema on every read (the log is
 * never rewritten). `UPCASTERS[type][n]` turns schema-n data into schema-(n+1) data; the store's
 * codec chains them (src/store/codec.ts). Bump a type's number in SCHEMAS (events.ts) and add
 * its step here whenever a payload changes shape.
 */

type Data = Record<string, unknown>;

export const UPCASTERS: Readonly<Record<string, Readonly<Record<number, (d: Data) => Data>>>> = {
  // Created schema 1 was written before every container had its own cgroup; those that lack
  // one have none to freeze, update or remove.
  Created: { 1: (d) => ({ ...d, cgroup: d.cgroup ?? null }) },
};
