/** Bridge networks for containers: veth pairs, event-sourced addresses, NAT and published ports (docs/network.md). */
export type { Attachment, AttachRequest, Networks, PortMapping } from './types.js';
export { openNetworks, DEFAULT_NETWORK, type NetworkDefinition, type NetworksOptions } from './networks.js';
export { parsePorts, validatePorts } from './ports.js';
export { linuxNetHost } from './linuxHost.js';
export type { NetHost, BridgeSpec, VethSpec } from './host.js';
export { FakeNetHost } from './fake.js';
export { NETWORK_SCHEMAS } from './state.js';
