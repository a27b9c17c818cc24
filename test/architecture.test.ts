// Structure of lib/ that the code relies on: no import cycles (type-only imports included), so
// every module can be read, loaded and tested on its own.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const top = path.resolve(__dirname, '..', '..');

function modules(dir: string): string[] {
  return fs.readdirSync(path.join(top, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return modules(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** module -> the lib modules it imports (import, import type, export from, require). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of modules('lib')) {
    const text = fs.readFileSync(path.join(top, file), 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(/(?:\bfrom\s+|\brequire\(|\bimport\()\s*'(\.{1,2}\/[^']*)'/g)) {
      const base = path.join(path.dirname(file), m[1]!);
      const found = [`${base}.ts`, path.join(base, 'index.ts')].find((f) =>
        fs.existsSync(path.join(top, f)),
      );
      if (found) targets.push(found);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Strongly connected components of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('lib/ structure', function () {
  it('has no import cycles, type-only imports included', function () {
    const graph = importGraph();
    assert.ok(graph.size > 50, `scanned ${graph.size} modules`);
    assert.deepEqual(cycles(graph), []);
  });

  it('the cycle finder finds a cycle (self-check)', function () {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    assert.deepEqual(cycles(graph), [['a.ts', 'b.ts', 'c.ts']]);
  });
});
