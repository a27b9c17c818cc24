// The shim binary's command line, parsed with Go's flag syntax (containerd builds it for Go
// shims): `-flag value`, `-flag=value`, `--flag`; booleans take no separate value; parsing stops at
// the first non-flag argument, which is the action (`start`, `delete`, or none to serve).

import { codedError } from '../error-codes';

/** What containerd passes to a shim binary. */
export interface Flags {
  /** Namespace that owns the shim (required). */
  namespace: string;
  /** Id of the task. */
  id: string;
  /** containerd's gRPC address; part of the socket address hash. */
  address: string;
  /** Path of the containerd binary (accepted, unused: events go to TTRPC_ADDRESS). */
  publishBinary: string;
  /** Bundle path, given with `delete`. */
  bundle: string;
  /** Socket to serve on; empty means the listener inherited on fd 3. */
  socket: string;
  /** Debug (pprof) socket; empty means fd 4 if any. */
  debugSocket: string;
  debug: boolean;
  /** `-v` / `-version`: print the version and exit. */
  version: boolean;
  /** `-info`: print RuntimeInfo (containerd 2.0+) and exit. */
  info: boolean;
  /** First positional argument: `start`, `delete`, or '' to serve. */
  action: string;
  /** Positional arguments after the action. */
  args: string[];
}

type FlagKind = 'string' | 'bool';

const DEFINITIONS: Record<string, { key: keyof Flags; kind: FlagKind }> = {
  namespace: { key: 'namespace', kind: 'string' },
  id: { key: 'id', kind: 'string' },
  address: { key: 'address', kind: 'string' },
  'publish-binary': { key: 'publishBinary', kind: 'string' },
  bundle: { key: 'bundle', kind: 'string' },
  socket: { key: 'socket', kind: 'string' },
  'debug-socket': { key: 'debugSocket', kind: 'string' },
  debug: { key: 'debug', kind: 'bool' },
  v: { key: 'version', kind: 'bool' },
  version: { key: 'version', kind: 'bool' },
  info: { key: 'info', kind: 'bool' },
};

function flagError(message: string): Error {
  return codedError('ERR_INVALID_FLAG', message);
}

function parseBool(name: string, value: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw flagError(`invalid boolean value "${value}" for -${name}: parse error`);
}

/** Parses argv (without node and script); errors carry code ERR_INVALID_FLAG and Go's wording. */
export function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = {
    namespace: '',
    id: '',
    address: '',
    publishBinary: '',
    bundle: '',
    socket: '',
    debugSocket: '',
    debug: false,
    version: false,
    info: false,
    action: '',
    args: [],
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body.length === 0 || body.startsWith('-') || body.startsWith('='))
      throw flagError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const def = DEFINITIONS[name];
    if (!def) throw flagError(`flag provided but not defined: -${name}`);
    const record = flags as unknown as Record<string, unknown>;
    if (def.kind === 'bool') {
      record[def.key] = eq < 0 ? true : parseBool(name, body.slice(eq + 1));
    } else if (eq >= 0) {
      record[def.key] = body.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw flagError(`flag needs an argument: -${name}`);
      record[def.key] = argv[++i]!;
    }
  }
  const rest = argv.slice(i);
  flags.action = rest[0] ?? '';
  flags.args = rest.slice(1);
  return flags;
}

/** The argument vector that starts a shim's serving process (what `spawn` re-executes). */
export function serveArgs(flags: Pick<Flags, 'namespace' | 'id' | 'address' | 'debug'>): string[] {
  const args = ['-namespace', flags.namespace, '-id', flags.id, '-address', flags.address];
  if (flags.debug) args.push('-debug');
  return args;
}
