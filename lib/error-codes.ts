// Every `code` this package puts on an Error it throws or rejects with, in one place: those set in
// TypeScript (through codedError) and those set by the C++ addon (native/*.cc). Besides these,
// errors of failed system calls carry Node's own codes (ENOENT, EADDRINUSE, ...) with `errno` and
// `syscall`, and failed TTRPC calls are TtrpcErrors whose `code` is a numeric gRPC status.
// test/error-codes.test.ts keeps this list, the sources and the README's table in step.

export interface ErrorCodeInfo {
  /** Who throws it: a module of lib/, or "native" for the addon. */
  readonly from: string;
  /** What it means, one line (the README's table). */
  readonly meaning: string;
}

export const ERROR_CODES = {
  ERR_ANY_TYPE: {
    from: 'shim',
    meaning: '`fromAny`: the Any holds another message type than the one asked for',
  },
  ERR_CGROUP_NOT_FOUND: {
    from: 'linux',
    meaning: 'the process has no cgroup v2 path, or no cgroup2 filesystem is mounted',
  },
  ERR_CGROUP_NO_MEMORY: {
    from: 'linux',
    meaning: 'OOM watch: the process has no cgroup v1 memory controller',
  },
  ERR_CGROUP_PARSE: { from: 'linux', meaning: 'a malformed line in `/proc/<pid>/cgroup`' },
  ERR_CONSOLE_CLOSED: {
    from: 'runc',
    meaning: '`ConsoleSocket.receive` on a closed socket, or the socket closed while it waited',
  },
  ERR_CONSOLE_INVALID: {
    from: 'runc',
    meaning:
      'runc sent no descriptor or one that is not a terminal; or a second `receive` while one waits',
  },
  ERR_CONSOLE_TIMEOUT: {
    from: 'runc',
    meaning: '`ConsoleSocket.receive`: runc sent no console in time',
  },
  ERR_FD_WATCHER_CLOSED: {
    from: 'native',
    meaning: '`FdWatcher.start` after `close`',
  },
  ERR_INVALID_ADDRESS: {
    from: 'ttrpc',
    meaning: 'a TTRPC address that does not parse, or whose kind this platform lacks',
  },
  ERR_INVALID_ARG_TYPE: {
    from: 'native, shim',
    meaning: 'an argument of the wrong type (the addon checks its arguments too)',
  },
  ERR_INVALID_ARG_VALUE: {
    from: 'shim',
    meaning: 'an argument of the right type and a wrong value (a count or size out of range)',
  },
  ERR_INVALID_BOOTSTRAP: {
    from: 'shim',
    meaning: '`start`: stdin is neither BootstrapParams nor runtime options, or too large',
  },
  ERR_INVALID_DURATION: {
    from: 'duration',
    meaning: '`parseDuration`: not a Go duration (`100ms`, `1m30s`, ...)',
  },
  ERR_INVALID_EVENT: {
    from: 'shim',
    meaning: '`RemotePublisher.publish`: a bad topic, namespace or event',
  },
  ERR_INVALID_FD: { from: 'ttrpc', meaning: 'an `fd://N` address that is not a listening socket' },
  ERR_INVALID_FLAG: {
    from: 'shim',
    meaning: 'a command-line flag or action containerd would not pass (Go flag wording)',
  },
  ERR_INVALID_LOG_LEVEL: {
    from: 'shim',
    // Escaped: V8 keeps a loaded module's source text, two bytes a character if any character is
    // beyond Latin-1 (the compiled JavaScript has no comments, so only literals count).
    meaning:
      'a log level the shim logger does not know (trace \u2026 fatal, silent; warning = warn)',
  },
  ERR_INVALID_OPTIONS: { from: 'shim', meaning: "a bundle's `options.json` does not parse" },
  ERR_INVALID_PID_FILE: {
    from: 'runc',
    meaning: '`readPidFile` (runc): the file runc wrote with `--pid-file` holds no pid',
  },
  ERR_INVALID_SPEC: { from: 'shim', meaning: "a bundle's `config.json` (OCI spec) is malformed" },
  ERR_LAUNCHER_MISSING: {
    from: 'shim',
    meaning: '`containerd-shim package`: no shim launcher built or prebuilt for this platform',
  },
  ERR_MOUNT_HELPER: {
    from: 'linux',
    meaning: 'the helper process that mounts from another directory (long overlay options) failed',
  },
  ERR_MOUNT_OPTIONS_TOO_LONG: {
    from: 'linux',
    meaning: "a mount's data string does not fit in one page, even after compaction",
  },
  ERR_MOUNT_OPTION_UNSUPPORTED: {
    from: 'linux',
    meaning: '`loop`, `uidmap=`/`gidmap=` or an `X-containerd.*` mount option',
  },
  ERR_NATIVE_ADDON_MISSING: {
    from: 'native loader',
    meaning: 'no addon binary for this platform/arch/libc, or it does not load',
  },
  ERR_PROTOBUF_INT64: {
    from: 'protos',
    meaning: 'a value that does not fit the 64-bit integer field it is encoded into',
  },
  ERR_PUBLISHER_CLOSED: { from: 'shim', meaning: '`publish` after `RemotePublisher.close`' },
  ERR_PUBLISH_TIMEOUT: {
    from: 'shim',
    meaning: '`publish` with `timeoutMs`: containerd did not take the event in time',
  },
  ERR_REAPER_NOT_RUNNING: { from: 'native', meaning: '`reapNow` before the reaper was started' },
  ERR_REAPER_RUNNING: {
    from: 'native, shim',
    meaning: 'the reaper already feeds another ExitMonitor',
  },
  ERR_REAPER_WORKER: { from: 'native', meaning: 'the reaper started from a worker thread' },
  ERR_RUNC: { from: 'runc', meaning: 'a runc command failed (`RuncError`)' },
  ERR_SOCKET_PATH: {
    from: 'native, shim',
    meaning: 'a unix socket path that is empty or longer than `sun_path`',
  },
  ERR_STREAM_CONCURRENT_READ: {
    from: 'ttrpc',
    meaning: 'a second `recv` on a stream while one is pending',
  },
  ERR_SUBSCRIPTION_CLOSED: {
    from: 'shim',
    meaning: 'waiting on an exit-monitor subscription that was closed',
  },
  ERR_TTRPC_ADDRESS_UNSET: {
    from: 'shim',
    meaning: 'serving without `TTRPC_ADDRESS` (containerd sets it to its ttrpc socket)',
  },
  ERR_TTRPC_CLOSED: { from: 'native', meaning: 'a frame sent on a closed channel' },
  ERR_TTRPC_MESSAGE_TOO_LARGE: {
    from: 'native',
    meaning: 'a frame payload over 4 MiB (the protocol maximum)',
  },
  ERR_TTRPC_WIRE_FORMAT: {
    from: 'ttrpc',
    meaning: 'a TTRPC Request/Response envelope that is not valid protobuf',
  },
  ERR_UNSUPPORTED_PLATFORM: {
    from: 'native, native loader, shim',
    meaning:
      'a function (or an abstract socket name) this platform lacks; the message names it and the platform',
  },
  ERR_WARM_ADOPT: {
    from: 'native',
    meaning: 'warm start: a standby could not take on the cgroups or limits of its requester',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** A code from ERROR_CODES. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An Error carrying one of this package's codes (and, for system errors, errno and syscall). */
export interface CodedError extends Error {
  code: ErrorCode;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** An Error (or TypeError/RangeError via `type`) with a catalogued `code`. */
export function codedError(
  code: ErrorCode,
  message: string,
  options: { cause?: unknown; type?: ErrorConstructor | TypeErrorConstructor } = {},
): CodedError {
  const Type = options.type ?? Error;
  const err = new Type(message, options.cause === undefined ? undefined : { cause: options.cause });
  return Object.assign(err, { code });
}

/**
 * An error shaped like Node's system errors (code ENOENT, ELOOP, ...) for a condition found
 * without a failing system call, or passed on from a child process.
 */
export function systemError(
  code: string,
  message: string,
  details: { errno?: number; syscall?: string; path?: string; cause?: unknown } = {},
): NodeJS.ErrnoException {
  const { cause, ...fields } = details;
  const err = new Error(message, cause === undefined ? undefined : { cause });
  return Object.assign(err, { code }, fields);
}

/** Whether `err` carries `code` (or, without one, any code of this catalogue). */
export function hasErrorCode(err: unknown, code?: ErrorCode): err is CodedError {
  const value = (err as { code?: unknown } | null)?.code;
  return typeof value === 'string' && (code === undefined ? value in ERROR_CODES : value === code);
}
