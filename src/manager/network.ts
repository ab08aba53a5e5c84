/**
 * What the manager needs of bridge networking: by default the runtime's own (`rt.networks`,
 * src/network/); a test or an embedder can plug in another with `useNetworks`.
 */
import { validateId } from '../ids.js';
import { parsePorts, type Attachment, type Networks, type PortMapping } from '../network/index.js';
import { invalid } from './spec.js';

export interface BridgeNetworks {
  /** After the runtime's create (the init waits at the exec fifo, its netns exists), before start. */
  attach(req: { container: string; pid: number; network?: string; address?: string; ports?: PortMapping[] }): Promise<Attachment>;
  /** After the container stopped or was deleted; idempotent. */
  detach(container: string): Promise<void>;
  /** Who else is on a network: every member's /etc/hosts names them all. */
  attachments?(network?: string): Promise<Attachment[]>;
  /** `'8080:80/tcp'` → a mapping; refuses a bad spec with a coded error. */
  parsePorts(specs: string[]): PortMapping[];
}

/** The manager's view of the runtime's networks. */
export function bridgeNetworks(n: Networks): BridgeNetworks {
  return { attach: (r) => n.attach(r), detach: (c) => n.detach(c), attachments: (net) => n.attachments(net), parsePorts };
}

/**
 * The bridge network a `network` option asks for: `bridge` (the default network) or
 * `bridge:<name>`; null for every other mode.
 */
export function bridgeOf(network: string | undefined): { network?: string } | null {
  if (network === 'bridge') return {};
  if (network === undefined || !network.startsWith('bridge:')) return null;
  const name = network.slice('bridge:'.length);
  try {
    return { network: validateId(name, 'network name') };
  } catch {
    throw invalid('network', `${JSON.stringify(name)} is not a network name`);
  }
}
