/**
 * Paths of a container's rootfs resolved as if the rootfs were `/` (openat2's RESOLVE_IN_ROOT),
 * from the runtime's side: one component at a time from a directory fd, `..` never above the
 * rootfs, a symlink's target resolved again inside it (an absolute one from its root). Each
 * component is looked at through `/proc/self/fd/<dir>/<name>` (one name under a directory held
 * open, not a path that could be swapped) and opened with O_NOFOLLOW, so a swap to a symlink
 * between the look and the open fails (ELOOP). A symlink planted in the rootfs can neither make
 * berth read a host file nor create anything on the host (the CVE-2021-30465 class,
 * docs/native.md). berth-init does the same in C inside the container's mount namespace.
 */
import { closeSync, constants as fsc, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { RuntimeError } from '../errors.js';

const MAX_SYMLINKS = 40; // the kernel's own limit for one lookup (ELOOP)

interface Walk<T> {
  /** A component that does not exist: make it and return its lstat, or null to end the walk (null). */
  missing(at: string, last: boolean): Stats | null;
  /** The last component, not a symlink. */
  found(at: string, st: Stats): T;
  /** A component before the last that is not a directory. */
  notDirectory(name: string): T | null;
  tooManyLinks(): never;
}

function walkInRoot<T>(rootfs: string, path: string, w: Walk<T>): T | null {
  const dirs = [openDir(rootfs)];
  const parts = split(path);
  let links = 0;
  try {
    while (parts.length > 0) {
      const name = parts.shift()!;
      if (name === '..') {
        if (dirs.length > 1) closeSync(dirs.pop()!);
        continue;
      }
      const at = `/proc/self/fd/${dirs.at(-1)}/${name}`;
      const last = parts.length === 0;
      const st = lstatOrNull(at) ?? w.missing(at, last);
      if (st === null) return null;
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) w.tooManyLinks();
        const target = readlinkSync(at);
        if (target.startsWith('/')) while (dirs.length > 1) closeSync(dirs.pop()!);
        parts.unshift(...split(target));
        continue;
      }
      if (last) return w.found(at, st);
      if (!st.isDirectory()) return w.notDirectory(name);
      dirs.push(openDir(at));
    }
    return null;
  } finally {
    for (const fd of dirs) closeSync(fd);
  }
}

/** The text of a regular file of the rootfs; null when it does not exist or is no regular file. */
export function readInRoot(rootfs: string, path: string): string | null {
  return walkInRoot(rootfs, path, {
    missing: () => null,
    found: (at) => {
      const fd = openSync(at, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      try {
        return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : null;
      } finally {
        closeSync(fd);
      }
    },
    notDirectory: () => null,
    tooManyLinks: () => {
      throw Object.assign(new Error(`too many symlinks in ${path}`), { code: 'ELOOP' });
    },
  });
}

/**
 * Make `dest` (a container path) in `rootfs` if missing: a directory, or an empty file when
 * `file`. For restore, where no init helper runs before criu mounts.
 */
export function makeMountpoint(rootfs: string, dest: string, file: boolean): void {
  const refuse = (why: string): never => {
    throw new RuntimeError('INVALID_CONFIG', `mount point ${dest}: ${why}`, { field: 'mounts' });
  };
  walkInRoot(rootfs, dest, {
    missing: (at, last) => {
      if (last && file) closeSync(openSync(at, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_NOFOLLOW, 0o644));
      else mkdirSync(at, 0o755);
      return lstatSync(at);
    },
    found: () => true, // there already: criu mounts on it as it is
    notDirectory: (name) => refuse(`${name} in the rootfs is not a directory`),
    tooManyLinks: () => refuse('too many symlinks in the rootfs'),
  });
}

function split(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

function openDir(path: string): number {
  return openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
