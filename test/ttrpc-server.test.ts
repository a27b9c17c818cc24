// The server's answers to malformed and hostile input, shutdown and close, handshakes and
// listening transports, driven by a raw peer that bypasses the client's checks.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { addonPlatform, posix } from '../lib/native';
import {
  Client,
  Code,
  FrameType,
  MAX_MESSAGE_LENGTH,
  Server,
  TtrpcError,
  requireSameUser,
} from '../lib/ttrpc';
import { encodeHeader } from './helpers/frame-oracle';
import { decodeResponse, encodeRequest } from '../lib/ttrpc/wire';
import { Echo, SERVICE, decodeEchoResponse, echoRequest } from './fixtures/interop';
import { serveInterop } from './fixtures/interop-server';
import { RawPeer, connectAsNobody } from './helpers/raw-peer';
import { requireEnvironment } from './helpers/env';

function request(payload: Uint8Array, extra: { timeoutNano?: number } = {}): Uint8Array {
  return encodeRequest({ service: SERVICE, method: 'Echo', payload, ...extra });
}

async function expectStatus(
  peer: RawPeer,
  streamId: number,
  code: Code,
  message?: RegExp | string,
): Promise<void> {
  const frame = await peer.next();
  assert.ok(frame, 'a response frame');
  assert.equal(frame.streamId, streamId);
  assert.equal(frame.type, FrameType.RESPONSE);
  const response = decodeResponse(frame.payload as Uint8Array);
  assert.equal(response.status?.code ?? 0, code, response.status?.message);
  if (typeof message === 'string') assert.equal(response.status?.message, message);
  else if (message) assert.match(response.status?.message ?? '', message);
}

async function expectEcho(peer: RawPeer, streamId: number, text: string): Promise<void> {
  peer.send(streamId, FrameType.REQUEST, 0, request(echoRequest({ payload: Buffer.from(text) })));
  const frame = await peer.next();
  assert.equal(frame?.streamId, streamId);
  const response = decodeResponse(frame.payload as Uint8Array);
  assert.equal(response.status, undefined);
  assert.equal(Buffer.from(decodeEchoResponse(response.payload).payload).toString(), text);
}

