// Flow control, Node ↔ Node: slow stream consumers slow their peer down (no message dropped, no
// stream failed), a stalled stream holds its connection until it ends, and a stream's queue
// never pins the read batch it came from.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, Code, Server, TtrpcError, bidi, unary } from '../lib/ttrpc';
import type { ServerStream } from '../lib/ttrpc';
import { VOLUME_CASES, expectedSummary, runVolumeCase, serveStreaming } from './fixtures/streaming';
import { text } from './fixtures/text-codec';

const S = 'test.v1.Flow';
const Hold = bidi(S, 'Hold', text, text);
const Echo = unary(S, 'Echo', text, text);

describe('ttrpc flow control (Node ↔ Node)', function () {
  this.timeout(120_000);
  let dir: string;
  let server: Server;
  let address: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-flow-'));
    address = path.join(dir, 's.sock');
    server = new Server();
    serveStreaming(server);
    await server.listen(address);
  });

  afterEach(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const c of VOLUME_CASES) {
    it(`${c.name}: slow consumers get every message, in order`, async () => {
      const client = await Client.connect(address);
      try {
        assert.deepEqual(await runVolumeCase(client, c), expectedSummary(c));
      } finally {
        client.close();
      }
    });
  }

  it('a stream whose handler does not read holds its connection until the stream ends; nothing is lost', async () => {
    const s = new Server({ streamBuffer: 16 });
    let held: ServerStream<string, string> | undefined;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    s.addMethod(Hold, async (stream: ServerStream<string, string>) => {
      held = stream;
      await released;
      const got: string[] = [];
      for await (const m of stream) got.push(m);
      await stream.send(got.join(','));
    });
    s.addMethod(Echo, (v: string) => v);
    const a = path.join(dir, 'hold.sock');
    await s.listen(a);
    const client = await Client.connect(a);
    try {
      const call = client.bidiStream(Hold);
      // 2,000 messages of 1 KiB: more than the socket buffers and the client's write buffer hold,
      // so the client's sends can only all complete if the server reads them.
      const sent = Array.from({ length: 2000 }, (_, i) => `${i}:`.padEnd(1024, 'x'));
      let allSent = false;
      const sending = (async () => {
        for (const m of sent) await call.send(m);
        call.closeSend();
        allSent = true;
      })();
      while (held === undefined) await new Promise((r) => setImmediate(r));
      // A unary call on the same connection waits behind the stalled stream.
      let echoed = false;
      const echo = client.unary(Echo, 'after').then((v) => ((echoed = true), v));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(allSent, false, 'the server stopped reading once the stream queue was full');
      assert.equal(echoed, false, 'nothing behind the stalled stream is served meanwhile');
      release();
      await sending;
      assert.equal(await echo, 'after');
      assert.equal(await call.recv(), sent.join(','));
      assert.equal(await call.recv(), undefined);
    } finally {
      client.close();
      await s.close();
    }
  });

  it('a stalled stream that ends (its deadline) lets the connection read again', async () => {
    const s = new Server({ streamBuffer: 8 });
    s.addMethod(
      Hold,
      (stream: ServerStream<string, string>) =>
        new Promise<void>((resolve) => stream.signal.addEventListener('abort', () => resolve())),
    );
    s.addMethod(Echo, (v: string) => v);
    const a = path.join(dir, 'stall.sock');
    await s.listen(a);
    const client = await Client.connect(a);
    try {
      const call = client.bidiStream(Hold, { timeoutMs: 300 });
      for (let i = 0; i < 100; i++) void call.send(`m${i}`).catch(() => undefined);
      await assert.rejects(call.recv(), (err: unknown) =>
        TtrpcError.is(err, Code.DEADLINE_EXCEEDED),
      );
      assert.equal(await client.unary(Echo, 'again'), 'again');
    } finally {
      client.close();
      await s.close();
    }
  });
});
