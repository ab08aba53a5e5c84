import { RuntimeError } from './errors.js';

/**
 * Container ids as runc accepts them: letters, digits and `_ + - .`, and never `.` or `..`
 * (every path derived from an id must stay inside the root). At most 255 characters: the id
 * names the container's directory and cgroup, and a longer file name is ENAMETOOLONG
 * (NAME_MAX); runc accepts it and then fails to create the container.
 */
export const MAX_ID_LENGTH = 255;
const ID = /^[\w+.-]+$/;

export function validateId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new RuntimeError('INVALID_ID', 'invalid container id: the id must not be empty');
  }
  if (id.length > MAX_ID_LENGTH) throw new RuntimeError('INVALID_ID', `invalid container id ${id.slice(0, 32)}…: longer than ${MAX_ID_LENGTH} characters`);
  if (id === '.' || id === '..' || !ID.test(id)) {
    throw new RuntimeError('INVALID_ID', `invalid container id ${JSON.stringify(id)}: use letters, digits and _ + - . only`);
  }
  return id;
}
