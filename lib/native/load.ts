// Loads the C++ addon through node-gyp-build: a local build/Release or build/Debug (a build from
// source) if there is one, else the prebuilt binary for this platform, arch and libc from
// prebuilds/<platform>-<arch>/ (see prebuilds/README.md). No binary, or one that does not load,
// is one error with code ERR_NATIVE_ADDON_MISSING that says what is missing and how to build it.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError } from '../error-codes';

/** "linux x64 glibc 2.36", "linux arm64 musl", "win32 x64". */
function describeHost(): string {
  const parts: string[] = [process.platform, process.arch];
  if (process.platform === 'linux') {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })
      ?.header;
    parts.push(header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'musl');
  }
  return parts.join(' ');
}

/** The binaries in prebuilds/: "linux-x64 (glibc), win32-x64". */
function shippedPrebuilds(root: string): string {
  const dir = path.join(root, 'prebuilds');
  const found: string[] = [];
  try {
    for (const tuple of fs.readdirSync(dir).sort()) {
      for (const file of fs.readdirSync(path.join(dir, tuple))) {
        if (!file.endsWith('.node')) continue;
        const tags = file.split('.').slice(1, -1);
        found.push(tags.length > 0 ? `${tuple} (${tags.join(', ')})` : tuple);
      }
    }
  } catch {
    // no prebuilds/ (a source checkout)
  }
  return found.length > 0 ? found.join(', ') : 'none';
}

function addonError(message: string, cause: unknown): Error {
  return codedError(
    'ERR_NATIVE_ADDON_MISSING',
    `containerd-shim: ${message}. Build the addon from source with ` +
      '`npm explore containerd-shim -- npm run build:native` (needs python3, make and a C++17 ' +
      'compiler), or set CONTAINERD_SHIM_PREBUILD to a directory holding a matching prebuilds/.',
    { cause },
  );
}

/** The addon's exports, as loaded (index.ts sorts them by platform part). */
export function loadAddon(): Record<string, unknown> {
  const root = path.resolve(__dirname, '..', '..', '..');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  let file: string;
  try {
    file = nodeGypBuild.path(root);
  } catch (cause) {
    throw addonError(
      `no native addon for ${describeHost()} (Node ${process.version}): no build/ from source ` +
        `and no prebuilt binary for it (prebuilds/ has: ${shippedPrebuilds(root)})`,
      cause,
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as Record<string, unknown>;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw addonError(
      `the native addon ${path.relative(root, file)} does not load on ${describeHost()} ` +
        `(Node ${process.version}): ${reason}`,
      cause,
    );
  }
}
