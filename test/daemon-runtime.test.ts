// How a shim daemon runs Node (lib/shim/daemon-runtime.ts, applied by boot.ts): its flags and environment, and the
// memory releaser's schedule. That a real daemon under containerd gets these settings is checked
// in test/runc-shim.test.ts.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { daemonEnvironment, nodeBoot, serveCommand } from '../lib/shim/boot';
import {
  MemoryReleaser,
  SERVING_V8_FLAGS,
  daemonEnv,
  daemonNodeOptions,
  releaseMemory,
} from '../lib/shim/daemon-runtime';

const top = path.resolve(__dirname, '..', '..');

async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('daemon runtime settings', () => {
  it('every Node process of a shim boots with them (boot.ts); an operator’s environment wins', () => {
    assert.deepEqual(nodeBoot(), { execArgv: daemonNodeOptions(), env: daemonEnv({}) });
    const saved = process.env.MALLOC_ARENA_MAX;
    try {
      delete process.env.MALLOC_ARENA_MAX;
      assert.equal(daemonEnvironment().MALLOC_ARENA_MAX, '1');
      process.env.MALLOC_ARENA_MAX = '4';
      assert.equal(daemonEnvironment().MALLOC_ARENA_MAX, '4');
      assert.equal(daemonEnvironment({ MALLOC_ARENA_MAX: '2' }).MALLOC_ARENA_MAX, '2');
      const command = serveCommand({
        namespace: 'ns',
        id: 'a',
        address: '/run/c.sock',
        debug: false,
      });
      assert.equal(command.file, process.execPath);
      assert.deepEqual(command.argv.slice(0, 1 + process.execArgv.length), [
        process.execPath,
        ...process.execArgv,
      ]);
      assert.ok(command.env.includes('MALLOC_ARENA_MAX=4'), command.env.join(' '));
    } finally {
      if (saved === undefined) delete process.env.MALLOC_ARENA_MAX;
      else process.env.MALLOC_ARENA_MAX = saved;
    }
  });

  it('env: the daemon settings, unless the environment already sets them', () => {
    const defaults = daemonEnv({});
    assert.equal(defaults.MALLOC_ARENA_MAX, '1');
    for (const key of Object.keys(defaults)) {
      assert.equal(daemonEnv({ [key]: 'operator' })[key], undefined, `${key} left as set`);
    }
  });

  it('releaseMemory() trims malloc (glibc) and says whether anything was returned', () => {
    const result = releaseMemory();
    assert.equal(typeof result, 'boolean');
    if (process.platform !== 'linux') assert.equal(result, false);
  });
});

