// Which task API version the containerd running `start` accepts, found without configuration.
// Version 3 (containerd.task.v3, and with it the sandbox fast path: containerd 2.x attaches a
// pod's further containers to the shim without running `start` or `delete`) is accepted by 2.0
// and later; 1.6 reads only a plain address and 1.7 refuses anything above 2. The signals, in
// the order they are tried:
//   - 2.3+ speaks the bootstrap protocol (BootstrapParams on stdin): 3.
//   - 1.6 sets no MAX_SHIM_VERSION (1.7 added it, always "2", even on 2.x): 2.
//   - 1.7 or 2.0–2.2: containerd's own binary (`-publish-binary`) names its Go module in its
//     build info: github.com/containerd/containerd (1.x) or .../v2 (2.x).
//   - else (a binary that embeds containerd under another name, without build info): the major
//     version containerd's gRPC Version service reports.
// Anything unknown answers 2, which every generation accepts.
import type { StartOpts } from './spawn';
import { readGoBuildInfo } from './go-buildinfo';
import type { GoBuildInfo } from './go-buildinfo';

const CONTAINERD_MODULE = 'github.com/containerd/containerd';
const VERSION_METHOD = '/containerd.services.version.v1.Version/Version';
const QUERY_TIMEOUT_MS = 2000;

export type TaskApiVersion = 2 | 3;

/** containerd's major version from a binary's Go build info, or undefined. */
export function containerdMajor(info: GoBuildInfo): number | undefined {
  const major = (rest: string): number => {
    const m = /^\/v(\d+)(?:\/|$)/.exec(rest);
    return m ? Number(m[1]) : 1;
  };
  // The main package (`.../containerd[/vN]/cmd/containerd`) names the module even in builds
  // without module information (Debian's); else a module of that exact path linked in.
  if (info.path === CONTAINERD_MODULE || info.path.startsWith(CONTAINERD_MODULE + '/')) {
    return major(info.path.slice(CONTAINERD_MODULE.length));
  }
  for (const mod of [...(info.main ? [info.main] : []), ...info.deps]) {
    if (mod.path === CONTAINERD_MODULE) return 1;
    const m = /^github\.com\/containerd\/containerd\/v(\d+)$/.exec(mod.path);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** The leading major number of a version string such as `v2.1.9`, `2.1.9+unknown`, `1.7.24~ds1`. */
export function majorOf(version: string): number | undefined {
  const m = /^v?(\d+)\./.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * Asks containerd's gRPC Version service at `address` (a unix socket path) for its version:
 * one unary HTTP/2 call with an empty request; rejects on any failure or after `timeoutMs`.
 */
export async function queryContainerdVersion(
  address: string,
  timeoutMs = QUERY_TIMEOUT_MS,
): Promise<string> {
  // Loaded only on this rare path: node:http2 costs ~10 ms to load.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const http2 = require('node:http2') as typeof import('node:http2');
  const net = require('node:net') as typeof import('node:net');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const socket = address.replace(/^unix:\/\//, '');
  return new Promise<string>((resolve, reject) => {
    const session = http2.connect('http://containerd', {
      createConnection: () => net.connect(socket),
    });
    const timer = setTimeout(() => fail(new Error('containerd Version: timed out')), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    const stream = session.request({
      ':method': 'POST',
      ':path': VERSION_METHOD,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    stream.on('response', (headers) => (status = headers['grpc-status'] as string | undefined));
    stream.on('trailers', (trailers) => (status = trailers['grpc-status'] as string | undefined));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', fail);
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      const body = Buffer.concat(chunks);
      const version = status === '0' ? versionField(body) : undefined;
      if (version === undefined) reject(new Error(`containerd Version: grpc-status ${status}`));
      else resolve(version);
    });
    // One gRPC message, uncompressed and empty (the request is google.protobuf.Empty).
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

/** Field 1 (`version`, a string) of the VersionResponse in a gRPC length-prefixed message. */
function versionField(body: Buffer): string | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const message = body.subarray(5, 5 + body.readUInt32BE(1));
  let at = 0;
  while (at < message.length) {
    const tag = message[at++]!;
    if ((tag & 7) !== 2) return undefined; // VersionResponse has only strings
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      if (at >= message.length || shift > 28) return undefined;
      const byte = message[at++]!;
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    if (tag >> 3 === 1) return message.toString('utf8', at, at + length);
    at += length;
  }
  return undefined;
}

/** Whether a containerd of major version `major` takes version 3. */
const versionFor = (major: number | undefined): TaskApiVersion =>
  major !== undefined && major >= 2 ? 3 : 2;

/**
 * The highest task API version the containerd that ran this `start` accepts: 3 from containerd
 * 2.0 on, else 2. A shim that answers 3 must serve containerd.task.v3 (the SDK registers it) and
 * clean up every container in Task.Delete, since containerd then runs neither `start` nor
 * `delete` for the further containers of a pod.
 */
export async function taskApiVersion(
  opts: Pick<StartOpts, 'bootstrap' | 'containerdVersion' | 'publishBinary' | 'address'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TaskApiVersion> {
  if (opts.bootstrap) return versionFor(majorOf(opts.containerdVersion ?? '') ?? 2);
  const max = env.MAX_SHIM_VERSION;
  if (max === undefined || max === '') return 2; // containerd 1.6
  if (Number(max) >= 3) return 3;
  if (opts.publishBinary !== '') {
    const info = readGoBuildInfo(opts.publishBinary);
    const major = info ? containerdMajor(info) : undefined;
    if (major !== undefined) return versionFor(major);
  }
  if (opts.address === '') return 2;
  try {
    return versionFor(majorOf(await queryContainerdVersion(opts.address)));
  } catch {
    return 2;
  }
}
