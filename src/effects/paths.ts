import { join } from 'node:path';

/**
 * The layout of a runtime root (default /run/berth):
 *   <root>/log/                  the LevelDB event log
 *   <root>/log.sock              the owner's socket (see src/store/openLog.ts)
 *   <root>/containers/<id>/      per-container files that live as long as the container
 *   <root>/containers/<id>/exec.fifo
 * Ids are validated (src/ids.ts) before any path is derived from them.
 */
export const DEFAULT_ROOT = '/run/berth';

export interface RootPaths {
  root: string;
  containers: string;
  containerDir(id: string): string;
  execFifo(id: string): string;
}

export function rootPaths(root: string): RootPaths {
  const containers = join(root, 'containers');
  return {
    root,
    containers,
    containerDir: (id) => join(containers, id),
    execFifo: (id) => join(containers, id, 'exec.fifo'),
  };
}
