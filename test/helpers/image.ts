// Builds tiny OCI images (image-layout tarballs, as understood by `ctr images import`): busybox
// from the statically linked /bin/busybox of the busybox-static package, and a pod sandbox
// ("pause") image from test/fixtures/pause.c compiled static with gcc. No registry, no network.
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export const BUSYBOX_BINARY = '/bin/busybox';

/** Applets symlinked into /bin of the image (all present in Debian's busybox-static). */
export const BUSYBOX_APPLETS: readonly string[] = [
  '[',
  'basename',
  'cat',
  'chmod',
  'cp',
  'cut',
  'date',
  'dd',
  'dirname',
  'echo',
  'env',
  'false',
  'grep',
  'head',
  'hostname',
  'id',
  'kill',
  'ln',
  'ls',
  'mkdir',
  'mv',
  'nproc',
  'printf',
  'ps',
  'pwd',
  'rm',
  'sed',
  'seq',
  'sh',
  'sleep',
  'stat',
  'stty',
  'tail',
  'tee',
  'test',
  'touch',
  'tr',
  'true',
  'tty',
  'uname',
  'wc',
  'yes',
];

// Fixed timestamp so identical inputs give identical digests.
const MTIME = 1_700_000_000;
const CREATED = new Date(MTIME * 1000).toISOString();

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  data?: Buffer;
  linkname?: string;
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar: field too long: ${value}`);
  bytes.copy(buf, offset);
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits followed by NUL
  writeString(buf, offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
}

function tarHeader(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  writeString(h, 0, 100, entry.name);
  writeOctal(h, 100, 8, entry.mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, MTIME);
  h.fill(0x20, 148, 156); // checksum placeholder: spaces
  h.write({ file: '0', dir: '5', symlink: '2' }[entry.type], 156, 'latin1');
  if (entry.linkname !== undefined) writeString(h, 157, 100, entry.linkname);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, 'root');
  writeString(h, 297, 32, 'root');
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Minimal ustar writer (names < 100 bytes, uid/gid 0). */
function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.type === 'file' ? (entry.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    parts.push(tarHeader(entry, data.length));
    if (data.length > 0) {
      parts.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024)); // end-of-archive marker
  return Buffer.concat(parts);
}

function sha256(data: Buffer | string): string {
  return 'sha256:' + crypto.createHash('sha256').update(data).digest('hex');
}

/** OCI/Go architecture name of the host. */
export function hostArchitecture(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
  };
  return map[process.arch] ?? process.arch;
}

function layerEntries(busybox: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  const dir = (name: string, mode = 0o755): void => {
    entries.push({ name: `${name}/`, type: 'dir', mode });
  };
  dir('bin');
  entries.push({ name: 'bin/busybox', type: 'file', mode: 0o755, data: busybox });
  for (const applet of BUSYBOX_APPLETS) {
    entries.push({ name: `bin/${applet}`, type: 'symlink', mode: 0o777, linkname: 'busybox' });
  }
  dir('dev');
  dir('etc');
  entries.push({
    name: 'etc/passwd',
    type: 'file',
    mode: 0o644,
    data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'),
  });
  entries.push({
    name: 'etc/group',
    type: 'file',
    mode: 0o644,
    data: Buffer.from('root:x:0:\nnogroup:x:65534:\n'),
  });
  dir('proc', 0o555);
  dir('root', 0o700);
  dir('sys', 0o555);
  dir('tmp', 0o1777);
  return entries;
}

/**
 * Writes `<dir>/busybox-oci.tar`, an OCI image layout (oci-layout, index.json, blobs/sha256/*)
 * with one gzip layer holding /bin/busybox and applet symlinks. The index entry carries both
 * `io.containerd.image.name` (full ref, used as-is by `ctr images import`) and
 * `org.opencontainers.image.ref.name` (the tag). Returns the tarball's path.
 */
export async function buildBusyboxImage(
  dir: string,
  ref = 'docker.io/library/busybox:local',
): Promise<string> {
  const busybox = await fs.promises.readFile(BUSYBOX_BINARY);
  return writeImage(path.join(dir, 'busybox-oci.tar'), ref, layerEntries(busybox), {
    Cmd: ['sh'],
  });
}

const PAUSE_SOURCE = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'pause.c');

/**
 * Writes `<dir>/pause-oci.tar`: a pod sandbox image whose only file is /pause, compiled here
 * from test/fixtures/pause.c (`gcc -static`). Returns the tarball's path.
 */
export async function buildPauseImage(dir: string, ref: string): Promise<string> {
  const binary = path.join(dir, 'pause');
  await new Promise<void>((resolve, reject) =>
    execFile('gcc', ['-static', '-Os', '-s', '-o', binary, PAUSE_SOURCE], (err, _out, stderr) =>
      err ? reject(new Error(`gcc pause.c: ${err.message}\n${stderr}`)) : resolve(),
    ),
  );
  const pause = await fs.promises.readFile(binary);
  await fs.promises.rm(binary, { force: true });
  return writeImage(
    path.join(dir, 'pause-oci.tar'),
    ref,
    [{ name: 'pause', type: 'file', mode: 0o755, data: pause }],
    { Entrypoint: ['/pause'] },
  );
}

/** An OCI image-layout tarball at `out` with one layer of `entries` and `runConfig`. */
async function writeImage(
  out: string,
  ref: string,
  entries: TarEntry[],
  runConfig: { Entrypoint?: string[]; Cmd?: string[] },
): Promise<string> {
  const layerTar = tar(entries);
  const layer = zlib.gzipSync(layerTar, { level: 6 });

  const config = Buffer.from(
    JSON.stringify({
      created: CREATED,
      architecture: hostArchitecture(),
      os: 'linux',
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...runConfig,
        WorkingDir: '/',
      },
      rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
      history: [{ created: CREATED, created_by: 'containerd-shim test/helpers/image.ts' }],
    }),
  );

  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: sha256(layer),
          size: layer.length,
        },
      ],
    }),
  );

  const tagIndex = ref.lastIndexOf(':');
  const tag = tagIndex > ref.lastIndexOf('/') ? ref.slice(tagIndex + 1) : 'latest';
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha256(manifest),
          size: manifest.length,
          platform: { architecture: hostArchitecture(), os: 'linux' },
          annotations: {
            'io.containerd.image.name': ref,
            'org.opencontainers.image.ref.name': tag,
          },
        },
      ],
    }),
  );

  const blob = (data: Buffer): TarEntry => ({
    name: `blobs/sha256/${sha256(data).slice('sha256:'.length)}`,
    type: 'file',
    mode: 0o644,
    data,
  });
  const archive = tar([
    {
      name: 'oci-layout',
      type: 'file',
      mode: 0o644,
      data: Buffer.from('{"imageLayoutVersion":"1.0.0"}'),
    },
    { name: 'index.json', type: 'file', mode: 0o644, data: index },
    { name: 'blobs/', type: 'dir', mode: 0o755 },
    { name: 'blobs/sha256/', type: 'dir', mode: 0o755 },
    blob(config),
    blob(manifest),
    blob(layer),
  ]);

  await fs.promises.writeFile(out, archive);
  return out;
}
