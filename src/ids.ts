import { RuntimeError } from './errors.js';

/**
 * Container ids as runc accepts them: letters, digits and `_ + - .`, 1–1024 characters, and
 * never `.` or `..` (every path derived from an id must stay inside the root).
 */
const ID = /^[\w+.-]+$/;

export function validateId(id: unknown, what = 'container id'): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new RuntimeError('INVALID_ID', `invalid ${what}: the id must not be empty`);
  }
  if (id.length > 1024) throw new RuntimeError('INVALID_ID', `invalid ${what} ${id.slice(0, 32)}…: longer than 1024 characters`);
  if (id === '.' || id === '..' || !ID.test(id)) {
    throw new RuntimeError('INVALID_ID', `invalid ${what} ${JSON.stringify(id)}: use letters, digits and _ + - . only`);
  }
  return id;
}
