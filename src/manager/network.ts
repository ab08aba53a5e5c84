/**
 * What the manager needs of bridge networking (src/network/, built separately): the same
 * shapes as its `Networks` and `parsePorts`, so the module plugs in as it is —
 * `const n = openNetworks({ log: rt.log });
 *  rt.containers.useNetworks({ attach: (r) => n.attach(r), detach: (c) => n.detach(c), parsePorts })`.
 * Until one is plugged in, `network: 'bridge'` and `ports` are refused naming the option.
 */
export interface PortMapping { hostPort: number; containerPort: number; protocol: 'tcp' | 'udp'; hostIp?: string }
export interface Attachment { container: string; network: string; address: string; prefixLength: number; gateway: string; ports: PortMapping[] }

export interface BridgeNetworks {
  /** After the runtime's create (the init waits at the exec fifo, its netns exists), before start. */
  attach(req: { container: string; pid: number; network?: string; ports?: PortMapping[] }): Promise<Attachment>;
  /** After the container stopped or was deleted; idempotent. */
  detach(container: string): Promise<void>;
  /** `'8080:80/tcp'` → a mapping; refuses a bad spec with a coded error. */
  parsePorts(specs: string[]): PortMapping[];
}
