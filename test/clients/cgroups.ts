import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';

/**
 * A client's own parent cgroup (containerd's `/<namespace>`, podman's `/libpod_parent`) is the
 * client's to remove, as it is runc's to leave: berth removes only what it made for a
 * container. The tests play the client: remove what is empty under it, deepest first; anything
 * still in use (busy) stays.
 */
export function removeClientCgroups(name: string): void {
  const layout = readCgroupLayout();
  const roots = new Set([...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])]);
  for (const root of roots) removeEmpty(join(root, name));
}

function removeEmpty(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // not there
  }
  for (const e of entries) if (e.isDirectory()) removeEmpty(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // busy: in use by something else on the host
  }
}
