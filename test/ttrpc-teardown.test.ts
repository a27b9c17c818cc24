// A JavaScript environment that used TTRPC ends cleanly: worker threads that served and called
// (and a process that exits with connections open) release the addon's per-environment loop
// handles without touching freed memory.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const lib = path.resolve(__dirname, '..', 'lib', 'ttrpc');

// Serves Echo on an abstract socket, makes calls (small and 1 MiB), then leaves everything open.
const SCRIPT = `
const { Client, Server, unary } = require(${JSON.stringify(lib)});
const raw = { encode: (b) => ({ finish: () => b }), decode: (b) => b };
const Echo = unary('t.v1.T', 'Echo', raw, raw);
(async () => {
  const name = '@ttrpc-teardown-' + process.pid + '-' + Math.random().toString(36).slice(2);
  const server = new Server();
  server.addMethod(Echo, (b) => b);
  await server.listen(name);
  const client = await Client.connect(name);
  for (let i = 0; i < 50; i++) await client.unary(Echo, Buffer.alloc(i * 100, 1));
  const big = await client.unary(Echo, Buffer.alloc(1 << 20, 2));
  if (big.length !== 1 << 20) throw new Error('short echo');
  if (typeof postMessage === 'function') postMessage('done');
  else process.stdout.write('done');
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('ttrpc environment teardown', function () {
  it('worker threads that used TTRPC exit cleanly, one after another', async function () {
    if (process.platform !== 'linux') this.skip();
    for (let i = 0; i < 20; i++) {
      const worker = new Worker(
        `const { parentPort } = require('node:worker_threads');
         globalThis.postMessage = (m) => parentPort.postMessage(m);
         ${SCRIPT}`,
        { eval: true },
      );
      const message = await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.equal(message, 'done');
      // Open connections and listeners keep a worker alive: terminate it as a shim would.
      assert.equal(await worker.terminate(), 1);
    }
  });

  it('a process that exits with connections open ends with status 0', function () {
    if (process.platform !== 'linux') this.skip();
    for (let i = 0; i < 5; i++) {
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `${SCRIPT.replace("process.stdout.write('done')", "process.stdout.write('done'), process.exit(0)")}`,
        ],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'done');
      assert.doesNotMatch(r.stderr, /Assertion|Aborted/);
    }
  });
});
