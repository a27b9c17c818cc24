// Helpers shims need around containerd's files and messages: the bundle's spec and options,
// the `address` file, timestamps and Any packing, and the event topics.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError, systemError } from '../error-codes';
import type { containerd as runcTypes } from '../generated/runc';
import type { google } from '../generated/task';
import { int64ToNumber } from '../int64/convert';

/** A `google.protobuf.Any` as the generated code represents it. */
export interface Any {
  type_url?: string | null;
  value?: Uint8Array | null;
}

/** A generated message class (static encode/decode and type URL). */
export interface MessageClass<T, P> {
  encode(message: P): { finish(): Uint8Array };
  decode(data: Uint8Array): T;
  getTypeUrl(prefix?: string): string;
}

/** A `google.protobuf.Timestamp`. */
export type Timestamp = google.protobuf.Timestamp.$Properties;

/** Event topics containerd expects from shims (core/runtime/events.go). */
export const TOPICS = {
  TASK_CREATE: '/tasks/create',
  TASK_START: '/tasks/start',
  TASK_OOM: '/tasks/oom',
  TASK_EXIT: '/tasks/exit',
  TASK_DELETE: '/tasks/delete',
  TASK_EXEC_ADDED: '/tasks/exec-added',
  TASK_EXEC_STARTED: '/tasks/exec-started',
  TASK_PAUSED: '/tasks/paused',
  TASK_RESUMED: '/tasks/resumed',
  TASK_CHECKPOINTED: '/tasks/checkpointed',
  TASK_UNKNOWN: '/tasks/?',
} as const;

/** File names containerd and the runc shims use inside a bundle. */
export const CONFIG_FILE = 'config.json';
export const OPTIONS_FILE = 'options.json';
export const RUNTIME_FILE = 'runtime';
export const ADDRESS_FILE = 'address';

/** The current time as a Timestamp. */
export function timestamp(date: Date = new Date()): Timestamp {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
}

/** A decoded Timestamp as a Date (millisecond precision). */
export function timestampToDate(ts: Timestamp | null | undefined): Date {
  if (!ts) return new Date(0);
  const seconds = int64ToNumber(ts.seconds as number | undefined);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}

/**
 * Packs a message as an Any, with the type URL containerd's typeurl uses: the bare proto name
 * (`containerd.events.TaskCreate`), no `type.googleapis.com/` prefix.
 */
export function toAny<P>(type: MessageClass<unknown, P>, message: P): Any {
  return { type_url: typeName(type), value: type.encode(message).finish() };
}

/** Unpacks an Any; fails with ERR_ANY_TYPE if it holds another type. */
export function fromAny<T>(type: MessageClass<T, unknown>, any: Any | null | undefined): T {
  const url = any?.type_url ?? '';
  const name = typeName(type);
  if (url.slice(url.lastIndexOf('/') + 1) !== name) {
    throw codedError('ERR_ANY_TYPE', `expected an Any holding ${name}, got "${url}"`);
  }
  return type.decode(any?.value ?? new Uint8Array());
}

/** The full proto name of a generated message class. */
export function typeName(type: MessageClass<unknown, never>): string {
  const url = type.getTypeUrl('');
  return url.startsWith('/') ? url.slice(1) : url;
}

/** An OCI runtime spec, as far as shims usually look into it. */
export interface Spec {
  ociVersion?: string;
  process?: {
    terminal?: boolean;
    args?: string[];
    env?: string[];
    cwd?: string;
    [key: string]: unknown;
  };
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  annotations?: Record<string, string>;
  linux?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Reads and parses `<bundle>/config.json`; a clear ERR_INVALID_SPEC error when malformed. */
export function readSpec(bundle = '.'): Spec {
  const file = path.join(bundle, CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message = `cannot read the OCI spec ${file}: ${e.message}`;
    if (e.code === undefined) throw codedError('ERR_INVALID_SPEC', message, { cause: err });
    throw systemError(e.code, message, {
      errno: e.errno,
      syscall: e.syscall,
      path: file,
      cause: err,
    });
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (err) {
    throw codedError('ERR_INVALID_SPEC', `malformed OCI spec ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw codedError('ERR_INVALID_SPEC', `malformed OCI spec ${file}: not a JSON object`);
  }
  return spec as Spec;
}

/** runc shim options (`containerd.runc.v1.Options`) from `<bundle>/options.json`; empty if absent. */
export function readOptions(bundle = '.'): runcTypes.runc.v1.Options.$Properties {
  const file = path.join(bundle, OPTIONS_FILE);
  if (!fs.existsSync(file)) return {};
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as runcTypes.runc.v1.Options.$Properties;
  } catch (err) {
    throw codedError(
      'ERR_INVALID_OPTIONS',
      `malformed options ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

export function writeOptions(options: runcTypes.runc.v1.Options.$Properties, bundle = '.'): void {
  writeFileAtomic(path.join(bundle, OPTIONS_FILE), JSON.stringify(options));
}

/** The runtime binary recorded in `<bundle>/runtime` (e.g. "runc"). */
export function readRuntime(bundle = '.'): string {
  return fs.readFileSync(path.join(bundle, RUNTIME_FILE), 'utf8').trim();
}

export function writeRuntime(runtime: string, bundle = '.'): void {
  writeFileAtomic(path.join(bundle, RUNTIME_FILE), runtime);
}

/** Writes the `address` file containerd 1.6/1.7 restore shims from (relative to the bundle). */
export function writeAddress(address: string, file = ADDRESS_FILE): void {
  writeFileAtomic(file, address);
}

/** Reads an `address` file; undefined when there is none. */
export function readAddress(file = ADDRESS_FILE): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Write then rename, so readers never see a partial file. */
export function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode });
  fs.renameSync(tmp, file);
}

/**
 * The pid in a pid file (runc's `init.pid`), or -1 when the file is missing or holds no pid:
 * never throws (the shim's cleanup paths, like Go's shim ReadPidFile). `readPidFile` of
 * `containerd-shim/runc` is the strict, asynchronous one.
 */
export function tryReadPidFile(file: string): number {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : -1;
  } catch {
    return -1;
  }
}
