/** The shapes D1's container manager and the CLI use (re-exported by src/network/index.ts). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** Only connections to this host address are forwarded; every local address when absent. */
  hostIp?: string;
}

export interface Attachment {
  container: string;
  network: string;
  address: string;
  prefixLength: number;
  gateway: string;
  ports: PortMapping[];
}

export interface AttachRequest {
  container: string;
  /** The container's init, waiting at the exec fifo: its netns is /proc/<pid>/ns/net. */
  pid: number;
  /** A network name (default: the Networks' default network). */
  network?: string;
  ports?: PortMapping[];
  /** The address to get back (a restored container): used when it is free, else the lowest free one. */
  address?: string;
}

export interface Networks {
  attach(req: AttachRequest): Promise<Attachment>;
  /** Removes the container's veth and rules and releases its address; idempotent. */
  detach(container: string): Promise<void>;
  attachments(network?: string): Promise<Attachment[]>;
  /**
   * Releases allocations whose container's init and veth are both gone (a process that died
   * between attach and detach). Runs once by itself before the first operation.
   */
  reconcile(): Promise<void>;
}
