// `containerd-shim package`: turns a shim's compiled entry script into the runtime binary
// containerd executes: a copy of the native launcher (native/launcher, no V8) with a trailer
// naming node, the entry script, and the node flags and environment of boot.ts (see
// native/launcher/config.h for the format). The launcher hands each invocation to a warm
// standby when one is ready and execs node otherwise.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError, systemError } from '../error-codes';
import { nodeBoot } from './boot';

export const LAUNCHER_NAME = 'containerd-shim-launcher';
const MAGIC = Buffer.from('CSHIMLN1');

export interface PackageOptions {
  /** The shim's compiled entry script (the file that calls run()). */
  entry: string;
  /** The binary to write, e.g. /usr/local/bin/containerd-shim-foo-v1. */
  output: string;
  /** The node to run; default the one running this. */
  node?: string;
  /** Record the entry relative to the binary's directory (the pair can move together). */
  relative?: boolean;
  /** The launcher to copy; default the package's own build or prebuilt one. */
  launcher?: string;
  /** false: a binary that never uses standbys (always cold, like CONTAINERD_SHIM_WARM=0). */
  warm?: boolean;
}

export interface PackageResult {
  output: string;
  launcher: string;
  /** The trailer's lines. */
  config: string[];
}

/** The launcher executable shipped with (or built into) this package. */
export function findLauncher(): string {
  if (process.platform !== 'linux') {
    throw codedError(
      'ERR_UNSUPPORTED_PLATFORM',
      `the shim launcher is Linux-only (platform ${process.platform})`,
    );
  }
  const root = path.resolve(__dirname, '..', '..', '..');
  const candidates = [
    path.join(root, 'build', 'Release', LAUNCHER_NAME),
    path.join(root, 'prebuilds', `linux-${process.arch}`, LAUNCHER_NAME),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (found === undefined) {
    throw codedError(
      'ERR_LAUNCHER_MISSING',
      `no shim launcher for linux-${process.arch} (looked for ${candidates.join(', ')}); ` +
        'build it from source with `npm explore containerd-shim -- npm run build:native`',
    );
  }
  return found;
}

function line(key: string, value: string): string {
  if (/[\n\0]/.test(value)) {
    throw codedError('ERR_INVALID_ARG_VALUE', `${key} must not contain a newline or NUL`);
  }
  return `${key}=${value}`;
}

/** Writes the shim binary (atomically: a running copy is never overwritten in place). */
export function packageShim(options: PackageOptions): PackageResult {
  const launcher = options.launcher ?? findLauncher();
  const output = path.resolve(options.output);
  const entry = path.resolve(options.entry);
  const node = path.resolve(options.node ?? process.execPath);
  if (!fs.statSync(entry, { throwIfNoEntry: false })?.isFile()) {
    throw systemError('ENOENT', `entry script ${entry} is not a file`, { path: entry });
  }
  try {
    fs.accessSync(node, fs.constants.X_OK);
  } catch {
    throw systemError('ENOENT', `node ${node} is not an executable`, { path: node });
  }
  const dir = fs.realpathSync(path.dirname(output));
  const recorded = options.relative ? path.relative(dir, fs.realpathSync(entry)) : entry;
  const boot = nodeBoot();
  const config = [
    line('name', path.basename(output)),
    line('node', node),
    line('entry', recorded),
    ...(options.warm === false ? ['warm=0'] : []),
    ...boot.execArgv.map((flag) => line('arg', flag)),
    ...Object.entries(boot.env).map(([k, v]) => line('env', `${k}=${v}`)),
  ];
  const text = Buffer.from(config.join('\n') + '\n');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(text.length);
  const image = fs.readFileSync(launcher);
  if (image.subarray(image.length - MAGIC.length).equals(MAGIC)) {
    throw codedError('ERR_INVALID_ARG_VALUE', `${launcher} is already a packaged shim`);
  }
  const tmp = path.join(dir, `.${path.basename(output)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, Buffer.concat([image, text, length, MAGIC]), { mode: 0o755 });
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, path.join(dir, path.basename(output)));
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { output, launcher, config };
}
