// The shim's `logger` from ESM and from CommonJS: a shim imports it by name at load time, while it
// is still the silent start/delete logger; once run() serves, the same binding must write to the
// bundle's log (an ESM named import of a CommonJS module is a snapshot, not a live binding).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, TaskClient, logger, setShimLogger } from '../lib';
import type { ShimLogger } from '../lib';
import { run } from './helpers/node-dist';

const top = path.resolve(__dirname, '..', '..');

const SHIM_BODY = `
const early = logger.child({ component: 'early' });
class Service {
  constructor() { this.exit = new ExitSignal(); }
  startShim() { throw new Error('not used'); }
  deleteShim() { return {}; }
  wait() { return this.exit.wait(); }
  createTaskService() {
    return {
      connect: () => {
        logger.info({ importer: KIND }, 'connect handled');
        early.warn('child made before serving');
        return { version: KIND, shimPid: process.pid };
      },
      shutdown: () => { this.exit.signal(); return {}; },
    };
  }
}
run('io.containerd.logger.v1', Service);
`;
const ESM_SHIM = `import { ExitSignal, logger, run } from 'containerd-shim';
const KIND = 'esm';${SHIM_BODY}`;
const CJS_SHIM = `'use strict';
const { ExitSignal, logger, run } = require('containerd-shim');
const KIND = 'cjs';${SHIM_BODY}`;

// The socket file exists from bind(2) on, before listen(2): wait for the shim to say it serves.
async function waitForLine(file: string, line: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  const has = (): boolean => {
    try {
      return fs.readFileSync(file, 'utf8').includes(line);
    } catch {
      return false;
    }
  };
  while (!has()) {
    if (Date.now() > until) throw new Error(`${file} did not get "${line}"`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('shim logger: one binding for ESM and CommonJS importers', function () {
  this.timeout(60_000);
  let tmp: string;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-logger-'));
    // The package as an importer sees it: node_modules/containerd-shim, resolved through exports.
    fs.mkdirSync(path.join(tmp, 'node_modules'));
    fs.symlinkSync(top, path.join(tmp, 'node_modules', 'containerd-shim'));
    fs.writeFileSync(path.join(tmp, 'shim.mjs'), ESM_SHIM);
    fs.writeFileSync(path.join(tmp, 'shim.cjs'), CJS_SHIM);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const kind of ['esm', 'cjs'] as const) {
    it(`${kind}: lines logged while serving reach the bundle's log`, async function () {
      const bundle = path.join(tmp, `bundle-${kind}`);
      fs.mkdirSync(bundle);
      const socket = path.join(bundle, 's.sock');
      const script = path.join(tmp, kind === 'esm' ? 'shim.mjs' : 'shim.cjs');
      const served = run(
        process.execPath,
        [script, '-namespace', 'default', '-id', kind, '-socket', `unix://${socket}`],
        {
          cwd: bundle,
          env: { ...process.env, TTRPC_ADDRESS: path.join(tmp, 'no-containerd.sock') },
          timeoutMs: 50_000,
        },
      );
      await waitForLine(path.join(bundle, 'log'), 'server started', 30_000);
      const client = await Client.connect(socket);
      const task = new TaskClient(client);
      assert.equal((await task.connect({ id: kind })).version, kind);
      await task.shutdown({ id: kind }).catch(() => undefined);
      client.close();
      const result = await served;
      assert.equal(result.code, 0, result.stderr);
      const log = fs.readFileSync(path.join(bundle, 'log'), 'utf8');
      assert.match(log, /level=info msg="server started"/);
      assert.match(log, new RegExp(`level=info msg="connect handled" .*importer=${kind}`));
      assert.match(log, /level=warning msg="child made before serving" .*component=early/);
    });
  }

  it('setShimLogger redirects the binding and the children taken from it', function () {
    const lines: string[] = [];
    const record = (level: string) => (obj: unknown, msg?: string) =>
      lines.push(`${level} ${typeof obj === 'string' ? obj : msg}`);
    const fake = {
      info: record('info'),
      warn: record('warn'),
      level: 'info',
      child: () => ({ ...fake, info: record('child-info') }),
    } as unknown as ShimLogger;
    const before = lines.length;
    const child = logger.child({ a: 1 });
    logger.info('dropped while silent');
    assert.equal(lines.length, before);
    setShimLogger(fake);
    try {
      logger.info('hello');
      child.info('from child');
      assert.equal(logger.level, 'info');
      assert.deepEqual(lines, ['info hello', 'child-info from child']);
    } finally {
      setShimLogger(silent);
    }
  });
});

// What run() uses during start/delete; restores the process's logger after the test above.
const silent = (() => {
  const noop = (): void => undefined;
  return {
    level: 'silent',
    info: noop,
    warn: noop,
    debug: noop,
    error: noop,
    child: () => silent,
  } as unknown as ShimLogger;
})();
