/**
 * berth: an event-sourced OCI container runtime. The library surface.
 *
 *   const rt = await openRuntime({ root: '/run/berth' });
 *   const c = await rt.create('web', { bundle: '/path/to/bundle' });
 *   c.state$.subscribe((s) => console.log(s.status));
 *   await c.start(); const exit = await c.wait(); await c.delete();
 *   await rt.close();
 */
export { openRuntime, Runtime, DEFAULT_ROOT, type RuntimeOptions, type CreateOptions, type ExecOptions } from './runtime.js';
export { Container } from './container.js';
export { ExecProcess } from './execProcess.js';
export { RuntimeError, SyscallError, isRuntimeError, ERROR_CODES, type ErrorCode, type ErrorInfo } from './errors.js';
export type { ContainerState } from './machines/replay.js';
export type { ContainerEvent, ExitInfo } from './machines/events.js';
export type { OciStatus } from './machines/lifecycle.js';
export type { StoredEvent, EventLog } from './store/eventLog.js';
export type { StdioSpec, ContainerStdio } from './effects/stdio.js';
export type { ConsoleStream } from './effects/console.js';
export type { OciConfig, OciProcess } from './machines/spec.js';
export { defaultConfig, validateConfig, validateProcess } from './machines/spec.js';
export { features, type Features } from './features.js';
export { parseSignal, signalName } from './signals.js';
export type { CheckpointOpts, RestoreOpts, CriuFlags } from './checkpointOptions.js';
export { openNetworks, parsePorts, DEFAULT_NETWORK, type Networks, type Attachment, type AttachRequest, type PortMapping, type NetworkDefinition, type NetworksOptions } from './network/index.js';
export { ContainerManager, ManagedContainer, type ManagedInfo } from './manager/index.js';
export type { ContainerOptions, MountOption, ShareOption, DnsOption } from './manager/options.js';
export type { LogLine, LogsOptions } from './manager/logs.js';
export { PodManager, type PodOptions, type PodInfo } from './manager/pods.js';
