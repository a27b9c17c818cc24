// The shim runtime: run(), the Shim and Task contracts, spawn, socket addresses, the exit monitor,
// the event publisher and helpers.
export { run } from './run';
export type { Config, DeleteResponse, Shim, ShimConstructor } from './run';
export {
  DELETE_RECEIPT_FILE,
  readDeleteReceipt,
  takeDeleteReceipt,
  writeDeleteReceipt,
} from './delete-receipt';
export type { DeleteReceipt } from './delete-receipt';
export { parseFlags } from './flags';
export type { Flags } from './flags';
export { spawn, specGroup, GROUP_LABELS } from './spawn';
export type { SpawnEnv, StartOpts } from './spawn';
export type { StartResult, RuntimeInfoProperties } from './bootstrap';
export { queryContainerdVersion, taskApiVersion } from './containerd-version';
export type { TaskApiVersion } from './containerd-version';
export { ExitSignal } from './exit-signal';
export { TASK_METHODS } from './task';
export type { Task, TaskHandlers } from './task';
export {
  SOCKET_ROOT,
  canConnect,
  newSocket,
  removeSocket,
  socketAddress,
  socketPath,
} from './socket';
export { logger, openShimLog, setShimLogger } from './logger';
export type { LogFn, PinoLogger, ShimLogger, ShimLogOptions } from './logger';
export { releaseMemory } from './daemon-runtime';
export { RemotePublisher } from './publisher';
export { ExitMonitor, monitor, spawnProcess } from './monitor';
export type {
  ExitEvent,
  ExitListener,
  ExitMonitorOptions,
  SpawnedProcess,
  SpawnProcessOptions,
  Subscription,
  WaitForOptions,
} from './monitor';
export {
  ADDRESS_FILE,
  CONFIG_FILE,
  OPTIONS_FILE,
  RUNTIME_FILE,
  TOPICS,
  fromAny,
  readAddress,
  readOptions,
  tryReadPidFile,
  readRuntime,
  readSpec,
  timestamp,
  timestampToDate,
  toAny,
  typeName,
  writeAddress,
  writeOptions,
  writeRuntime,
} from './util';
export type { Any, MessageClass, Spec, Timestamp } from './util';
