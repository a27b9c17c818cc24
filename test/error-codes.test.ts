// The error catalogue (lib/error-codes.ts) against the sources and the README, and error
// recognition across two copies of the package loaded in one process.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ERROR_CODES, TtrpcError, Code, hasErrorCode, parseAddress } from '../lib';
import { runOk } from './helpers/node-dist';

const top = path.resolve(__dirname, '..', '..');

function sourceFiles(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(top, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (rel !== path.join('lib', 'generated')) out.push(...sourceFiles(rel, exts));
    } else if (exts.some((e) => entry.name.endsWith(e))) {
      out.push(rel);
    }
  }
  return out;
}

/** code -> files mentioning it (code, comments and messages alike). */
function mentions(files: string[]): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const file of files) {
    const text = fs.readFileSync(path.join(top, file), 'utf8');
    for (const m of text.matchAll(/\bERR_[A-Z][A-Z0-9_]*\b/g)) {
      if (!found.has(m[0])) found.set(m[0], new Set());
      found.get(m[0])!.add(file);
    }
  }
  return found;
}

describe('error catalogue', function () {
  const catalogued = Object.keys(ERROR_CODES).sort();
  const tsFiles = sourceFiles('lib', ['.ts']).filter(
    (f) => f !== path.join('lib', 'error-codes.ts'),
  );
  const nativeFiles = sourceFiles('native', ['.cc', '.h']);

  it('every ERR_* code in lib/ and native/ is catalogued, and every catalogued code is used', function () {
    const used = mentions([...tsFiles, ...nativeFiles]);
    const unknown = [...used.keys()].filter((c) => !(c in ERROR_CODES));
    assert.deepEqual(unknown, [], `codes missing from lib/error-codes.ts: ${unknown.join(', ')}`);
    const unused = catalogued.filter((c) => !used.has(c));
    assert.deepEqual(unused, [], 'catalogued codes nothing throws');
  });

  it('codes the addon throws say so ("native" in `from`)', function () {
    const native = mentions(nativeFiles);
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const fromNative = info.from.split(', ').includes('native');
      assert.equal(fromNative, native.has(code), `${code}: from "${info.from}"`);
    }
  });

  it("the README's table lists exactly the catalogue, with the same meanings", function () {
    const readme = fs.readFileSync(path.join(top, 'README.md'), 'utf8');
    const rows = new Map<string, { from: string; meaning: string }>();
    for (const m of readme.matchAll(/^\| `(ERR_[A-Z0-9_]+)` +\| ([^|]+?) +\| (.+?) +\|$/gm)) {
      rows.set(m[1]!, { from: m[2]!, meaning: m[3]! });
    }
    assert.deepEqual([...rows.keys()].sort(), catalogued);
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      assert.deepEqual(rows.get(code), { from: info.from, meaning: info.meaning }, code);
    }
    const elsewhere = [...mentions(['README.md']).keys()].filter((c) => !(c in ERROR_CODES));
    assert.deepEqual(elsewhere, [], 'the README names codes that do not exist');
  });

  it('errors carry their code: hasErrorCode', function () {
    let caught: unknown;
    try {
      parseAddress('');
    } catch (err) {
      caught = err;
    }
    assert.ok(hasErrorCode(caught, 'ERR_INVALID_ADDRESS'));
    assert.ok(hasErrorCode(caught));
    assert.ok(!hasErrorCode(caught, 'ERR_INVALID_FD'));
    assert.ok(!hasErrorCode(Object.assign(new Error('x'), { code: 'ENOENT' })));
    assert.ok(!hasErrorCode(null));
  });
});

