// The native addon, one typed view per part of native/ (types.ts): `posix`, `linux`, `win`, and
// `addonPlatform` (core). Every view exists on every platform, so every module of this package
// loads everywhere; a member the running build lacks throws ERR_UNSUPPORTED_PLATFORM, naming
// itself and the platform, when it is called, constructed or read.
import { codedError } from '../error-codes';
import { loadAddon } from './load';
import type { CoreBinding, LinuxBinding, NativePlatform, PosixBinding, WinBinding } from './types';

export type * from './types';

/** The keys of T, checked complete at compile time (a missing or extra key is a type error). */
function keys<T>() {
  return <const K extends readonly (keyof T)[]>(
    ...list: K & ([keyof T] extends [K[number]] ? unknown : ['missing keys of the binding'])
  ): K => list;
}

// The members of each part, as the addon exports them.
const POSIX = keys<PosixBinding>()(
  'Channel',
  'writeHighWaterMark',
  'staging',
  'spinStats',
  'spinAlways',
  'FdWatcher',
  'unixListen',
  'unixConnect',
  'accept',
  'peerCredentials',
  'recvFd',
  'socketPair',
  'isListeningSocket',
  'localAddress',
  'setNonBlocking',
  'setCloexec',
  'closeFd',
  'dup2',
  'pipe',
  'setWindowSize',
  'queuedBytes',
  'pollNow',
  'spawn',
);
const LINUX = keys<LinuxBinding>()(
  'setSubreaper',
  'isSubreaper',
  'startReaper',
  'reapNow',
  'pidfdOpen',
  'pidfdReap',
  'mount',
  'umount2',
  'closeDetached',
  'eventfd',
  'mountFlags',
  'mallocTrim',
  'v8ReduceMemory',
  'warmHandDaemon',
  'warmHello',
  'warmReceive',
  'warmReply',
  'warmAdopt',
  'warmRenice',
  'warmSetImage',
  'warmFdIds',
  'warmTopUp',
  'moduleWatchAdd',
  'moduleWatchChanged',
  'moduleWatchClose',
  'bootCacheChecksum',
  'bootCacheIdentities',
  'bootCacheFunctionCode',
  'bootCacheSources',
);
const WIN = keys<WinBinding>()(
  'PipeChannel',
  'PipeListener',
  'writeHighWaterMark',
  'pipeConnect',
  'closeHandle',
  'setStdHandleInheritance',
);

/** Which parts each build has. */
const PARTS: Record<NativePlatform, readonly ('posix' | 'linux' | 'win')[]> = {
  linux: ['posix', 'linux'],
  posix: ['posix'],
  win32: ['win'],
};

// Members that are data, not functions.
const VALUES = new Set<string>(['writeHighWaterMark', 'mountFlags']);

function unsupported(part: string, key: string): Error {
  const what = VALUES.has(key) ? key : `${key}()`;
  return codedError(
    'ERR_UNSUPPORTED_PLATFORM',
    `${what} is not supported on ${process.platform}: it belongs to the native addon's ${part} ` +
      `layer, which the ${String(addon.platform)} build does not have`,
  );
}

function missingMember(key: string): Error {
  return codedError(
    'ERR_NATIVE_ADDON_MISSING',
    `the native addon (${String(addon.platform)} build) lacks ${key}: it is older or newer than ` +
      'this package; rebuild it (npm run build:native)',
  );
}

/** Throws `error()` when called, or constructed (a plain function, so `new` reaches it too). */
function thrower(key: string, error: () => Error): () => never {
  const fn = function (): never {
    throw error();
  };
  Object.defineProperty(fn, 'name', { value: key });
  return fn;
}

/**
 * The view of one part: the addon's own members where the build has the part, else stand-ins
 * that throw when called, constructed or read. Properties stay writable (tests wrap constructors).
 */
function view<T>(part: 'posix' | 'linux' | 'win', names: readonly (keyof T)[]): T {
  const has = PARTS[addon.platform as NativePlatform]?.includes(part) ?? false;
  const out: Record<string, unknown> = {};
  for (const key of names as readonly string[]) {
    if (has && addon[key] !== undefined) {
      out[key] = addon[key];
      continue;
    }
    const error = has ? () => missingMember(key) : () => unsupported(part, key);
    if (!VALUES.has(key)) {
      out[key] = thrower(key, error);
      continue;
    }
    Object.defineProperty(out, key, {
      enumerable: true,
      configurable: true,
      get(): never {
        throw error();
      },
      set(value: unknown) {
        Object.defineProperty(out, key, { value, writable: true, enumerable: true });
      },
    });
  }
  return out as T;
}

const addon = loadAddon();

/** The platform the addon was built for: "linux", "posix" (macOS, the BSDs) or "win32". */
export const addonPlatform: NativePlatform = (addon as unknown as CoreBinding).platform;
/** POSIX sockets, fds, terminals and spawn (Linux, macOS, the BSDs). */
export const posix: PosixBinding = view<PosixBinding>('posix', POSIX);
/** Linux only: subreaper, reaper, mounts, eventfd, warm start. */
export const linux: LinuxBinding = view<LinuxBinding>('linux', LINUX);
/** Windows only: named pipes. */
export const win: WinBinding = view<WinBinding>('win', WIN);
