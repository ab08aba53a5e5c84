import { after, before } from 'node:test';
import { openRuntime, type Runtime, type RuntimeOptions } from '../../src/index.js';
import type { OciConfig } from '../../src/machines/spec.js';
import { makeBundle, tempRoot, type Bundle } from './bundle.js';
import { actAsShim, assertNoLeaks, snapshot, type HostSnapshot } from './leaks.js';

/**
 * One runtime on a temporary root for a test file: opened before its tests, closed after
 * them (and proved to release everything), with bundles that are removed at the end.
 */
export function runtimeFixture(opts: { afterAll?: () => void; runtime?: Omit<RuntimeOptions, 'root'> } = {}) {
  const f = {
    root: '',
    rt: undefined as unknown as Runtime,
    bundle(args: string[], edit?: (c: OciConfig) => void): Bundle {
      const b = makeBundle(args, edit);
      bundles.push(b);
      return b;
    },
  };
  const bundles: Bundle[] = [];
  let dir: { root: string; cleanup(): void };
  let atStart: HostSnapshot;
  before(async () => {
    actAsShim();
    dir = tempRoot();
    f.root = dir.root;
    atStart = snapshot();
    f.rt = await openRuntime({ ...opts.runtime, root: dir.root });
  });
  after(async () => {
    // A test that failed half way may have left its container: remove it (and so its
    // processes and cgroup) before proving the host clean.
    const left = await f.rt.list();
    for (const s of left) await f.rt.delete(s.id, true).catch(() => undefined);
    await f.rt.close();
    if (left.length > 0) throw new Error(`tests left containers behind: ${left.map((s) => s.id).join(', ')}`);
    // Closing the runtime releases its log, socket, pidfds and sealed helper copy.
    await assertNoLeaks(atStart, dir.root);
    for (const b of bundles) b.cleanup();
    dir.cleanup();
    opts.afterAll?.();
  });
  return f;
}
