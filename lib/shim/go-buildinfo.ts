// Go's build information (what `go version -m` prints) read from an ELF executable without
// running it: the `.go.buildinfo` section holds the main package path and the modules linked in
// (Go 1.18+ layout, strings inline). A few small reads: cheap enough for a shim's `start`.
import * as fs from 'node:fs';

export interface GoModule {
  path: string;
  version: string;
}

export interface GoBuildInfo {
  /** e.g. `go1.24.4`. */
  goVersion: string;
  /** The main package, e.g. `github.com/containerd/containerd/v2/cmd/containerd`. */
  path: string;
  /** The main module, when the binary was built in module mode. */
  main?: GoModule;
  /** Dependencies (after `=>` replacements, the module path that was replaced is kept). */
  deps: GoModule[];
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const FLAG_INLINE = 2;
const HEADER_SIZE = 32;
/** Bounds on what is read from a file that may be anything. */
const TABLE_LIMIT = 1 << 20;
const SECTION_LIMIT = 1 << 20;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/** The bytes of section `name` of an ELF file, or undefined. */
function elfSection(fd: number, name: string): Buffer | undefined {
  const ident = readAt(fd, 0, 64);
  if (ident.length < 52 || ident.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = ident[4] === 2;
  const le = ident[5] === 1;
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number): number =>
    is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o);
  const shoff = word(ident, is64 ? 0x28 : 0x20);
  const shentsize = u16(ident, is64 ? 0x3a : 0x2e);
  const shnum = u16(ident, is64 ? 0x3c : 0x30);
  const shstrndx = u16(ident, is64 ? 0x3e : 0x32);
  if (shoff === 0 || shnum === 0 || shentsize < (is64 ? 0x28 : 0x20)) return undefined;
  if (shnum * shentsize > TABLE_LIMIT || shstrndx >= shnum) return undefined;
  const table = readAt(fd, shoff, shnum * shentsize);
  const header = (i: number): { name: number; offset: number; size: number } => {
    const at = i * shentsize;
    return {
      name: u32(table, at),
      offset: word(table, at + (is64 ? 0x18 : 0x10)),
      size: word(table, at + (is64 ? 0x20 : 0x14)),
    };
  };
  if (table.length < shnum * shentsize) return undefined;
  const strtab = header(shstrndx);
  if (strtab.size > TABLE_LIMIT) return undefined;
  const names = readAt(fd, strtab.offset, strtab.size);
  const wanted = Buffer.from(name + '\0');
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    if (names.subarray(h.name, h.name + wanted.length).equals(wanted)) {
      return h.size <= SECTION_LIMIT ? readAt(fd, h.offset, h.size) : undefined;
    }
  }
  return undefined;
}

/** The varint-length-prefixed bytes at `at`, and where the next ones start. */
function varBytes(buf: Buffer, at: number): [Buffer, number] | undefined {
  let length = 0;
  let shift = 0;
  for (;;) {
    if (at >= buf.length || shift > 28) return undefined;
    const byte = buf[at++]!;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
    shift += 7;
  }
  if (at + length > buf.length) return undefined;
  return [buf.subarray(at, at + length), at + length];
}

/** Parses the module lines of `runtime/debug.BuildInfo.String()`. */
function parseModInfo(goVersion: string, text: string): GoBuildInfo {
  const info: GoBuildInfo = { goVersion, path: '', deps: [] };
  for (const line of text.split('\n')) {
    const [kind, modPath = '', version = ''] = line.split('\t');
    if (kind === 'path') info.path = modPath;
    else if (kind === 'mod') info.main = { path: modPath, version };
    else if (kind === 'dep') info.deps.push({ path: modPath, version });
  }
  return info;
}

/**
 * Reads the Go build information of `file`; undefined when it is not an ELF Go executable with
 * inline build info (Go 1.18 and later), or cannot be read.
 */
export function readGoBuildInfo(file: string): GoBuildInfo | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const section = elfSection(fd, '.go.buildinfo');
    if (!section || section.length < HEADER_SIZE) return undefined;
    if (!section.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    if ((section[15]! & FLAG_INLINE) === 0) return undefined;
    const version = varBytes(section, HEADER_SIZE);
    if (!version) return undefined;
    const modinfo = varBytes(section, version[1]);
    if (!modinfo) return undefined;
    // modinfo is framed by 16-byte sentinels; the lines between them are plain text.
    const text = modinfo[0].length >= 32 ? modinfo[0].subarray(16, -16) : modinfo[0];
    return parseModInfo(version[0].toString('utf8'), text.toString('utf8'));
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
