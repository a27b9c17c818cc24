// Mounting a task's rootfs (containerd's `mount.All` / `Mount.Mount`, the Rust crate's
// `mount_rootfs`) and taking it down again (`UnmountRecursive`), over the addon's mount(2) and
// umount2(2). Linux only.
//
// Errors from the system calls carry code/errno/syscall/path (ENOENT, EINVAL, EPERM, ...). The
// helpers' own errors have these codes:
//   ERR_MOUNT_OPTIONS_TOO_LONG   the fs-specific data string does not fit in one page (mount(2)
//                                copies at most a page), even after overlay lowerdir compaction
//   ERR_MOUNT_OPTION_UNSUPPORTED `loop`, `uidmap=`/`gidmap=` (idmapped mounts) or an internal
//                                `X-containerd.*` option: not handled here
//   ERR_MOUNT_HELPER             the child process that mounts from another working directory
//                                (long overlay options) failed to run
import type * as ChildProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError, systemError } from '../../error-codes';
import { linux } from '../../native';
import { MS } from './mount-flags';

/**
 * A mount as containerd passes it: `containerd.types.Mount` properties (a decoded
 * CreateTaskRequest.rootfs entry can be passed as is). Absent type/source: none (a remount or
 * propagation change); absent options: none.
 */
export interface MountSpec {
  type?: string | null;
  source?: string | null;
  /** A path inside the mount target (containerd 2.x); empty/absent: the target itself. */
  target?: string | null;
  options?: readonly string[] | null;
}

/** fstab-style options split for mount(2). */
export interface ParsedMountOptions {
  /** MS_* flags for the mount call (no propagation flags). */
  flags: number;
  /** Filesystem-specific options, in order (joined with "," as mount(2)'s data). */
  data: string[];
  /** MS_PRIVATE/MS_SHARED/MS_SLAVE/MS_UNBINDABLE (| MS_REC), applied after the mount; 0: none. */
  propagation: number;
  /** The `loop` option was given (a loop device would be needed: not supported by mountRootfs). */
  loop: boolean;
}

/** One line of /proc/self/mountinfo. */
export interface MountInfo {
  id: number;
  parent: number;
  major: number;
  minor: number;
  /** The path inside the filesystem that is mounted here. */
  root: string;
  mountpoint: string;
  /** Per-mount options (rw, nosuid, ...). */
  options: string;
  /** Optional fields (shared:N, master:N, propagate_from:N, unbindable). */
  optional: string[];
  fstype: string;
  source: string;
  /** Superblock options. */
  superOptions: string;
}

const F = MS;

// containerd's table (core/mount/mount_linux.go parseMountOptions), the Rust crate's MOUNT_FLAGS.
const FLAG_OPTIONS: Record<string, { clear: boolean; flag: number }> = {
  async: { clear: true, flag: F.MS_SYNCHRONOUS },
  atime: { clear: true, flag: F.MS_NOATIME },
  bind: { clear: false, flag: F.MS_BIND },
  defaults: { clear: false, flag: 0 },
  dev: { clear: true, flag: F.MS_NODEV },
  diratime: { clear: true, flag: F.MS_NODIRATIME },
  dirsync: { clear: false, flag: F.MS_DIRSYNC },
  exec: { clear: true, flag: F.MS_NOEXEC },
  mand: { clear: false, flag: F.MS_MANDLOCK },
  noatime: { clear: false, flag: F.MS_NOATIME },
  nodev: { clear: false, flag: F.MS_NODEV },
  nodiratime: { clear: false, flag: F.MS_NODIRATIME },
  noexec: { clear: false, flag: F.MS_NOEXEC },
  nomand: { clear: true, flag: F.MS_MANDLOCK },
  norelatime: { clear: true, flag: F.MS_RELATIME },
  nostrictatime: { clear: true, flag: F.MS_STRICTATIME },
  nosuid: { clear: false, flag: F.MS_NOSUID },
  rbind: { clear: false, flag: F.MS_BIND | F.MS_REC },
  relatime: { clear: false, flag: F.MS_RELATIME },
  remount: { clear: false, flag: F.MS_REMOUNT },
  ro: { clear: false, flag: F.MS_RDONLY },
  rw: { clear: true, flag: F.MS_RDONLY },
  strictatime: { clear: false, flag: F.MS_STRICTATIME },
  suid: { clear: true, flag: F.MS_NOSUID },
  sync: { clear: false, flag: F.MS_SYNCHRONOUS },
};