describe('what a serving daemon keeps', () => {
  // A child node: 3000 functions run once, then the serving flags (or none, or only the flag
  // switch a code cache written before start-up is over makes), then old-generation garbage
  // until V8 has run enough full GCs of its own (forced ones leave code ages alone).
  type Setup = 'serving' | 'none' | 'cache written first';
  const runtimeModule = JSON.stringify(path.join(top, 'dist', 'lib', 'shim', 'daemon-runtime.js'));
  const setups: Record<Setup, string> = {
    serving: `require(${runtimeModule}).servingV8Flags();`,
    none: '',
    'cache written first': `require(${runtimeModule}).setV8Flags(true); require(${runtimeModule}).setV8Flags(false);`,
  };
  const flushScript = (setup: Setup): string =>
    `const v8 = require('node:v8');
let src = '';
for (let i = 0; i < 3000; i++) src += 'exports.f' + i + ' = (a) => { let s = 0; for (let j = 0; j < a; j++) s += j * ' + i + '; return s; };\\n';
const m = { exports: {} };
new Function('exports', src)(m.exports);
for (const f of Object.values(m.exports)) f(3);
const bytecode = () => v8.getHeapCodeStatistics().bytecode_and_metadata_size;
const before = bytecode();
${setups[setup]}
let majors = 0;
new (require('node:perf_hooks').PerformanceObserver)((list) => {
  for (const e of list.getEntries()) if (e.detail.kind === require('node:perf_hooks').constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
}).observe({ entryTypes: ['gc'] });
let keep = [];
const churn = () => {
  if (majors < 4) {
    for (let i = 0; i < 20000; i++) keep.push({ i, s: 'x' + i });
    if (keep.length > 400000) keep = [];
    return setImmediate(churn);
  }
  process.stdout.write(JSON.stringify({ before, after: bytecode() }));
};
churn();`;
  const measure = (setup: Setup): Promise<{ before: number; after: number }> =>
    new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ['-e', flushScript(setup)],
        { timeout: 50_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
      );
    });

  it('servingV8Flags(): code that did not run between two full GCs is dropped', async () => {
    assert.deepEqual(SERVING_V8_FLAGS, ['--bytecode-old-age=1']);
    const [flushed, kept] = await Promise.all([measure('serving'), measure('none')]);
    // 3000 functions' bytecode is well over 500 kB: with the flags it goes, without them it stays
    // (bar the one-off outer function's).
    assert.ok(flushed.before - flushed.after > 500_000, `flags: ${JSON.stringify(flushed)}`);
    assert.ok(kept.after - flushed.after > 400_000, `none: ${JSON.stringify(kept)}`);
  });

  it('setV8Flags(false) before servingV8Flags() puts the boot flags back: code is kept', async () => {
    // A daemon torn down before its start-up release writes the serving code cache at the
    // teardown: until then it keeps its code (its Kill/Delete/Shutdown, not run yet).
    const [flushed, kept] = await Promise.all([measure('serving'), measure('cache written first')]);
    assert.ok(kept.after - flushed.after > 400_000, `cache: ${JSON.stringify(kept)}`);
  });

  it('reduceHeap(): collections that age code, so that what ran only at start-up is dropped', async function () {
    if (process.platform !== 'linux') this.skip();
    // As in a daemon adopted from a standby whose memory reducer has run its course: no
    // collection of V8's own comes any more, the releaser's start-up release does them.
    const script = `const v8 = require('node:v8');
const rt = require(${JSON.stringify(path.join(top, 'dist', 'lib', 'shim', 'daemon-runtime.js'))});
let src = '';
for (let i = 0; i < 3000; i++) src += 'exports.f' + i + ' = (a) => a * ' + i + ';\\n';
const m = { exports: {} };
new Function('exports', src)(m.exports);
for (const f of Object.values(m.exports)) f(3);
const bytecode = () => v8.getHeapCodeStatistics().bytecode_and_metadata_size;
const before = bytecode();
rt.servingV8Flags();
const reduced = rt.reduceHeap();
process.stdout.write(JSON.stringify({ before, after: bytecode(), reduced }));`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: 50_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    const r = JSON.parse(out) as { before: number; after: number; reduced: boolean };
    assert.equal(r.reduced, true, out);
    assert.ok(r.before - r.after > 300_000, out);
  });

  it('the compiled library is plain Latin-1 JavaScript without comments (V8 keeps its source)', () => {
    const files = (dir: string): string[] =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) =>
          e.isDirectory()
            ? files(path.join(dir, e.name))
            : e.name.endsWith('.js')
              ? [path.join(dir, e.name)]
              : [],
        );
    const lib = path.join(top, 'dist', 'lib');
    // The generated protobuf code is copied, not compiled; lib/cli is the ttrpc command, no shim's.
    const compiled = files(lib).filter(
      (f) =>
        !f.includes(`${path.sep}generated${path.sep}`) && !f.includes(`${path.sep}cli${path.sep}`),
    );
    assert.ok(compiled.length > 50, `${compiled.length} files`);
    for (const file of compiled) {
      const text = fs.readFileSync(file, 'utf8');
      assert.ok(
        ![...text].some((c) => c.charCodeAt(0) > 0xff),
        `${file}: a character beyond Latin-1`,
      );
      assert.ok(!/^\s*\/\/ /m.test(text), `${file}: a comment line`);
    }
    // The declarations keep their documentation.
    assert.match(fs.readFileSync(path.join(lib, 'shim', 'run.d.ts'), 'utf8'), /\/\*\*/);
  });
});

describe('MemoryReleaser', () => {
  const releasers: MemoryReleaser[] = [];
  afterEach(() => releasers.splice(0).forEach((r) => r.stop()));
  const make = (...args: ConstructorParameters<typeof MemoryReleaser>): MemoryReleaser => {
    const r = new MemoryReleaser(...args);
    releasers.push(r);
    return r;
  };

  it('releases once after start-up, then once after each burst of activity', async () => {
    let calls = 0;
    const startUp: boolean[] = [];
    const r = make({ afterStartMs: 10, afterActivityMs: 10 }, (first) => {
      startUp.push(first);
      calls++;
    });
    await until('the start-up release', () => calls === 1);
    assert.equal(r.releases, 1);
    assert.deepEqual(startUp, [true]); // V8's heap too (reduceHeap()), only this once
    r.activity();
    r.activity();
    r.activity();
    await until('the release after the burst', () => calls === 2);
    r.activity();
    await until('the release after the next burst', () => calls === 3);
    assert.deepEqual(startUp, [true, false, false]);
  });

  it('a busy daemon still releases at least every maxIntervalMs', async () => {
    // Activity keeps pushing the release back, but not beyond maxIntervalMs since it was due.
    let calls = 0;
    const busy = make({ afterStartMs: 20, afterActivityMs: 20, maxIntervalMs: 50 }, () => calls++);
    const started = Date.now();
    while (calls === 0) {
      busy.activity();
      await new Promise((res) => setTimeout(res, 2));
      if (Date.now() - started > 20_000) assert.fail('never released while busy');
    }
    assert.equal(calls, 1);
  });

  it('stop() cancels a pending release', async () => {
    let calls = 0;
    const r = make({ afterStartMs: 20 }, () => calls++);
    r.stop();
    r.activity();
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(calls, 0);
  });

  it('never keeps the process alive', async () => {
    const script =
      `const { MemoryReleaser } = require(${JSON.stringify(path.join(top, 'dist', 'lib', 'shim', 'daemon-runtime.js'))});` +
      'const r = new MemoryReleaser({ afterStartMs: 600000 }); r.activity();';
    await new Promise<void>((resolve, reject) => {
      const child = execFile(process.execPath, ['-e', script], (err) =>
        err ? reject(err) : resolve(),
      );
      setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('node stayed alive on the releaser timer'));
      }, 30_000).unref();
    });
  });
});