// Two installations of the package side by side (as when two dependencies each bring their own):
// each copy has its own TtrpcError and RuncError classes, so `instanceof` fails across them.
const TWO_COPIES = `'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const [a, b] = process.argv.slice(2).map((dir) => require(path.join(dir, 'dist', 'lib')));
const [runcA, runcB] = process.argv.slice(2).map((dir) => require(path.join(dir, 'dist', 'lib', 'runc')));
assert.notEqual(a.TtrpcError, b.TtrpcError);
const err = new a.TtrpcError(a.Code.NOT_FOUND, 'gone');
assert.equal(err instanceof b.TtrpcError, false);
assert.equal(b.TtrpcError.is(err), true);
assert.equal(b.TtrpcError.is(err, b.Code.NOT_FOUND), true);
assert.equal(b.TtrpcError.is(err, b.Code.ALREADY_EXISTS), false);
assert.equal(b.TtrpcError.is(Object.assign(new Error('x'), { code: 5 })), false);
assert.equal(b.TtrpcError.is({ code: 5, message: 'x' }), false);
assert.equal(b.toTtrpcError(err), err);
const runcError = new runcA.RuncError('runc failed', { command: ['runc'], exitStatus: 1, signal: null, stderr: '' });
assert.equal(runcB.isRuncError(runcError), true);
assert.equal(runcB.isRuncError(new Error('x')), false);
// A handler served by copy b throws copy a's error: the client sees its code, not UNKNOWN.
(async () => {
  const text = { encode: (s) => ({ finish: () => Buffer.from(s) }), decode: (x) => Buffer.from(x).toString() };
  const Find = b.unary('test.v1.Copies', 'Find', text, text);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-copies-'));
  const server = new b.Server();
  server.addMethod(Find, () => { throw new a.TtrpcError(a.Code.NOT_FOUND, 'no such thing'); });
  await server.listen(path.join(dir, 's.sock'));
  const client = await a.Client.connect(path.join(dir, 's.sock'));
  const failure = await client.unary(Find, 'x').then(() => undefined, (e) => e);
  client.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(a.TtrpcError.is(failure, a.Code.NOT_FOUND), true, String(failure));
  assert.equal(failure.message, 'no such thing');
  console.log('ok');
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('TtrpcError.is and isRuncError across two copies of the package', function () {
  this.timeout(60_000);
  let tmp: string;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-two-copies-'));
    for (const name of ['a', 'b']) {
      const copy = path.join(tmp, name, 'node_modules', 'containerd-shim');
      fs.mkdirSync(path.join(copy, 'build', 'Release'), { recursive: true });
      fs.copyFileSync(path.join(top, 'package.json'), path.join(copy, 'package.json'));
      fs.cpSync(path.join(top, 'dist', 'lib'), path.join(copy, 'dist', 'lib'), { recursive: true });
      fs.copyFileSync(
        path.join(top, 'build', 'Release', 'containerd_shim.node'),
        path.join(copy, 'build', 'Release', 'containerd_shim.node'),
      );
      fs.symlinkSync(path.join(top, 'node_modules'), path.join(copy, 'node_modules'));
    }
    fs.writeFileSync(path.join(tmp, 'two-copies.js'), TWO_COPIES);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('recognises the other copy’s errors, and a server passes the other copy’s TtrpcError on', async function () {
    const copies = ['a', 'b'].map((n) => path.join(tmp, n, 'node_modules', 'containerd-shim'));
    const r = await runOk(process.execPath, [path.join(tmp, 'two-copies.js'), ...copies], {
      timeoutMs: 50_000,
    });
    assert.equal(r.stdout.trim(), 'ok');
  });

  it('in this copy: is() checks the code; plain objects and Errors are not TtrpcErrors', function () {
    const err = new TtrpcError(Code.UNAVAILABLE, 'x');
    assert.ok(TtrpcError.is(err));
    assert.ok(TtrpcError.is(err, Code.UNAVAILABLE));
    assert.ok(!TtrpcError.is(err, Code.UNKNOWN));
    assert.ok(!TtrpcError.is({ code: Code.UNAVAILABLE }));
    assert.ok(!TtrpcError.is(undefined));
  });
});