// runc's propagation names (libcontainer/specconv mountPropagationMapping).
const PROPAGATION_OPTIONS: Record<string, number> = {
  private: F.MS_PRIVATE,
  rprivate: F.MS_PRIVATE | F.MS_REC,
  shared: F.MS_SHARED,
  rshared: F.MS_SHARED | F.MS_REC,
  slave: F.MS_SLAVE,
  rslave: F.MS_SLAVE | F.MS_REC,
  unbindable: F.MS_UNBINDABLE,
  runbindable: F.MS_UNBINDABLE | F.MS_REC,
};

const PROPAGATION_TYPES = F.MS_SHARED | F.MS_PRIVATE | F.MS_SLAVE | F.MS_UNBINDABLE;
const MNT_DETACH = 2;

/**
 * Splits fstab-style options into mount(2) flags, propagation and fs-specific data, like
 * containerd's parseMountOptions (flag names set or clear MS_* bits, in order), plus the
 * propagation names (private, rslave, ...; the last one wins). Anything else is data
 * (overlay's lowerdir=..., tmpfs's size=..., ...).
 */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  let loop = false;
  const data: string[] = [];
  for (const option of options) {
    const f = Object.prototype.hasOwnProperty.call(FLAG_OPTIONS, option)
      ? FLAG_OPTIONS[option]
      : undefined;
    if (f !== undefined) {
      flags = f.clear ? flags & ~f.flag : flags | f.flag;
    } else if (Object.prototype.hasOwnProperty.call(PROPAGATION_OPTIONS, option)) {
      propagation = PROPAGATION_OPTIONS[option];
    } else if (option === 'loop') {
      loop = true;
    } else {
      data.push(option);
    }
  }
  return { flags, data, propagation, loop };
}

let cachedPageSize: number | undefined;

/** No Linux page is smaller. */
const MIN_PAGE_SIZE = 4096;

/**
 * `bytes >= pageSize() - margin`, reading the page size only for sizes near a page: the usual
 * rootfs mount does not read /proc/self/auxv on containerd's clock (0.5-2 ms in a daemon's first
 * Create, traced).
 */
function pageBound(bytes: number, margin: number): boolean {
  return bytes >= MIN_PAGE_SIZE - margin && bytes >= pageSize() - margin;
}

/** The system page size (AT_PAGESZ from /proc/self/auxv; 4096 if that can't be read). */
export function pageSize(): number {
  if (cachedPageSize !== undefined) return cachedPageSize;
  cachedPageSize = 4096;
  try {
    const auxv = fs.readFileSync('/proc/self/auxv');
    const wide = ['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'].includes(
      process.arch,
    );
    const word = wide ? 8 : 4;
    const read = (at: number): number =>
      wide ? Number(auxv.readBigUInt64LE(at)) : auxv.readUInt32LE(at);
    for (let at = 0; at + 2 * word <= auxv.length; at += 2 * word) {
      const type = read(at);
      if (type === 0) break;
      if (type === 6 /* AT_PAGESZ */) {
        cachedPageSize = read(at + word);
        break;
      }
    }
  } catch {
    // keep 4096
  }
  return cachedPageSize;
}

// containerd's compactLowerdirOption: the lowerdirs relative to their common parent directory,
// which becomes the working directory of the mount call.
function compactLowerdirOption(options: readonly string[]): { chdir?: string; options: string[] } {
  const idx = options.findIndex((o) => o.startsWith('lowerdir='));
  if (idx === -1) return { options: [...options] };
  const dirs = options[idx].slice('lowerdir='.length).split(':');
  if (dirs.length === 1) return { options: [...options] };
  let prefix = dirs[0];
  for (const dir of dirs.slice(1)) {
    let i = 0;
    while (i < prefix.length && i < dir.length && prefix[i] === dir[i]) i++;
    prefix = prefix.slice(0, i);
  }
  // Back to a directory boundary: the layers are usually .../snapshots/<digits>, whose names
  // share leading digits.
  const common = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  if (common === '' || common === '/') return { options: [...options] };
  const relative = dirs.map((d) => d.slice(common.length));
  const out = options.filter((_, i) => i !== idx);
  out.push(`lowerdir=${relative.join(':')}`);
  return { chdir: common, options: out };
}

