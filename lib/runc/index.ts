// runc client: the counterpart of go-runc / rust-extensions' `runc` crate, for runc shims, with
// the console and stdio helpers a runc shim needs.
export { Runc, globalArgs, readPidFile } from './runc';
export { RuncError, isRuncError, lastLoggedError, parseLogLine } from './errors';
export type { LogEntry, RuncErrorDetails } from './errors';
export type * from './types';
// A process's terminal and stdio: the console socket, window size, copying between fds.
export { ConsoleSocket, setWindowSize } from './console';
export type { ConsoleSocketOptions, ReceiveOptions, WindowSize } from './console';
export { FdPump, setNonBlocking } from './fd-pump';
export type { FdPumpOptions } from './fd-pump';
export { hasReader, queuedBytes } from './fifo';
