// The `containerd-shim` command: `containerd-shim package <entry.js> -o <binary>` writes the
// runtime binary containerd executes for a shim (package.ts). Exit 0 done, 1 failed, 2 usage.
import { packageShim } from './package';

const USAGE = `usage: containerd-shim package <entry.js> -o <binary> [--node <path>] [--relative] [--no-warm]

Writes <binary>, the runtime binary containerd executes, for the shim whose compiled entry script
(the file calling run()) is <entry.js>: a native launcher that hands each invocation to an already
booted Node process of the shim (warm start) or runs node itself.

  -o, --output <binary>  where to write it, e.g. /usr/local/bin/containerd-shim-foo-v1
                         (containerd runs runtime io.containerd.foo.v1 as containerd-shim-foo-v1)
  --node <path>          the node to run (default: the node running this command)
  --relative             record <entry.js> relative to the binary's directory
  --no-warm              never hand work to standbys (always cold, as CONTAINERD_SHIM_WARM=0 does)
`;

class UsageError extends Error {}

export function main(argv: string[]): number {
  try {
    if (argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h' || argv.length === 0) {
      process.stdout.write(USAGE);
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] !== 'package') throw new UsageError(`unknown command ${JSON.stringify(argv[0])}`);
    let entry: string | undefined;
    let output: string | undefined;
    let node: string | undefined;
    let relative = false;
    let warm = true;
    for (let i = 1; i < argv.length; i++) {
      const arg = argv[i]!;
      const value = (): string => {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${arg} needs a value`);
        return v;
      };
      if (arg === '-o' || arg === '--output') output = value();
      else if (arg.startsWith('--output=')) output = arg.slice('--output='.length);
      else if (arg === '--node') node = value();
      else if (arg.startsWith('--node=')) node = arg.slice('--node='.length);
      else if (arg === '--relative') relative = true;
      else if (arg === '--no-warm') warm = false;
      else if (arg.startsWith('-')) throw new UsageError(`unknown flag ${arg}`);
      else if (entry === undefined) entry = arg;
      else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    }
    if (entry === undefined || output === undefined)
      throw new UsageError('need <entry.js> and -o <binary>');
    const result = packageShim({ entry, output, node, relative, warm });
    process.stdout.write(`${result.output}: ${result.config.join(', ')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`containerd-shim: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`containerd-shim: ${e.message}${e.code ? ` (${e.code})` : ''}\n`);
    return 1;
  }
}
