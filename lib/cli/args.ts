// Command-line flags: `--name value`, `--name=value`, `-x value`, boolean switches, repeatable
// flags, positionals anywhere, `--` ends the flags and a lone `-` is a positional (stdin).

/** Exit statuses of the `ttrpc` command. */
export const EXIT_OK = 0;
/** A call failed (an error status, or no connection). */
export const EXIT_CALL = 1;
/** Bad command line, JSON or .proto files; nothing was sent. */
export const EXIT_USAGE = 2;

/** A mistake on the command line: printed as `ttrpc: <message>`, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  /** `string`: takes a value; `list`: takes a value, repeatable; `bool`: a switch. */
  type: 'string' | 'list' | 'bool';
  /** Other spellings, e.g. `-c` for `--concurrency`. */
  aliases?: string[];
}

export interface Parsed {
  flags: Map<string, string[]>;
  positionals: string[];
}

/** Parses `argv` against `spec` (keys are the long names without dashes). */
export function parseArgs(argv: string[], spec: Record<string, FlagSpec>): Parsed {
  const byName = new Map<string, [string, FlagSpec]>();
  for (const [name, s] of Object.entries(spec)) {
    byName.set(`--${name}`, [name, s]);
    for (const alias of s.aliases ?? []) byName.set(alias, [name, s]);
  }
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    let key = eq >= 0 ? arg.slice(0, eq) : arg;
    let entry = byName.get(key);
    let attached: string | undefined; // -Idir, -c8
    if (!entry && !arg.startsWith('--') && arg.length > 2) {
      const short = byName.get(arg.slice(0, 2));
      if (short && short[1].type !== 'bool') {
        key = arg.slice(0, 2);
        entry = short;
        attached = arg.slice(2);
      }
    }
    if (!entry) throw new UsageError(`unknown flag ${key}`);
    const [name, s] = entry;
    let value: string;
    if (attached !== undefined) {
      value = attached;
    } else if (s.type === 'bool') {
      if (eq >= 0) {
        const text = arg.slice(eq + 1);
        if (text !== 'true' && text !== 'false')
          throw new UsageError(`${key} takes no value (or =true/=false), not "${text}"`);
        value = text;
      } else {
        value = 'true';
      }
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${key} needs a value`);
      value = argv[++i]!;
    }
    const values = flags.get(name) ?? [];
    if (s.type !== 'list' && values.length > 0 && s.type !== 'bool')
      throw new UsageError(`${key} given twice`);
    values.push(value);
    flags.set(name, values);
  }
  return { flags, positionals };
}

/** The last value of a flag. */
export function flag(parsed: Parsed, name: string): string | undefined {
  const values = parsed.flags.get(name);
  return values?.[values.length - 1];
}

export function flagList(parsed: Parsed, name: string): string[] {
  return parsed.flags.get(name) ?? [];
}

export function flagBool(parsed: Parsed, name: string): boolean {
  return flag(parsed, name) === 'true';
}

/** A positive (or, with `allowZero`, non-negative) integer flag. */
export function flagInt(
  parsed: Parsed,
  name: string,
  options: { allowZero?: boolean } = {},
): number | undefined {
  const text = flag(parsed, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  const min = options.allowZero ? 0 : 1;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, not "${text}"`);
  return value;
}

/** A positive number flag (e.g. a rate). */
export function flagNumber(parsed: Parsed, name: string): number | undefined {
  const text = flag(parsed, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0)
    throw new UsageError(`--${name} must be a positive number, not "${text}"`);
  return value;
}
