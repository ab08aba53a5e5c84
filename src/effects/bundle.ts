import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { RuntimeError, errnoOf } from '../errors.js';
import { validateConfig, type OciConfig } from '../machines/spec.js';

/** Read `<bundle>/config.json`, validate it, and resolve the rootfs to an existing host directory. */
export function loadBundle(bundle: string): { config: OciConfig; rootfs: string } {
  if (!isAbsolute(bundle)) {
    throw new RuntimeError('INVALID_ARGUMENT', `bundle ${bundle}: must be an absolute path`, { field: 'bundle' });
  }
  const file = resolve(bundle, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const why = errnoOf(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${errnoOf(e) ?? String(e)})`;
    throw new RuntimeError('INVALID_CONFIG', `bundle ${bundle}: config.json ${why}`, { field: 'config.json', cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError('INVALID_CONFIG', `invalid config: ${file} is not valid JSON: ${(e as Error).message}`, { field: 'config.json', cause: e });
  }
  const config = validateConfig(json);
  const rootfs = resolve(bundle, config.root.path);
  let isDir = false;
  try {
    isDir = statSync(rootfs).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new RuntimeError('INVALID_CONFIG', `invalid config: root.path ${rootfs} is not an existing directory`, { field: 'root.path' });
  }
  // As runc's rootfs validation: the rootfs must be its own real path. A symlink (rootfs -> /)
  // would be followed by the bind that makes it the container's root.
  const real = realpathSync(rootfs);
  if (real === '/') throw new RuntimeError('INVALID_CONFIG', `invalid config: root.path ${rootfs} is the host's root directory`, { field: 'root.path' });
  if (real !== rootfs) {
    throw new RuntimeError('INVALID_CONFIG', `invalid config: root.path ${rootfs} is a symlink or goes through one (to ${real})`, { field: 'root.path' });
  }
  return { config, rootfs };
}

/** The bundle's real path (symlinks resolved, as runc records it), or the path as given when it does not resolve. */
export function realBundle(bundle: string): string {
  try {
    return realpathSync(bundle);
  } catch {
    return bundle; // loadBundle reports it
  }
}
