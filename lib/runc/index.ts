// runc client: the counterpart of go-runc / rust-extensions' `runc` crate, for runc shims.
export { Runc, globalArgs, readPidFile } from './runc';
export { RuncError, isRuncError, lastLoggedError, parseLogLine } from './errors';
export type { LogEntry, RuncErrorDetails } from './errors';
export type * from './types';
