// ESLint rule `local/example-imports`: a file under examples/ may import only what a user of the
// published package can: Node's built-in modules, `containerd-shim` and the subpaths in
// package.json's `exports`, and its own example's files. A path into lib/, dist/ or another
// example, or an unexported subpath (`containerd-shim/dist/lib/native`), is an error.
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';

const top = path.resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(top, 'package.json'), 'utf8'));

/** `exports` keys as matchers: "./protos/*" matches containerd-shim/protos/<anything>. */
const exported = Object.keys(pkg.exports).map((key) => {
  const name = key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`;
  if (!name.includes('*')) return (spec) => spec === name;
  const [head, tail] = name.split('*');
  return (spec) =>
    spec.startsWith(head) &&
    spec.endsWith(tail) &&
    spec.length > head.length + tail.length &&
    !spec.slice(head.length, spec.length - tail.length).includes('..');
});

const builtins = new Set(builtinModules);

/** examples/<name>/ for a file in an example's directory; examples/ itself for a top-level file. */
function exampleRoot(file) {
  const rel = path.relative(path.join(top, 'examples'), file).split(path.sep);
  return rel.length > 1 ? path.join(top, 'examples', rel[0]) : path.join(top, 'examples');
}

function problem(spec, file) {
  if (spec.startsWith('node:') || builtins.has(spec)) return undefined;
  if (spec.startsWith('.') || path.isAbsolute(spec)) {
    const root = exampleRoot(file);
    const target = path.resolve(path.dirname(file), spec);
    const inside = path.relative(root, target);
    const escapes = inside.startsWith('..') || path.isAbsolute(inside);
    // A top-level example (examples/demo.ts) may not reach into the example directories either.
    const intoExample = root === path.join(top, 'examples') && inside.includes(path.sep);
    if (!escapes && !intoExample) return undefined;
    return `"${spec}" leaves the example: import the package as users do ('${pkg.name}' or a documented subpath)`;
  }
  if (exported.some((matches) => matches(spec))) return undefined;
  if (spec === pkg.name || spec.startsWith(`${pkg.name}/`))
    return `"${spec}" is not in package.json's exports (documented entry points: ${Object.keys(
      pkg.exports,
    )
      .map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`))
      .join(', ')})`;
  return `"${spec}" is not part of ${pkg.name}: examples import only Node built-ins and ${pkg.name}`;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'examples import only the public API of the package' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const check = (node) => {
      if (!node || node.type !== 'Literal' || typeof node.value !== 'string') return;
      const message = problem(node.value, file);
      if (message) context.report({ node, message });
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      TSImportEqualsDeclaration: (node) => check(node.moduleReference?.expression),
      TSImportType: (node) => check(node.argument?.literal ?? node.argument),
      CallExpression(node) {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require')
          check(node.arguments[0]);
      },
    };
  },
};
