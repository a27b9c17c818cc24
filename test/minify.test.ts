// scripts/minify.js: the JavaScript a shim loads is whitespace-minified (V8 keeps every loaded
// module's source text), and its source maps still lead to the TypeScript.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as esbuild from 'esbuild';

const top = path.resolve(__dirname, '..', '..');

function jsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js'))
    .map((name) => path.join(dir, name));
}

describe('build: minified JavaScript for what a shim loads', () => {
  it('dist/lib and dist/examples (the generated code too) are whitespace-minified', () => {
    const files = [
      ...jsFiles(path.join(top, 'dist', 'lib')),
      ...jsFiles(path.join(top, 'dist', 'examples')),
    ];
    assert.ok(files.length > 100, `${files.length} files`);
    assert.ok(files.some((f) => f.includes(`${path.sep}generated${path.sep}`)));
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8').replace(/\/\/# sourceMappingURL=\S+\n$/, '');
      // Minified already: esbuild has nothing left to take out.
      const again = esbuild.transformSync(text, { loader: 'js', minifyWhitespace: true }).code;
      assert.equal(text.length, again.length, `${file}: not minified`);
    }
  });

  it('their source maps name the TypeScript line a stack frame comes from', () => {
    const script =
      "try { require('./dist/lib/duration').parseDuration('x') } catch (e) { console.log(e.stack) }";
    const stack = execFileSync(process.execPath, ['--enable-source-maps', '-e', script], {
      cwd: top,
      encoding: 'utf8',
    });
    // lib/duration.ts's invalid() builds the error; its line as in the source, not dist/.
    const source = fs.readFileSync(path.join(top, 'lib', 'duration.ts'), 'utf8').split('\n');
    const line = source.findIndex((l) => /const invalid = /.test(l)) + 1;
    assert.ok(line > 0, 'lib/duration.ts has no invalid()');
    assert.match(stack, new RegExp(`lib/duration\\.ts:${line}:`), stack);
  });
});
