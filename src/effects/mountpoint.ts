/**
 * Making a mount point inside a rootfs, walked by file descriptor: each component is looked up
 * in the directory fd held for its parent (through /proc/self/fd, which names the open
 * directory itself, not a path that could be swapped), never followed if it is a symlink, and
 * a symlink's target is resolved again from the rootfs (an absolute one from its root, `..`
 * never above it). So a symlink planted in the rootfs cannot make berth create anything on the
 * host (the CVE-2021-30465 class, docs/native.md). berth-init does the same in C at create;
 * this is for restore, where no init helper runs before criu.
 */
import { closeSync, constants as fsc, lstatSync, mkdirSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { RuntimeError } from '../errors.js';

const MAX_SYMLINKS = 40; // the kernel's own limit for one lookup

/** Make `dest` (a container path) in `rootfs` if missing: a directory, or an empty file when `file`. */
export function makeMountpoint(rootfs: string, dest: string, file: boolean): void {
  const dirs = [openDir(rootfs)];
  const parts = dest.split('/').filter((p) => p !== '' && p !== '.');
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
      let st = lstatOrNull(at);
      if (st === null) {
        if (last && file) {
          closeSync(openSync(at, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_NOFOLLOW, 0o644));
          return;
        }
        mkdirSync(at, 0o755);
        st = lstatSync(at);
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new RuntimeError('INVALID_CONFIG', `mount point ${dest}: too many symlinks in the rootfs`, { field: 'mounts' });
        const target = readlinkSync(at);
        if (target.startsWith('/')) while (dirs.length > 1) closeSync(dirs.pop()!);
        parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
        continue;
      }
      if (last) return; // there already: criu mounts on it as it is
      if (!st.isDirectory()) throw new RuntimeError('INVALID_CONFIG', `mount point ${dest}: ${name} in the rootfs is not a directory`, { field: 'mounts' });
      dirs.push(openDir(at));
    }
  } finally {
    for (const fd of dirs) closeSync(fd);
  }
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