// Runs mount(2) in a short-lived Node child whose working directory is `cwd`, so relative paths
// in the data (compacted overlay lowerdirs) resolve there without touching this process's cwd
// (which concurrent work on the threadpool may depend on). spawnSync waits for the child on its
// own loop, so the shim's reaper never sees it.
const MOUNT_IN_CHILD = `
const [, nativeModule, json] = process.argv;
const a = JSON.parse(json);
try {
  require(nativeModule).linux.mount(a.source, a.target, a.fstype, a.flags, a.data);
} catch (e) {
  process.stdout.write(JSON.stringify({ message: e.message, code: e.code, errno: e.errno, syscall: e.syscall }));
  process.exit(3);
}
`;

function mountIn(
  cwd: string | undefined,
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string,
): void {
  if (cwd === undefined) {
    linux.mount(source || null, target, fstype || null, flags, data || null);
    return;
  }
  if (!fs.statSync(cwd).isDirectory()) {
    throw systemError('ENOTDIR', `mount: ${cwd} (lowerdir parent) is not a directory`);
  }
  const nativeModule = path.join(__dirname, '..', '..', 'native');
  const args = JSON.stringify({ source, target: path.resolve(target), fstype, flags, data });
  // Loaded here: only long overlay options need it, and a daemon keeps what it loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof ChildProcess;
  const result = spawnSync(process.execPath, ['-e', MOUNT_IN_CHILD, nativeModule, args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  if (result.error !== undefined) {
    throw codedError('ERR_MOUNT_HELPER', `mount helper failed: ${result.error.message}`, {
      cause: result.error,
    });
  }
  if (result.status === 0) return;
  if (result.status === 3) {
    const info = JSON.parse(result.stdout) as {
      message: string;
      code?: string;
      errno?: number;
      syscall?: string;
    };
    // The helper's mount(2) failure, as the helper reported it.
    if (info.code === undefined) throw codedError('ERR_MOUNT_HELPER', info.message);
    throw systemError(info.code, info.message, {
      ...(info.errno !== undefined && { errno: info.errno }),
      ...(info.syscall !== undefined && { syscall: info.syscall }),
      path: target,
    });
  }
  throw codedError(
    'ERR_MOUNT_HELPER',
    `mount helper exited with ${result.status ?? result.signal}: ${result.stderr.trim()}`,
  );
}

/**
 * `unsafePath` resolved inside `root` as if `root` were `/` (symlinks included), like
 * continuity's fs.RootPath: the result never leaves `root`.
 */
export function rootPath(root: string, unsafePath: string): string {
  const base = path.resolve(root);
  let pending = unsafePath.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const component = pending.shift() as string;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(base, ...resolved, component);
    let target: string | undefined;
    try {
      if (fs.lstatSync(candidate).isSymbolicLink()) target = fs.readlinkSync(candidate);
    } catch {
      // a missing component: kept as is
    }
    if (target === undefined) {
      resolved.push(component);
      continue;
    }
    if (++links > 255) {
      throw systemError('ELOOP', `too many symbolic links resolving ${unsafePath} in ${root}`);
    }
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...pending];
  }
  return path.join(base, ...resolved);
}

function mountpointOf(mount: MountSpec, target: string): string {
  return mount.target ? rootPath(target, mount.target) : target;
}

function bytes(options: readonly string[]): number {
  return options.reduce((n, o) => n + Buffer.byteLength(o), 0);
}

/**
 * Mounts one containerd mount at `target` (or at `mount.target` inside it), the way containerd's
 * Mount.Mount does: mount(2) with the flags (unless it is a plain remount), then the propagation
 * change, then for a read-only bind mount the MS_REMOUNT|MS_BIND|MS_RDONLY that makes it
 * read-only. If a later step fails, the mount made by the first is detached again.
 *
 * Overlay options longer than a page minus 512 bytes are compacted like containerd and the Rust
 * crate do: the lowerdirs become relative to their common parent and the mount runs in a child
 * process with that working directory. If the data still does not fit in a page, it throws
 * ERR_MOUNT_OPTIONS_TOO_LONG before any mount(2).
 */
