// protobufjs requires long.js (its Long class for 64-bit integers) as it loads, although a shim
// seldom decodes an int64: Long's code and its WebAssembly helper cost a shim daemon ~0.3 MiB for
// its whole life. Before protobufjs loads (lib/int64/encode.ts imports this first), this puts a
// stand-in for protobufjs's `long` in the module cache: protobufjs sees a Long class (so int64
// fields still decode to Long, exactly as with long.js), and the real module loads on the first
// use of anything but Long.isLong (construction, a static method, instanceof, ...). The stand-in
// forwards everything to it from then on; the module cache then holds the real module.
//
// If protobufjs or long.js cannot be resolved, or protobufjs is already loaded (someone imported
// it first), nothing is done and protobufjs loads long.js itself as usual.
import type { Module as ModuleClass } from 'node:module';
import * as path from 'node:path';

// The CommonJS Module class, without `require('node:module')` (that loads the ESM loader too).
const Module = module.constructor as typeof ModuleClass;

type Target = (...args: unknown[]) => unknown;

function resolveFrom(pkgDir: string, request: string): string | undefined {
  try {
    return require.resolve(request, { paths: [pkgDir] });
  } catch {
    return undefined;
  }
}

/** long.js's Long.isLong, without loading long.js. */
function isLong(value: unknown): boolean {
  return (value as { __isLong__?: unknown } | null | undefined)?.__isLong__ === true;
}

function install(): void {
  let protobufDir: string;
  try {
    protobufDir = path.dirname(require.resolve('protobufjs/package.json'));
  } catch {
    return;
  }
  const protobufMain = resolveFrom(protobufDir, './minimal');
  if (protobufMain === undefined || require.cache[protobufMain] !== undefined) return;
  // What protobufjs's `require("long")` resolves to (from its src/util/ directory).
  const file = resolveFrom(path.join(protobufDir, 'src', 'util'), 'long');
  if (file === undefined || require.cache[file] !== undefined) return;

  let real: Target | undefined;
  const load = (): Target => {
    if (real === undefined) {
      if (require.cache[file] === stub) delete require.cache[file];
      real = require(file) as Target; // eslint-disable-line @typescript-eslint/no-require-imports
    }
    return real;
  };
  // A strict-mode function target: constructible and callable, and its only non-configurable own
  // property (prototype) is writable, so every trap may answer with long.js's values.
  const proxy: Target = new Proxy(function Long() {} as Target, {
    construct: (_t, args, newTarget): object =>
      Reflect.construct(load(), args, newTarget === proxy ? load() : newTarget) as object,
    apply: (_t, self, args) => Reflect.apply(load(), self, args),
    get: (_t, key) => (key === 'isLong' && real === undefined ? isLong : Reflect.get(load(), key)),
    set: (_t, key, value) => Reflect.set(load(), key, value),
    has: (_t, key) => Reflect.has(load(), key),
    ownKeys: (_t) => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_t, key) => {
      const desc = Reflect.getOwnPropertyDescriptor(load(), key);
      // The target's prototype is non-configurable: report it as such (value forwarded).
      if (desc && key === 'prototype') desc.configurable = false;
      return desc;
    },
    getPrototypeOf: (_t) => Reflect.getPrototypeOf(load()),
  });
  const stub = new Module(file);
  stub.filename = file;
  stub.loaded = true;
  stub.exports = proxy;
  require.cache[file] = stub;
}

install();
