// Server write backpressure: a client that sends and never reads stops being read once its
// answers pile up; the server's memory stays bounded, other clients are served meanwhile, and
// once the client reads, every answer arrives, in order.
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, Code, FrameType } from '../lib/ttrpc';
import { JsFrameDecoder, encodeHeader } from './helpers/frame-oracle';
import { decodeResponse, encodeRequest } from '../lib/ttrpc/wire';
import { Echo, SERVICE, decodeEchoResponse, echoRequest } from './fixtures/interop';
import { mib } from './helpers/memory';
import { rssOf, startReady, stopProcess } from './helpers/process-memory';

const REQUEST_PAYLOAD = 1 << 20;
const WRITE_FOR_MS = 10_000;

/** Echo request `index` on stream 2 * index + 1, its 1 MiB payload starting with the index. */
function requestFrame(index: number): Buffer {
  const payload = Buffer.alloc(REQUEST_PAYLOAD);
  payload.writeUInt32BE(index, 0);
  const body = encodeRequest({
    service: SERVICE,
    method: 'Echo',
    payload: echoRequest({ payload }),
  });
  return Buffer.concat([encodeHeader(body.length, 2 * index + 1, FrameType.REQUEST, 0), body]);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `bytes` on a fresh connection and counts the answers until the server has been quiet. */
async function answersTo(address: string, bytes: Buffer): Promise<number> {
  const socket = net.connect(address);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const decoder = new JsFrameDecoder();
  let answers = 0;
  socket.on('data', (chunk: Buffer) => (answers += decoder.push(chunk).length));
  socket.write(bytes);
  while (answers === 0) await sleep(10);
  socket.destroy();
  return answers;
}

describe('ttrpc server write backpressure', function () {
  this.timeout(120_000);
  let dir: string;
  let server: ChildProcess;
  let address: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-bp-'));
    address = path.join(dir, 's.sock');
    const script = path.resolve(__dirname, 'fixtures', 'echo-server.js');
    server = await startReady(process.execPath, [script, address]);
  });

  after(async () => {
    if (server) await stopProcess(server);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a client writing 1 MiB requests for 10 s without reading: bounded server, others served, all answers in order after', async () => {
    // Warm the server up (code paths, a 1 MiB echo) so its baseline includes what any use costs.
    const warm = await Client.connect(address);
    await warm.unary(Echo, { payload: Buffer.alloc(REQUEST_PAYLOAD) });
    warm.close();
    await sleep(100);
    const base = rssOf(server.pid!);

    const socket = net.connect(address);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause(); // never read, until the end
    let written = 0;
    let peak = base;
    let served = 0;
    const until = Date.now() + WRITE_FOR_MS;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(server.pid!))), 50);
    // Other clients meanwhile: each connects, makes a call and leaves.
    const others = (async () => {
      while (Date.now() < until) {
        const c = await Client.connect(address);
        const r = await c.unary(Echo, { payload: Buffer.from(`other ${served}`) });
        assert.equal(Buffer.from(r.payload).toString(), `other ${served}`);
        served++;
        c.close();
        await sleep(200);
      }
    })();
    try {
      while (Date.now() < until) {
        if (!socket.write(requestFrame(written++))) {
          // Blocked: the server stopped reading. Wait for it (it must not) or the end.
          await Promise.race([
            new Promise((resolve) => socket.once('drain', resolve)),
            sleep(until - Date.now()),
          ]);
        }
      }
      await others;
    } finally {
      clearInterval(sampler);
    }
    const grew = mib(peak - base);
    // The server stopped reading after a few requests: far fewer than 10 s of 1 MiB writes
    // (about 10 GiB at memory speed) would have been.
    assert.ok(written < 64, `${written} requests were accepted while nothing was read`);
    assert.ok(served >= 10, `${served} other clients served meanwhile`);
    // Bound: one read batch (2 MiB of requests), their answers queued (the 256 KiB high-water
    // mark is checked after each answer, so up to a batch), the partial request being read, and
    // the garbage of those 1 MiB buffers until V8 collects it. Go ttrpc 1.1.1 holds this client
    // at about 12 MiB in all; 32 MiB of growth over Node's own baseline is that order.
    assert.ok(grew < 32, `server RSS grew ${grew.toFixed(1)} MiB (peak ${mib(peak).toFixed(0)})`);

    // Now read: every answer, on streams 1, 3, 5, ... in order, each echoing its request.
    const decoder = new JsFrameDecoder();
    let answered = 0;
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          try {
            assert.equal(frame.streamId, 2 * answered + 1, 'answers in request order');
            const response = decodeResponse(frame.payload as Uint8Array);
            assert.equal(response.status, undefined);
            const echoed = Buffer.from(decodeEchoResponse(response.payload).payload);
            assert.equal(echoed.length, REQUEST_PAYLOAD);
            assert.equal(echoed.readUInt32BE(0), answered);
          } catch (err) {
            reject(err as Error);
            return;
          }
          if (++answered === written) resolve();
        }
      });
      socket.once('close', () => reject(new Error(`closed after ${answered} answers`)));
      socket.resume();
    });
    socket.destroy();
  });

  it('a client writing 10-byte frames that each earn an error answer, for 10 s without reading: bounded, all answered after', async () => {
    // 1,000 frames per write, each on the even stream id 2: each answered INVALID_ARGUMENT.
    const burst = Buffer.alloc(10 * 1000);
    for (let k = 0; k < 1000; k++) {
      burst.writeUInt32BE(2, k * 10 + 4);
      burst[k * 10 + 8] = FrameType.REQUEST;
    }
    const warm = await answersTo(address, burst.subarray(0, 10));
    assert.equal(warm, 1);
    await sleep(100);
    const base = rssOf(server.pid!);
    const socket = net.connect(address);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause();
    let writes = 0;
    let peak = base;
    const until = Date.now() + WRITE_FOR_MS;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(server.pid!))), 50);
    try {
      while (Date.now() < until) {
        writes++;
        if (!socket.write(burst)) {
          await Promise.race([
            new Promise((resolve) => socket.once('drain', resolve)),
            sleep(until - Date.now()),
          ]);
        }
      }
    } finally {
      clearInterval(sampler);
    }
    const grew = mib(peak - base);
    // Unbounded, this grows by several MB a second (about 70 MB in 10 s). Bounded, the server
    // holds one read batch (2 MiB of frames, 4.8 MB of their index) and 256 KiB of answers; the
    // rest is V8's young generation filling with the answers' garbage before it is collected.
    assert.ok(writes < 1000, `${writes} writes of 1,000 frames were accepted`);
    assert.ok(grew < 32, `server RSS grew ${grew.toFixed(1)} MiB (peak ${mib(peak).toFixed(0)})`);
    const expected = writes * 1000;
    const decoder = new JsFrameDecoder();
    let answered = 0;
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          const status = decodeResponse(frame.payload as Uint8Array).status;
          if (frame.streamId !== 2 || status?.code !== Code.INVALID_ARGUMENT) {
            reject(new Error(`answer ${answered}: stream ${frame.streamId}, ${status?.message}`));
            return;
          }
          if (++answered === expected) resolve();
        }
      });
      socket.once('close', () => reject(new Error(`closed after ${answered} answers`)));
      socket.resume();
    });
    socket.destroy();
  });
});
