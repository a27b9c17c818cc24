// Closed connections are released: their native channels, partial frames, output buffers and the
// JavaScript objects they reference (Client, server connection, Server) become garbage.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, Server } from '../lib/ttrpc';
import { Echo } from './fixtures/interop';
import { serveInterop } from './fixtures/interop-server';
import { collectUntil, mib, settledMemory, trackChannels, tracker } from './helpers/memory';

const PARTIAL = 1 << 20;

/**
 * A child process opens `count` connections to `address`, writes on each a header announcing a
 * 1 MiB frame and all of it but the last byte, says "sent" once written, and closes them all when
 * told to on stdin. The writer lives in its own process so that this one's RSS is the server's.
 */
function partialFrameWriter(address: string, count: number) {
  const script = `
    const net = require('net');
    const header = Buffer.alloc(10);
    header.writeUInt32BE(${PARTIAL}, 0);
    header.writeUInt32BE(1, 4);
    header[8] = 1;
    const body = Buffer.alloc(${PARTIAL - 1});
    const sockets = [];
    let written = 0;
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect(${JSON.stringify(address)}, () => {
        s.write(header);
        s.write(body, () => { if (++written === ${count}) console.log('sent'); });
      });
      s.on('error', () => {});
      sockets.push(s);
    }
    process.stdin.on('data', () => { for (const s of sockets) s.destroy(); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  return {
    sent: new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`writer exited with ${code}`)));
    }),
    closeAll: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.write('close\n');
      }),
  };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 3000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

describe('ttrpc: closed connections are released', function () {
  this.timeout(300_000);
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-leak-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('600 connections each holding a 1 MiB partial frame: all freed on close, with the Server', async () => {
    const channels = trackChannels();
    const servers = tracker<Server>();
    const address = path.join(dir, 's.sock');
    try {
      const base = await settledMemory();
      let server: Server | undefined = servers.track(new Server());
      serveInterop(server);
      await server.listen(address);
      const writer = partialFrameWriter(address, 600);
      await writer.sent;
      // The server holds what it read: ~600 MiB of partial frames (the test means something).
      await until('the server buffers the partial frames', () => {
        return mib(process.memoryUsage().rss - base.rss) > 500;
      });
      const peak = process.memoryUsage().rss;
      assert.equal(server.connectionCount, 600);
      await writer.closeAll();
      await until('every connection closed', () => server!.connectionCount === 0);
      await server.close();
      server = undefined;
      await collectUntil(() => channels.collected === 600 && servers.collected === 1);
      const after = await settledMemory();
      // Every channel object (and the connection and callbacks it referenced) was collected.
      assert.equal(channels.created, 600);
      assert.equal(channels.collected, 600, 'every channel collected');
      assert.equal(servers.collected, 1, 'the closed Server collected');
      // Bounds: the 600 MiB held at the peak are returned. What may remain is allocator slack
      // and V8's grown heap; 32 MiB is 5% of the peak, and a leak of the old kind (a partial
      // frame per closed connection) would keep all 600 MiB.
      const kept = mib(after.rss - base.rss);
      assert.ok(
        kept < 32,
        `RSS ${kept.toFixed(1)} MiB above the start (peak +${mib(peak - base.rss).toFixed(0)} MiB)`,
      );
      // The JS heap held 600 connections' objects at most; 8 MiB covers V8's own growth.
      const heap = mib(after.heapUsed - base.heapUsed);
      assert.ok(heap < 8, `heap ${heap.toFixed(1)} MiB above the start`);
    } finally {
      channels.restore();
    }
  });

  it('10,000 Client connect / call / close cycles: every Client and channel is collected', async () => {
    const channels = trackChannels();
    const clients = tracker<Client>();
    const address = path.join(dir, 'c.sock');
    const server = new Server();
    // A plain echo: the interop fixture records every call, which would be a leak of the test's.
    server.addMethod(Echo, (request) => ({ payload: request.payload }));
    await server.listen(address);
    try {
      const cycles = 10_000;
      const big = Buffer.alloc(PARTIAL, 1);
      const cycle = async (i: number): Promise<void> => {
        const client = clients.track(await Client.connect(address));
        // Every 100th call moves 1 MiB each way, so large output buffers are exercised too.
        const payload = i % 100 === 0 ? big : Buffer.from(`call ${i}`);
        const r = await client.unary(Echo, { payload });
        assert.equal(r.payload.length, payload.length);
        client.close();
        await client.closedPromise;
      };
      // A warm-up, so that the baseline has the code paths' one-time allocations and V8's young
      // generation has grown to what this load makes it.
      for (let i = 0; i < 2000; i++) await cycle(i);
      await until('warm-up connections closed', () => server.connectionCount === 0);
      await collectUntil(() => clients.collected === clients.created);
      const base = await settledMemory();
      const createdBefore = channels.created;
      const collectedBefore = channels.collected;
      // Eight clients at a time, as a busy shim's callers would.
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < cycles) await cycle(next++);
        }),
      );
      await until('every server connection closed', () => server.connectionCount === 0);
      await collectUntil(
        () => clients.collected === clients.created && channels.collected === channels.created,
      );
      const after = await settledMemory();
      assert.equal(clients.created, cycles + 2000);
      assert.equal(clients.collected, clients.created, 'every Client collected');
      // Two channels per cycle: the client's and the server's end.
      assert.equal(channels.created - createdBefore, 2 * cycles);
      assert.equal(channels.collected, channels.created, 'every channel collected');
      assert.ok(channels.collected - collectedBefore >= 2 * cycles);
      // Bounds: a Client kept per cycle is a few KiB of JS objects (10,000 of them: tens of MiB of
      // heap, where 4 MiB is allowed) and, for the 100 cycles with a 1 MiB call, 2 MiB of
      // buffers each (+200 MiB outside the heap). V8 sizes its young generation by the load (up
      // to three 16 MiB semi-spaces in Node 20: RSS rose 6 MiB alone and 72 MiB inside the
      // loaded suite with everything collected), so what is bounded outside the heap is RSS less
      // the heap's reserved growth; a native buffer kept per cycle (2 × 10,000) would pass 32 MiB
      // at 1.6 KiB each.
      const heap = mib(after.heapUsed - base.heapUsed);
      assert.ok(heap < 4, `heap ${heap.toFixed(1)} MiB above the start`);
      const rss = mib(after.rss - base.rss);
      const outside = rss - mib(after.heapTotal - base.heapTotal);
      assert.ok(
        outside < 32,
        `${outside.toFixed(1)} MiB kept outside the V8 heap (RSS +${rss.toFixed(1)} MiB)`,
      );
    } finally {
      channels.restore();
      await server.close();
    }
  });
});
