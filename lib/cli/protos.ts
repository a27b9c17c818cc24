// .proto files through protobufjs reflection: the package's own protos (proto/, every file, import
// roots proto/ and proto/containerd/) and the user's (`--proto <file>`, imports resolved through
// `-I <dir>`). Services and messages are found by fully-qualified name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

import { UsageError } from './args';
import type { MethodKind } from '../ttrpc';

/** proto/ of this package (dist/lib/cli → the repository or package root). */
export const BUILTIN_PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');
const BUILTIN_INCLUDES = [BUILTIN_PROTO_DIR, path.join(BUILTIN_PROTO_DIR, 'containerd')];

export interface ProtoOptions {
  /** `--proto` files (relative to the working directory or to an include directory). */
  files?: string[];
  /** `-I` import paths. */
  includes?: string[];
  /** Load the package's own protos (default true). */
  builtin?: boolean;
}

export interface ResolvedMethod {
  /** Fully-qualified service name, as sent on the wire. */
  service: string;
  /** Bare method name, as sent on the wire. */
  method: string;
  kind: MethodKind;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  definition: protobuf.Method;
}

function listProtos(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listProtos(file));
    else if (entry.name.endsWith('.proto')) out.push(file);
  }
  return out.sort();
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A Root whose imports resolve through `includes` (then the importing file's directory). */
function newRoot(includes: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (origin: string, target: string): string => {
    if (path.isAbsolute(target)) return target;
    const dirs = origin === '' ? [process.cwd(), ...includes] : [...includes, path.dirname(origin)];
    for (const dir of dirs) {
      const candidate = path.resolve(dir, target);
      if (isFile(candidate)) return candidate;
    }
    const from = origin === '' ? 'the command line' : path.relative(process.cwd(), origin);
    throw new UsageError(
      `cannot find "${target}" (imported by ${from}); searched ${dirs.join(', ')} (add -I <dir>)`,
    );
  };
  return root;
}

function kindOf(method: protobuf.Method): MethodKind {
  if (method.requestStream && method.responseStream) return 'bidi';
  if (method.requestStream) return 'clientStream';
  if (method.responseStream) return 'serverStream';
  return 'unary';
}

function strip(name: string): string {
  return name.startsWith('.') ? name.slice(1) : name;
}

function collect<T>(ns: protobuf.NamespaceBase, ctor: new (...args: never[]) => T, out: T[]): T[] {
  for (const nested of ns.nestedArray) {
    if (nested instanceof ctor) out.push(nested);
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type)
      collect(nested, ctor, out);
  }
  return out;
}

/** Where services and messages are looked up: the user's files first, then the package's. */
export class ProtoRegistry {
  private constructor(
    /** User roots first, the builtin root last. */
    readonly roots: { root: protobuf.Root; builtin: boolean }[],
  ) {}

  static load(options: ProtoOptions = {}): ProtoRegistry {
    const roots: { root: protobuf.Root; builtin: boolean }[] = [];
    const includes = (options.includes ?? []).map((dir) => path.resolve(dir));
    for (const dir of includes) {
      if (!fs.existsSync(dir)) throw new UsageError(`import path ${dir} does not exist`);
    }
    const files = options.files ?? [];
    if (files.length > 0) {
      // The package's proto/ is the last resort for the user's imports (google/…, types/…).
      const root = newRoot([...includes, ...BUILTIN_INCLUDES]);
      for (const file of files) {
        let resolved: string | null;
        try {
          resolved = root.resolvePath('', file);
        } catch {
          resolved = null;
        }
        if (resolved === null) throw new UsageError(`proto file ${file} not found`);
        loadInto(root, resolved, file);
      }
      resolve(root, files.join(', '));
      roots.push({ root, builtin: false });
    }
    if (options.builtin !== false) {
      const root = newRoot(BUILTIN_INCLUDES);
      const all = fs.existsSync(BUILTIN_PROTO_DIR) ? listProtos(BUILTIN_PROTO_DIR) : [];
      root.loadSync(all, { keepCase: true });
      resolve(root, BUILTIN_PROTO_DIR);
      roots.push({ root, builtin: true });
    }
    return new ProtoRegistry(roots);
  }