describe('ttrpc server', () => {
  let dir: string;
  let address: string;
  let server: Server;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-server-'));
    address = path.join(dir, 's.sock');
    server = new Server();
    serveInterop(server);
    await server.listen(address);
  });

  afterEach(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('protocol errors keep the connection', () => {
    let peer: RawPeer;
    beforeEach(async () => {
      peer = await RawPeer.connect(address);
    });
    afterEach(() => peer.close());

    it('rejects even stream ids with INVALID_ARGUMENT', async () => {
      peer.send(2, FrameType.REQUEST, 0, request(echoRequest({})));
      await expectStatus(
        peer,
        2,
        Code.INVALID_ARGUMENT,
        'StreamID must be odd for client initiated streams',
      );
      await expectEcho(peer, 3, 'ok');
    });

    it('rejects reused and decreasing stream ids with INVALID_ARGUMENT', async () => {
      await expectEcho(peer, 5, 'five');
      peer.send(5, FrameType.REQUEST, 0, request(echoRequest({})));
      await expectStatus(
        peer,
        5,
        Code.INVALID_ARGUMENT,
        'StreamID cannot be re-used and must increment',
      );
      peer.send(3, FrameType.REQUEST, 0, request(echoRequest({})));
      await expectStatus(
        peer,
        3,
        Code.INVALID_ARGUMENT,
        'StreamID cannot be re-used and must increment',
      );
      await expectEcho(peer, 7, 'seven');
    });

    it('answers an undecodable request envelope with INVALID_ARGUMENT', async () => {
      peer.send(1, FrameType.REQUEST, 0, Uint8Array.of(0x0a, 0xff, 0xff));
      await expectStatus(peer, 1, Code.INVALID_ARGUMENT, /^unmarshal request error: /);
      await expectEcho(peer, 3, 'ok');
    });

    it('answers an undecodable method payload with INVALID_ARGUMENT', async () => {
      peer.send(1, FrameType.REQUEST, 0, request(Uint8Array.of(0x0a, 0x09, 0x01)));
      await expectStatus(peer, 1, Code.INVALID_ARGUMENT, /^unmarshal request error: /);
      await expectEcho(peer, 3, 'ok');
    });

    it('answers unknown services and methods with UNIMPLEMENTED', async () => {
      peer.send(
        1,
        FrameType.REQUEST,
        0,
        encodeRequest({ service: 'x.Y', method: 'Z', payload: new Uint8Array() }),
      );
      await expectStatus(peer, 1, Code.UNIMPLEMENTED, 'service x.Y');
      peer.send(
        3,
        FrameType.REQUEST,
        0,
        encodeRequest({ service: SERVICE, method: 'Z', payload: new Uint8Array() }),
      );
      await expectStatus(peer, 3, Code.UNIMPLEMENTED, 'method Z');
      peer.send(5, FrameType.REQUEST, 0, new Uint8Array());
      await expectStatus(peer, 5, Code.UNIMPLEMENTED, 'service ');
    });

    it('answers a frame over 4 MiB with RESOURCE_EXHAUSTED on its stream, without buffering it', async () => {
      const length = MAX_MESSAGE_LENGTH + 1;
      peer.write(encodeHeader(length, 1, FrameType.REQUEST, 0));
      peer.write(Buffer.alloc(length));
      await expectStatus(
        peer,
        1,
        Code.RESOURCE_EXHAUSTED,
        `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
      );
      await expectEcho(peer, 3, 'after');
    });

    it('answers an oversized frame of any type (response, unknown) with RESOURCE_EXHAUSTED, as Go', async () => {
      const length = MAX_MESSAGE_LENGTH + 7;
      for (const [id, type] of [
        [1, FrameType.RESPONSE],
        [3, 0x7f],
        [4, FrameType.DATA],
      ] as const) {
        peer.write(encodeHeader(length, id, type, 0));
        peer.write(Buffer.alloc(length));
        await expectStatus(
          peer,
          id,
          Code.RESOURCE_EXHAUSTED,
          `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
        );
      }
      await expectEcho(peer, 5, 'after');
    });

    it('answers any frame on an even stream id with "StreamID must be odd", as Go 1.2', async () => {
      for (const type of [FrameType.DATA, FrameType.RESPONSE, 0x7f]) {
        peer.send(2, type, 0, Uint8Array.of(1));
        await expectStatus(
          peer,
          2,
          Code.INVALID_ARGUMENT,
          'StreamID must be odd for client initiated streams',
        );
      }
      await expectEcho(peer, 3, 'ok');
    });

    it('answers data for a stream that does not exist with INVALID_ARGUMENT', async () => {
      peer.send(9, FrameType.DATA, 0, Uint8Array.of(1, 2, 3));
      await expectStatus(peer, 9, Code.INVALID_ARGUMENT, 'StreamID is no longer active');
      await expectEcho(peer, 11, 'ok');
    });

    it('ignores frames of unknown types and responses sent by a client', async () => {
      peer.send(1, 0x7f, 0, Uint8Array.of(1));
      peer.send(1, FrameType.RESPONSE, 0, Uint8Array.of(1));
      await expectEcho(peer, 3, 'ok');
    });

    it('survives random garbage without crashing the server', async () => {
      for (let i = 0; i < 50; i++) {
        const junk = Buffer.alloc(64);
        for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(Math.random() * 256);
        junk.writeUInt32BE(junk.length - 10, 0); // a frame-sized frame of garbage
        peer.write(junk);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      const fresh = await RawPeer.connect(address);
      await expectEcho(fresh, 1, 'alive');
      fresh.close();
    });

    it('answers DEADLINE_EXCEEDED when timeout_nano passes before the handler finishes', async () => {
      peer.send(
        1,
        FrameType.REQUEST,
        0,
        request(echoRequest({ sleepMs: 5000 }), { timeoutNano: 50e6 }),
      );
      const started = Date.now();
      await expectStatus(peer, 1, Code.DEADLINE_EXCEEDED, 'context deadline exceeded');
      assert.ok(Date.now() - started < 2000);
    });

    it('sends a response of exactly 4 MiB and turns a larger one into RESOURCE_EXHAUSTED', async () => {
      // Response{payload: EchoResponse{payload: n}}: 2 tag+length bytes per level.
      let n = MAX_MESSAGE_LENGTH - 16;
      const frameLength = (k: number): number => {
        const inner = 1 + lengthOfVarint(k) + k;
        return 1 + lengthOfVarint(inner) + inner;
      };
      while (frameLength(n) < MAX_MESSAGE_LENGTH) n++;
      assert.equal(frameLength(n), MAX_MESSAGE_LENGTH);
      peer.send(1, FrameType.REQUEST, 0, request(echoRequest({ responseSize: n })));
      const ok = await peer.next();
      assert.equal((ok?.payload as Uint8Array).length, MAX_MESSAGE_LENGTH);
      peer.send(3, FrameType.REQUEST, 0, request(echoRequest({ responseSize: n + 1 })));
      await expectStatus(peer, 3, Code.RESOURCE_EXHAUSTED, /exceed maximum message size/);
      await expectEcho(peer, 5, 'ok');
    });
  });

  describe('shutdown and close', () => {
    it('shutdown() stops accepting, lets in-flight calls finish, then closes', async () => {
      const client = await Client.connect(address);
      const slow = client.unary(Echo, { sleepMs: 200, payload: Buffer.from('slow') });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const done = server.shutdown({ timeoutMs: 5000 });
      await assert.rejects(Client.connect(address), { code: 'ENOENT' });
      const r = await slow;
      assert.equal(Buffer.from(r.payload).toString(), 'slow');
      await done;
      await client.closedPromise;
      assert.equal(server.connectionCount, 0);
    });

    it('shutdown() closes connections still busy when its deadline passes', async () => {
      const client = await Client.connect(address);
      const stuck = client.unary(Echo, { sleepMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await server.shutdown({ timeoutMs: 100 });
      await assert.rejects(stuck, { code: Code.UNAVAILABLE, message: 'ttrpc: closed' });
    });

    it('close() fails pending calls with a closed error and aborts their handlers', async () => {
      const calls = serveInterop(server);
      const client = await Client.connect(address);
      const pending = client.unary(Echo, { sleepMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await server.close();
      await assert.rejects(pending, (err: unknown) => TtrpcError.is(err, Code.UNAVAILABLE));
      assert.ok(
        TtrpcError.is(calls[0]?.aborted, Code.UNAVAILABLE),
        'the handler signal was aborted',
      );
      await assert.rejects(client.unary(Echo, {}), {
        code: Code.UNAVAILABLE,
        message: 'ttrpc: closed',
      });
    });

    it('calls onClose once the last connection is gone', async () => {
      let closed = 0;
      const s = new Server({ onClose: () => closed++ });
      serveInterop(s);
      const a = path.join(dir, 'onclose.sock');
      await s.listen(a);
      const client = await Client.connect(a);
      await client.unary(Echo, {});
      await s.shutdown();
      assert.equal(closed, 1);
      assert.ok(!fs.existsSync(a), 'the socket file is removed');
    });
  });

  describe('handshake and transports', () => {
    it('serves peers of the same uid and refuses a client running as another uid', async function () {
      requireEnvironment(
        this,
        { root: true },
        'run as root (the test switches a client to uid 65534)',
      );
      const s = new Server({ handshaker: requireSameUser() });
      serveInterop(s);
      const a = path.join(dir, 'creds.sock');
      await s.listen(a);
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(a, 0o777);
      const same = await Client.connect(a);
      await same.unary(Echo, {});
      // A client in another process as uid 65534: connect succeeds, then the server hangs up.
      assert.match(
        await connectAsNobody(a, '0000000a0000000101000a0a0a0a0a0a0a0a0a0a'),
        /^(closed|error ECONNRESET|error EPIPE)$/,
      );
      same.close();
      await s.close();
    });

    it('listens on an abstract socket (Linux; other builds refuse the name)', async () => {
      const s = new Server();
      serveInterop(s);
      const name = `@ttrpc-test-${process.pid}-${Date.now()}`;
      if (addonPlatform !== 'linux') {
        await assert.rejects(s.listen(name), {
          code: 'ERR_UNSUPPORTED_PLATFORM',
          message: /abstract unix socket names .* are Linux-only/,
        });
        await assert.rejects(Client.connect(name), { code: 'ERR_UNSUPPORTED_PLATFORM' });
        return;
      }
      await s.listen(name);
      const client = await Client.connect(name);
      assert.equal(
        Buffer.from((await client.unary(Echo, { payload: Buffer.from('abs') })).payload).toString(),
        'abs',
      );
      client.close();
      await s.close();
    });

    it('serves on an already-listening fd (fd://N), as a shim does with fd 3', async () => {
      const socketPath = path.join(dir, 'inherited.sock');
      const fd = posix.unixListen(socketPath, false);
      const s = new Server();
      serveInterop(s);
      await s.listen(`fd://${fd}`);
      const client = await Client.connect(socketPath);
      assert.equal(
        Buffer.from((await client.unary(Echo, { payload: Buffer.from('fd') })).payload).toString(),
        'fd',
      );
      client.close();
      await s.close();
    });

    it('refuses an fd that is not a listening socket', async () => {
      const s = new Server();
      await assert.rejects(s.listen('fd://0'), { code: 'ERR_INVALID_FD' });
    });

    it('rejects malformed addresses with ERR_INVALID_ADDRESS', async () => {
      const s = new Server();
      await assert.rejects(s.listen('tcp://127.0.0.1:1'), { code: 'ERR_INVALID_ADDRESS' });
      await assert.rejects(s.listen(''), { code: 'ERR_INVALID_ADDRESS' });
    });
  });
});

function lengthOfVarint(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}