export function mountRootfs(mount: MountSpec, target: string): void {
  const mountpoint = mountpointOf(mount, target);
  const type = mount.type ?? '';
  let options: readonly string[] = mount.options ?? [];
  let chdir: string | undefined;
  if (type === 'overlay' && pageBound(bytes(options), 512)) {
    ({ chdir, options } = compactLowerdirOption(options));
  }
  const unsupported = options.find(
    (o) => o.startsWith('X-containerd.') || o.startsWith('uidmap=') || o.startsWith('gidmap='),
  );
  if (unsupported !== undefined) {
    throw codedError(
      'ERR_MOUNT_OPTION_UNSUPPORTED',
      `mount option "${unsupported}" is not supported (${type} at ${mountpoint})`,
    );
  }
  const opts = parseMountOptions(options);
  if (opts.loop) {
    throw codedError(
      'ERR_MOUNT_OPTION_UNSUPPORTED',
      `mount option "loop" is not supported (${type} ${mount.source ?? ''} at ${mountpoint})`,
    );
  }
  const data = opts.data.join(',');
  if (pageBound(Buffer.byteLength(data), 0)) {
    throw codedError(
      'ERR_MOUNT_OPTIONS_TOO_LONG',
      `mount options of ${type} at ${mountpoint} are too long: ${Buffer.byteLength(data)} ` +
        `bytes of data, mount(2) takes at most ${pageSize() - 1}`,
    );
  }
  const oflags = opts.flags & ~PROPAGATION_TYPES;
  let mounted = false;
  // A remount without data changes flags only through the bind remount below (moby/moby#34077).
  if ((opts.flags & F.MS_REMOUNT) === 0 || data !== '') {
    mountIn(chdir, mount.source ?? '', mountpoint, type, oflags, data);
    mounted = (opts.flags & F.MS_REMOUNT) === 0;
  }
  try {
    if (opts.propagation !== 0) {
      linux.mount(null, mountpoint, null, opts.propagation, null);
    }
    const bindRo = F.MS_BIND | F.MS_RDONLY;
    if ((oflags & bindRo) === bindRo) {
      linux.mount(null, mountpoint, null, oflags | F.MS_REMOUNT, null);
    }
  } catch (err) {
    if (mounted) {
      try {
        linux.umount2(mountpoint, MNT_DETACH);
      } catch {
        // report the original error
      }
    }
    throw err;
  }
}

/**
 * Mounts each of `mounts` at `target` in order (containerd's mount.All). If one fails, the ones
 * already mounted are detached again, last first, and the error is rethrown (with `mountIndex`).
 */
export function mountAll(mounts: readonly MountSpec[], target: string): void {
  const done: string[] = [];
  for (let i = 0; i < mounts.length; i++) {
    try {
      mountRootfs(mounts[i], target);
      done.push(mountpointOf(mounts[i], target));
    } catch (err) {
      for (const mountpoint of done.reverse()) {
        try {
          linux.umount2(mountpoint, MNT_DETACH);
        } catch {
          // keep going; the original error is what matters
        }
      }
      if (err instanceof Error) (err as Error & { mountIndex?: number }).mountIndex = i;
      throw err;
    }
  }
}

/**
 * Unmounts `mounts` from `target` in reverse order (containerd's UnmountMounts): each
 * mountpoint is unmounted until nothing is mounted there any more.
 */
