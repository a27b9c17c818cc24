// The lint rule that keeps examples/ on the public API (scripts/lint/example-imports.mjs, on in
// eslint.config.mjs for examples/): `npm run lint` fails on a deep import, passes on the package's
// documented entry points, and the examples as they are pass.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';

const top = path.resolve(__dirname, '..', '..');
const RULE = 'local/example-imports';

interface LintMessage {
  ruleId: string | null;
  message: string;
  line: number;
}
interface LintResult {
  filePath: string;
  messages: LintMessage[];
}
interface ESLintLike {
  lintText(code: string, options: { filePath: string }): Promise<LintResult[]>;
  lintFiles(patterns: string[]): Promise<LintResult[]>;
}

async function eslint(): Promise<ESLintLike> {
  const { ESLint } = (await import('eslint')) as unknown as {
    ESLint: new (options: { cwd: string }) => ESLintLike;
  };
  return new ESLint({ cwd: top });
}

async function ruleMessages(code: string, file: string): Promise<LintMessage[]> {
  const [result] = await (await eslint()).lintText(code, { filePath: path.join(top, file) });
  return result!.messages.filter((m) => m.ruleId === RULE);
}

describe('lint: examples import only the public API', function () {
  this.timeout(60_000);

  const deep: [string, RegExp][] = [
    ["import {  } from '../../lib/native';\n", /leaves the example/],
    ["import type { Task } from '../../lib';\n", /leaves the example/],
    ["export * from '../../lib/runc';\n", /leaves the example/],
    ["const d = require('../../lib/cli/main');\n", /leaves the example/],
    ["const m = import('../skeleton/main');\n", /leaves the example/],
    [
      "import { native } from 'containerd-shim/dist/lib/native';\n",
      /not in package.json's exports/,
    ],
    ["import { x } from 'containerd-shim/lib/shim/run';\n", /not in package.json's exports/],
    ["import { x } from 'containerd-shim/protos/../native';\n", /not in package.json's exports/],
    ["import pino from 'pino';\n", /not part of containerd-shim/],
    ["type T = typeof import('../../lib/shim/linux/mount');\n", /leaves the example/],
  ];
  for (const [code, why] of deep) {
    it(`fails: ${code.trim()}`, async function () {
      const messages = await ruleMessages(code, 'examples/runc-shim/probe.ts');
      assert.equal(messages.length, 1, JSON.stringify(messages));
      assert.match(messages[0]!.message, why);
    });
  }

  it('a top-level example may not reach into an example directory', async function () {
    const messages = await ruleMessages("import './runc-shim/stdio';\n", 'examples/probe.ts');
    assert.equal(messages.length, 1);
  });

  it('passes: Node built-ins, the package and its exported subpaths, the example’s own files', async function () {
    const code = [
      "import * as fs from 'node:fs';",
      "import * as os from 'os';",
      "import { run, logger } from 'containerd-shim';",
      "import { task } from 'containerd-shim/protos/task';",
      "import * as protos from 'containerd-shim/protos';",
      "import { ConsoleSocket, FdPump } from 'containerd-shim/runc';",
      "import { mountAll } from 'containerd-shim/linux';",
      "import { unmountRecursive } from 'containerd-shim/linux/mount';",
      "import { ProcessIo } from './stdio';",
      "const m = require('containerd-shim/runc');",
      'export { fs, os, run, logger, task, protos, ConsoleSocket, FdPump, mountAll, unmountRecursive, ProcessIo, m };',
      '',
    ].join('\n');
    assert.deepEqual(await ruleMessages(code, 'examples/runc-shim/probe.ts'), []);
  });

  it('the examples as they are pass', async function () {
    const results = await (await eslint()).lintFiles(['examples']);
    assert.ok(results.length >= 10, `linted ${results.length} files`);
    const problems = results.flatMap((r) =>
      r.messages
        .filter((m) => m.ruleId === RULE)
        .map((m) => `${path.relative(top, r.filePath)}:${m.line}: ${m.message}`),
    );
    assert.deepEqual(problems, []);
  });
});
