// Streaming per protocol 1.2, client and metadata behaviour, Node ↔ Node.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  Client,
  Code,
  Metadata,
  Server,
  TtrpcError,
  bidi,
  clientStream,
  serverStream,
  unary,
} from '../lib/ttrpc';
import type { ServerStream } from '../lib/ttrpc';
import { FrameFlag, FrameType } from '../lib/ttrpc/frame';
import { decodeResponse, encodeRequest } from '../lib/ttrpc/wire';
import { RawPeer } from './helpers/raw-peer';
import { text } from './fixtures/text-codec';

const S = 'test.v1.Streams';
const Count = serverStream(S, 'Count', text, text);
const Sum = clientStream(S, 'Sum', text, text);
const Chat = bidi(S, 'Chat', text, text);
const Hold = bidi(S, 'Hold', text, text);
const Echo = unary(S, 'Echo', text, text);

describe('ttrpc streaming and client behaviour', () => {
  let dir: string;
  let address: string;
  let server: Server;
  let client: Client;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-stream-'));
    address = path.join(dir, 's.sock');
    server = new Server({ streamBuffer: 16 });
    server.addMethod(Count, async (request: string, stream: ServerStream<never, string>) => {
      const n = Number(request);
      if (n < 0) throw new TtrpcError(Code.INVALID_ARGUMENT, 'negative');
      for (let i = 1; i <= n; i++) await stream.send(String(i));
    });
    server.addMethod(Sum, async (stream: ServerStream<string, never>) => {
      let total = 0;
      for await (const s of stream) total += Number(s);
      return String(total);
    });
    server.addMethod(Chat, async (stream: ServerStream<string, string>) => {
      for await (const s of stream) await stream.send(s.toUpperCase());
    });
    // Never reads: its buffer fills and only its own stream fails.
    server.addMethod(
      Hold,
      (stream: ServerStream<string, string>) =>
        new Promise<void>((resolve) => stream.signal.addEventListener('abort', () => resolve())),
    );
    server.addMethod(Echo, (s: string, ctx) => `${s}|${ctx.metadata.get('x-list').join(',')}`);
    await server.listen(address);
    client = await Client.connect(address);
  });

  afterEach(async () => {
    client.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('server-streaming: yields every message, then ends', async () => {
    const got: string[] = [];
    for await (const m of client.serverStream(Count, '5')) got.push(m);
    assert.deepEqual(got, ['1', '2', '3', '4', '5']);
  });

  it('server-streaming: a handler error ends the stream with its status', async () => {
    const stream = client.serverStream(Count, '-1');
    await assert.rejects(stream.recv(), { code: Code.INVALID_ARGUMENT, message: 'negative' });
  });

  it('client-streaming: sends messages, closes, receives one response', async () => {
    const call = client.clientStream(Sum);
    for (const n of [1, 2, 3, 4]) await call.send(String(n));
    call.closeSend();
    assert.equal(await call.response, '10');
  });

  it('client-streaming with no messages gets the empty result (zero-length is a message, none is none)', async () => {
    const call = client.clientStream(Sum);
    call.closeSend();
    assert.equal(await call.response, '0');
  });

  it('bidi: interleaves sends and receives', async () => {
    const call = client.bidiStream(Chat);
    await call.send('a');
    assert.equal(await call.recv(), 'A');
    await call.send('b');
    assert.equal(await call.recv(), 'B');
    call.closeSend();
    assert.equal(await call.recv(), undefined);
  });

  it('an unread stream stops holding its connection once the client closed its side', async () => {
    const held = client.bidiStream(Hold);
    for (let i = 0; i < 40; i++) await held.send(`m${i}`);
    // Hold never reads: 40 > streamBuffer 16 pauses the connection (nothing fails with
    // RESOURCE_EXHAUSTED). Once the client closed its side the queue cannot grow: reading resumes.
    held.closeSend();
    const late = client.clientStream(Sum);
    await late.send('5');
    late.closeSend();
    assert.equal(await late.response, '5');
  });

  it('a slow consumer on the client side does not stall other calls', async () => {
    const slow = client.serverStream(Count, '10');
    // Nobody reads `slow` while these run.
    for (let i = 0; i < 20; i++) assert.equal(await client.unary(Echo, `e${i}`), `e${i}|`);
    const got: string[] = [];
    for await (const m of slow) got.push(m);
    assert.equal(got.length, 10);
  });

  it('sends the close of a client stream as a separate DATA[REMOTE_CLOSED|NO_DATA] frame', async () => {
    const raw = await RawPeer.connect(address);
    raw.send(
      1,
      FrameType.REQUEST,
      FrameFlag.REMOTE_OPEN,
      encodeRequest({ service: S, method: 'Chat', payload: new Uint8Array() }),
    );
    raw.send(1, FrameType.DATA, 0, Buffer.from('x'));
    const first = await raw.next();
    assert.deepEqual(
      [first?.type, first?.flags, Buffer.from(first!.payload as Uint8Array).toString()],
      [FrameType.DATA, 0, 'X'],
    );
    raw.send(1, FrameType.DATA, FrameFlag.REMOTE_CLOSED | FrameFlag.NO_DATA);
    const end = await raw.next();
    assert.deepEqual(
      [end?.type, end?.flags],
      [FrameType.DATA, FrameFlag.REMOTE_CLOSED | FrameFlag.NO_DATA],
    );
    // A late close for the finished stream is not answered; the connection stays healthy.
    raw.send(1, FrameType.DATA, FrameFlag.REMOTE_CLOSED | FrameFlag.NO_DATA);
    raw.send(
      3,
      FrameType.REQUEST,
      0,
      encodeRequest({ service: S, method: 'Echo', payload: Buffer.from('ok') }),
    );
    const ok = await raw.next();
    assert.equal(ok?.streamId, 3);
    assert.equal(Buffer.from(decodeResponse(ok!.payload as Uint8Array).payload).toString(), 'ok|');
    raw.close();
  });

  it('metadata: multi-valued, case-insensitive', async () => {
    const md = new Metadata({ 'X-List': ['a', 'b'] }).append('x-LIST', 'c');
    assert.deepEqual(md.get('x-list'), ['a', 'b', 'c']);
    assert.equal(await client.unary(Echo, 'm', { metadata: md }), 'm|a,b,c');
  });

  it('client interceptors see the call and can add metadata; server interceptors wrap handlers', async () => {
    const seen: string[] = [];
    const s = new Server({
      interceptors: [
        async (ctx, req, next) => {
          seen.push(`server ${ctx.fullMethod}`);
          return `${String(await next(req))}!`;
        },
      ],
    });
    s.addMethod(Echo, (v: string, ctx) => `${v}|${ctx.metadata.get('x-list').join(',')}`);
    const a = path.join(dir, 'i.sock');
    await s.listen(a);
    const c = await Client.connect(a, {
      interceptors: [
        async (info, req, next) => {
          seen.push(`client ${info.fullMethod}`);
          info.metadata.append('x-list', 'added');
          return next(req);
        },
      ],
    });
    assert.equal(await c.unary(Echo, 'v'), 'v|added!');
    assert.deepEqual(seen, [`client /${S}/Echo`, `server /${S}/Echo`]);
    c.close();
    await s.close();
  });

  it('an aborted signal cancels a call with CANCELLED; a past deadline fails fast', async () => {
    const controller = new AbortController();
    const pending = client.serverStream(Count, '1000000').recv();
    controller.abort();
    await assert.rejects(client.unary(Echo, 'x', { signal: controller.signal }), {
      code: Code.CANCELLED,
    });
    await assert.rejects(client.unary(Echo, 'x', { deadline: Date.now() - 1 }), {
      code: Code.DEADLINE_EXCEEDED,
    });
    await pending;
  });

  it('closing the client fails pending calls and runs onClose once', async () => {
    let closes = 0;
    const c = await Client.connect(address, { onClose: () => closes++ });
    const pending = c.bidiStream(Hold).recv();
    c.close();
    await assert.rejects(pending, { code: Code.UNAVAILABLE, message: 'ttrpc: closed' });
    await c.closedPromise;
    assert.equal(closes, 1);
    await assert.rejects(c.unary(Echo, 'x'), { code: Code.UNAVAILABLE });
  });

  it('busyPollMicros 50: calls, streams and close behave the same with a tighter spin bound', async () => {
    const s = new Server({ busyPollMicros: 50 });
    s.addMethod(Echo, (v: string) => `${v}!`);
    s.addMethod(Count, async (request: string, stream: ServerStream<never, string>) => {
      for (let i = 1; i <= Number(request); i++) await stream.send(String(i));
    });
    const a = path.join(dir, 'spin.sock');
    await s.listen(a);
    const c = await Client.connect(a, { busyPollMicros: 50 });
    for (let i = 0; i < 200; i++) assert.equal(await c.unary(Echo, `m${i}`), `m${i}!`);
    const got = await Promise.all(Array.from({ length: 32 }, (_, i) => c.unary(Echo, `p${i}`)));
    assert.deepEqual(
      got,
      Array.from({ length: 32 }, (_, i) => `p${i}!`),
    );
    const counted: string[] = [];
    for await (const m of c.serverStream(Count, '50')) counted.push(m);
    assert.equal(counted.length, 50);
    c.close();
    await c.closedPromise;
    await s.close();
  });

  it('connect fails with the errno of the missing socket', async () => {
    await assert.rejects(Client.connect(path.join(dir, 'missing.sock')), {
      code: 'ENOENT',
      syscall: 'connect',
    });
  });
});
