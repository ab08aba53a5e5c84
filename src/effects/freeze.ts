import type { Paused, Resumed, Updated } from '../machines/events.js';
import type { EffectInput } from '../machines/container.machine.js';
import { cgroupOf, mergeResources } from './cgroup.js';
import type { EffectDeps } from './deps.js';

/** pause: freeze the container's cgroup and wait until the kernel says it is frozen. */
export async function pauseContainer(d: EffectDeps, c: EffectInput): Promise<Paused> {
  await cgroupOf(d, c).freeze();
  return { type: 'Paused' };
}

export async function resumeContainer(d: EffectDeps, c: EffectInput): Promise<Resumed> {
  await cgroupOf(d, c).thaw();
  return { type: 'Resumed' };
}

/** update: write the changed limits; the fact carries the whole set in force afterwards. */
export async function updateContainer(d: EffectDeps, c: EffectInput): Promise<Updated> {
  const change = c.update ?? {};
  cgroupOf(d, c).apply(change);
  d.crash('update:written');
  return { type: 'Updated', resources: mergeResources(c.resources, change) };
}