  /** Every service, user files first, without duplicates. */
  services(): { service: protobuf.Service; builtin: boolean }[] {
    const seen = new Set<string>();
    const out: { service: protobuf.Service; builtin: boolean }[] = [];
    for (const { root, builtin } of this.roots) {
      for (const service of collect(root, protobuf.Service, [])) {
        if (seen.has(service.fullName)) continue;
        seen.add(service.fullName);
        out.push({ service, builtin });
      }
    }
    return out;
  }

  /** Finds a service by fully-qualified name, or by a unique trailing part (`Interop`). */
  findService(name: string): protobuf.Service {
    const wanted = strip(name);
    for (const { root } of this.roots) {
      const found = root.lookup(wanted, [protobuf.Service]);
      if (found instanceof protobuf.Service && strip(found.fullName) === wanted) return found;
    }
    const matches = this.services()
      .map((s) => s.service)
      .filter((s) => strip(s.fullName).endsWith(`.${wanted}`));
    const names = [...new Set(matches.map((s) => strip(s.fullName)))];
    if (names.length === 1) return matches[0]!;
    if (names.length > 1)
      throw new UsageError(`service "${name}" is ambiguous: ${names.join(', ')}`);
    const known = this.services().map((s) => strip(s.service.fullName));
    throw new UsageError(
      `unknown service "${name}" (known: ${known.join(', ') || 'none'}; add --proto <file>)`,
    );
  }

  /** Resolves `package.Service/Method` (also `/package.Service/Method`, `package.Service.Method`). */
  findMethod(text: string): ResolvedMethod {
    let ref = text.startsWith('/') ? text.slice(1) : text;
    let cut = ref.lastIndexOf('/');
    if (cut < 0) cut = ref.lastIndexOf('.');
    if (cut <= 0 || cut === ref.length - 1)
      throw new UsageError(`"${text}" is not a method (use package.Service/Method)`);
    const name = ref.slice(cut + 1);
    ref = ref.slice(0, cut);
    const service = this.findService(ref);
    const definition = service.methods[name];
    if (!definition) {
      throw new UsageError(
        `service ${strip(service.fullName)} has no method "${name}" (it has: ${Object.keys(service.methods).join(', ')})`,
      );
    }
    definition.resolve();
    return {
      service: strip(service.fullName),
      method: definition.name,
      kind: kindOf(definition),
      requestType: definition.resolvedRequestType!,
      responseType: definition.resolvedResponseType!,
      definition,
    };
  }

  /** Finds a message type by fully-qualified name. */
  findType(name: string): protobuf.Type | undefined {
    const wanted = strip(name);
    for (const { root } of this.roots) {
      const found = root.lookup(wanted, [protobuf.Type]);
      if (found instanceof protobuf.Type && strip(found.fullName) === wanted) return found;
    }
    return undefined;
  }

  /** Finds a message type or enum by fully-qualified name. */
  findDefinition(name: string): protobuf.Type | protobuf.Enum | undefined {
    const wanted = strip(name);
    for (const { root } of this.roots) {
      const found = root.lookup(wanted, [protobuf.Type, protobuf.Enum]);
      if (
        (found instanceof protobuf.Type || found instanceof protobuf.Enum) &&
        strip(found.fullName) === wanted
      )
        return found;
    }
    return undefined;
  }
}

export { kindOf as methodKind, strip as stripDot };

function loadInto(root: protobuf.Root, file: string, shown: string): void {
  try {
    root.loadSync(file, { keepCase: true });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot load ${shown}: ${(err as Error).message}`);
  }
}

function resolve(root: protobuf.Root, shown: string): void {
  try {
    root.resolveAll();
  } catch (err) {
    throw new UsageError(`cannot load ${shown}: ${(err as Error).message}`);
  }
}