export function unmountMounts(mounts: readonly MountSpec[], target: string): void {
  let first: unknown;
  for (let i = mounts.length - 1; i >= 0; i--) {
    try {
      unmountAll(mountpointOf(mounts[i], target));
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text (proc(5)). */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (fields.length < 10 || sep === -1) continue;
    const [major, minor] = fields[2].split(':').map(Number);
    out.push({
      id: Number(fields[0]),
      parent: Number(fields[1]),
      major,
      minor,
      root: unescapeMountinfo(fields[3]),
      mountpoint: unescapeMountinfo(fields[4]),
      options: fields[5],
      optional: fields.slice(6, sep),
      fstype: fields[sep + 1],
      source: unescapeMountinfo(fields[sep + 2]),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return out;
}

/** The mounts of a process's mount namespace (default: this process). */
export function readMountInfo(pid: number | 'self' = 'self'): MountInfo[] {
  return parseMountInfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

function canonical(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether something is mounted at `p` (symlinks resolved); false if `p` does not exist. */
export function isMountPoint(p: string): boolean {
  const real = canonical(p);
  if (real === undefined) return false;
  return readMountInfo().some((m) => m.mountpoint === real);
}

/** umount2's answer when nothing is mounted there any more: EINVAL (not a mount point), ENOENT. */
function notMounted(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'ENOENT';
}

// Unmounts everything stacked on `mountpoint` (containerd's UnmountAll): nothing mounted there
// any more ends it; EBUSY falls back to a lazy unmount.
function unmountAll(mountpoint: string): void {
  for (let i = 0; i < 1000; i++) {
    try {
      linux.umount2(mountpoint, 0);
    } catch (err) {
      if (notMounted(err)) return;
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      try {
        linux.umount2(mountpoint, MNT_DETACH);
      } catch (err2) {
        if (notMounted(err2)) return;
        throw err2;
      }
    }
  }
}

// O_PATH (asm-generic and x86; Node's fs.constants lacks it): a descriptor that only names a
// file, enough to hold its mount.
const O_PATH = 0o10000000;

// unmountAll, each mount held by an O_PATH descriptor (pushed to `held`) while it is detached.
function detachAll(mountpoint: string, held: number[]): void {
  for (let i = 0; i < 1000; i++) {
    let fd: number;
    try {
      fd = fs.openSync(mountpoint, O_PATH);
    } catch {
      unmountAll(mountpoint);
      return;
    }
    try {
      linux.umount2(mountpoint, MNT_DETACH);
    } catch (err) {
      fs.closeSync(fd); // not a mount (any more): the descriptor held the directory only
      if (notMounted(err)) return;
      throw err;
    }
    held.push(fd);
  }
}

/**
 * The mountpoints in mountinfo `text` that are `dir` or below it (`dir` canonical, no trailing
 * slash). Only the mountpoint field is read and unescaped: a shim's Delete runs this once per
 * container, on containerd's clock, in a daemon that never ran it before.
 */
function mountpointsUnder(text: string, dir: string): string[] {
  const prefix = dir === '/' ? '/' : `${dir}/`;
  const out = new Set<string>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    // "id parent major:minor root mountpoint ...": the fifth field.
    let field = start;
    for (let i = 0; i < 4 && field !== -1; i++) {
      field = text.indexOf(' ', field) + 1 || -1;
      if (field > end) field = -1;
    }
    if (field !== -1) {
      let fieldEnd = text.indexOf(' ', field);
      if (fieldEnd === -1 || fieldEnd > end) fieldEnd = end;
      const raw = text.slice(field, fieldEnd);
      const mountpoint = raw.includes('\\') ? unescapeMountinfo(raw) : raw;
      if (mountpoint === dir || mountpoint.startsWith(prefix)) out.add(mountpoint);
    }
    start = end + 1;
  }
  return [...out];
}

/**
 * Unmounts everything mounted at or below `target` (containerd's UnmountRecursive): the
 * mountpoints from /proc/self/mountinfo, deepest first, each until nothing is stacked there;
 * EBUSY falls back to MNT_DETACH, mounts already gone (EINVAL/ENOENT) are skipped. A missing
 * `target` is not an error. Throws the first failure after trying every mountpoint.
 */
export function unmountRecursive(target: string): void {
  forEachMountpoint(target, unmountAll);
}

/**
 * unmountRecursive, but what the kernel does once a filesystem's last mount is gone runs on a
 * thread of its own. That work is not the unmount itself: the mount leaves the mount table within
 * umount2(2), and the filesystem is shut down on the caller's way back from it, where an overlay
 * syncs its upper filesystem (`sync_filesystem` of the whole filesystem the snapshots live on:
 * its writeback and a cache flush, 1–20 ms on a machine writing elsewhere, more under heavy
 * I/O). Here each mount is held by an `O_PATH` descriptor while it is detached (`MNT_DETACH`:
 * gone from the mount table, and from every path, when this returns, as after a plain
 * unmount), and the descriptors are closed on a detached native thread, where the last
 * references, and the sync, are dropped. A mount that cannot be held (open fails) is unmounted
 * as unmountRecursive does. Throws what unmountRecursive throws (what was detached before is
 * released all the same).
 */
export function detachRecursive(target: string): void {
  const held: number[] = [];
  try {
    forEachMountpoint(target, (mountpoint) => detachAll(mountpoint, held));
  } finally {
    if (held.length > 0) linux.closeDetached(held);
  }
}

/**
 * Calls `unmount` for each mountpoint at or below `target`, deepest first (see
 * unmountRecursive); throws the first failure after trying every one.
 */
function forEachMountpoint(target: string, unmount: (mountpoint: string) => void): void {
  if (target === '') return;
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  // mountinfo names canonical paths: when `target` is found there as given it is canonical
  // (a path through a symlink never is), and resolving it (a stat per component) is skipped.
  const given = path.isAbsolute(target) ? path.normalize(target).replace(/(.)\/$/, '$1') : '';
  let mountpoints = given === '' ? [] : mountpointsUnder(text, given);
  if (mountpoints.length === 0) {
    const real = canonical(target);
    if (real === undefined) return;
    mountpoints = mountpointsUnder(text, real);
  }
  mountpoints.sort((a, b) => b.length - a.length);
  let first: unknown;
  for (const mountpoint of mountpoints) {
    try {
      unmount(mountpoint);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
