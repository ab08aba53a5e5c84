import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Read a file of a container's rootfs as if the rootfs were `/` (openat2's RESOLVE_IN_ROOT):
 * one component at a time from a directory fd, `..` never above the rootfs, a symlink's target
 * resolved again inside it. So a rootfs whose /etc/passwd links to the host's, or whose /etc is
 * `../../..`, reads its own files or nothing, never the host's. Each component is looked at
 * through `/proc/self/fd/<dir>/<name>` (one name under a directory we hold open) and opened
 * with O_NOFOLLOW (Node opens every fd O_CLOEXEC), so a swap to a symlink between the look and the open fails (ELOOP).
 * Returns null when the file does not exist.
 */
export function readInRoot(rootfs: string, path: string): string | null {
  const MAX_LINKS = 40; // the kernel's limit on symlinks in one lookup (ELOOP)
  const stack = [openSync(rootfs, constants.O_RDONLY | constants.O_DIRECTORY)];
  let todo = split(path);
  let links = 0;
  try {
    while (todo.length > 0) {
      const name = todo.shift()!;
      if (name === '..') {
        if (stack.length > 1) closeSync(stack.pop()!);
        continue;
      }
      const at = `/proc/self/fd/${stack[stack.length - 1]}/${name}`;
      let st;
      try {
        st = lstatSync(at);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw Object.assign(new Error(`too many symlinks in ${path}`), { code: 'ELOOP' });
        const target = readlinkSync(at);
        if (target.startsWith('/')) while (stack.length > 1) closeSync(stack.pop()!);
        todo = [...split(target), ...todo];
        continue;
      }
      const last = todo.length === 0;
      if (!last && !st.isDirectory()) return null;
      const fd = openSync(at, constants.O_RDONLY | constants.O_NOFOLLOW | (last ? 0 : constants.O_DIRECTORY));
      if (!last) {
        stack.push(fd);
        continue;
      }
      try {
        if (!fstatSync(fd).isFile()) return null;
        return readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    }
    return null;
  } finally {
    for (const fd of stack) closeSync(fd);
  }
}

function split(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}
