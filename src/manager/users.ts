import { RuntimeError } from '../errors.js';
import { readInRoot } from '../effects/inRoot.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The passwd entry's home directory, when the user has one (HOME in the environment). */
  home: string | null;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const NUMERIC = /^\d+$/;
const MAX_ID = 2 ** 32 - 2; // (uid_t)-1 means "unchanged" to setresuid

function bad(field: string, message: string): RuntimeError {
  return new RuntimeError('INVALID_ARGUMENT', `${field}: ${message}`, { field });
}

export function parsePasswd(text: string): PasswdEntry[] {
  return lines(text).flatMap((f) => {
    if (f.length < 7 || !NUMERIC.test(f[2]!) || !NUMERIC.test(f[3]!)) return [];
    return [{ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }];
  });
}

export function parseGroup(text: string): GroupEntry[] {
  return lines(text).flatMap((f) => {
    if (f.length < 4 || !NUMERIC.test(f[2]!)) return [];
    return [{ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) }];
  });
}

function lines(text: string): string[][] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

function numeric(field: string, v: string): number {
  const n = Number(v);
  if (n > MAX_ID) throw bad(field, `${v} is out of range`);
  return n;
}

/**
 * `user` as podman takes it — `name`, `uid`, `name:group`, `uid:gid` — resolved in the rootfs's
 * /etc/passwd and /etc/group (read inside the rootfs, see readInRoot), with the user's
 * supplementary groups from /etc/group and the extra `groups` (names or gids). A numeric uid
 * needs no passwd entry (its gid is then 0 unless given); a name must exist.
 */
export function resolveUser(rootfs: string, user = '0', groups: readonly string[] = []): ResolvedUser {
  if (typeof user !== 'string' || user === '' || user.split(':').length > 2) throw bad('user', `expected name[:group] or uid[:gid], got ${JSON.stringify(user)}`);
  const passwd = parsePasswd(read(rootfs, '/etc/passwd', 'user'));
  let groupFile: GroupEntry[] | null = null;
  const groupsOf = () => (groupFile ??= parseGroup(read(rootfs, '/etc/group', 'user')));
  const [u, g] = user.split(':') as [string, string | undefined];
  const entry = NUMERIC.test(u) ? passwd.find((p) => p.uid === Number(u)) : passwd.find((p) => p.name === u);
  if (!entry && !NUMERIC.test(u)) throw bad('user', `unknown user ${JSON.stringify(u)}: no such entry in the rootfs's /etc/passwd`);
  const uid = entry?.uid ?? numeric('user', u);
  const gid = g === undefined ? (entry?.gid ?? 0) : groupId('user', g, groupsOf);
  const supplementary = entry ? groupsOf().filter((e) => e.members.includes(entry.name)).map((e) => e.gid) : [];
  const extra = groups.map((x) => groupId('groups', x, groupsOf));
  const additionalGids = [...new Set([...supplementary, ...extra])].filter((x) => x !== gid);
  return { uid, gid, additionalGids, home: entry?.home || null };
}

/** A missing file is an empty one (a numeric user needs none); a symlink loop or the like names the option. */
function read(rootfs: string, path: string, field: string): string {
  try {
    return readInRoot(rootfs, path) ?? '';
  } catch (e) {
    throw new RuntimeError('INVALID_ARGUMENT', `${field}: cannot read ${path} in the rootfs (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { field, cause: e });
  }
}

function groupId(field: string, g: string, groups: () => GroupEntry[]): number {
  if (typeof g !== 'string' || g === '') throw bad(field, `expected a group name or gid, got ${JSON.stringify(g)}`);
  if (NUMERIC.test(g)) return numeric(field, g);
  const e = groups().find((x) => x.name === g);
  if (!e) throw bad(field, `unknown group ${JSON.stringify(g)}: no such entry in the rootfs's /etc/group`);
  return e.gid;
}
