// How a shim daemon runs Node (lib/shim/daemon-runtime.ts, applied by boot.ts): its flags and environment, and the
// memory releaser's schedule. That a real daemon under containerd gets these settings is checked
// in test/runc-shim.test.ts.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

import { daemonEnvironment, nodeBoot, serveCommand } from '../lib/shim/boot';
import {
  MemoryReleaser,
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
    const r = make({ afterStartMs: 10, afterActivityMs: 10 }, () => calls++);
    await until('the start-up release', () => calls === 1);
    assert.equal(r.releases, 1);
    r.activity();
    r.activity();
    r.activity();
    await until('the release after the burst', () => calls === 2);
    r.activity();
    await until('the release after the next burst', () => calls === 3);
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
