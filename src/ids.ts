import { RuntimeError } from './errors.js';

/**
 * Container ids as runc accepts them: letters, digits and `_ + - .`, and never `.` or `..`
 * (every path derived from an id must stay inside the root). At most 255 characters: the id is
 * a directory name (the container's state directory, its cgroup), and runc, which sets no
 * limit, fails later with ENAMETOOLONG after part of the work was done.
 */
export const MAX_ID_LENGTH = 255;
const ID = /^[\w+.-]+$/;

/**
 * Container streams are named by the container id. Streams of anything else in the log
 * (networks, pods) carry a `kind:` prefix, which no container id can have, so every reader of
 * "all containers" can tell them apart.
 */
export function isContainerStream(stream: string): boolean {
  return ID.test(stream) && stream !== '.' && stream !== '..';
}

export function validateId(id: unknown, what = 'container id'): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new RuntimeError('INVALID_ID', `invalid ${what}: the id must not be empty`);
  }
  if (id.length > MAX_ID_LENGTH) throw new RuntimeError('INVALID_ID', `invalid ${what} ${id.slice(0, 32)}…: longer than ${MAX_ID_LENGTH} characters`);
  if (id === '.' || id === '..' || !ID.test(id)) {
    throw new RuntimeError('INVALID_ID', `invalid ${what} ${JSON.stringify(id)}: use letters, digits and _ + - . only`);
  }
  return id;
}
