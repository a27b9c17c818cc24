// Interop with Go's ttrpc (Debian 1.1.1): Go client → Node server and Node client → Go server.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { addonPlatform } from '../lib/native';
import { Client, Code, MAX_MESSAGE_LENGTH, Server, TtrpcError } from '../lib/ttrpc';
import { encodeRequest } from '../lib/ttrpc/wire';
import { Echo, SERVICE, decodeEchoResponse, echoRequest } from './fixtures/interop';
import { serveInterop } from './fixtures/interop-server';
import type { ServedCall } from './fixtures/interop-server';
import { goClient, requireGoPeer, startGoServer } from './helpers/go-peer';
import type { GoServer } from './helpers/go-peer';

/** An Echo payload size whose Request frame is exactly `frameLength` bytes. */
function payloadForFrame(frameLength: number, extra: { responseSize?: number } = {}): number {
  const frame = (n: number): number =>
    encodeRequest({
      service: SERVICE,
      method: 'Echo',
      payload: echoRequest({ payload: new Uint8Array(n), ...extra }),
    }).length;
  let n = frameLength - 64;
  while (frame(n) < frameLength) n++;
  assert.equal(frame(n), frameLength, 'varint sizes allow an exact fit');
  return n;
}

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-interop-'));

describe('interop: Go ttrpc client → Node server', function () {
  let dir: string;
  let server: Server;
  let address: string;
  let calls: ServedCall[];

  before(async function () {
    requireGoPeer(this);
    dir = tmp();
    address = path.join(dir, 'node.sock');
    server = new Server();
    calls = serveInterop(server);
    await server.listen(address);
  });

  after(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers a unary echo', async () => {
    const [r] = await goClient(address, [
      { service: SERVICE, method: 'Echo', payload: echoRequest({ payload: Buffer.from('hello') }) },
    ]);
    assert.equal(r!.code, 0, r!.message);
    assert.equal(Buffer.from(decodeEchoResponse(r!.payload!).payload).toString(), 'hello');
  });

  it('receives metadata keys as sent (case kept) with repeated keys in order; lookups ignore case', async () => {
    const [r] = await goClient(address, [
      {
        service: SERVICE,
        method: 'Echo',
        payload: echoRequest({}),
        metadata: [
          ['b-key', '1'],
          ['A-Key', 'x'],
          ['b-key', '2'],
        ],
      },
    ]);
    assert.equal(r!.code, 0, r!.message);
    const seen = decodeEchoResponse(r!.payload!).metadata.map((kv) => `${kv.key}=${kv.value}`);
    assert.deepEqual(seen, ['b-key=1', 'b-key=2', 'A-Key=x']);
    assert.deepEqual(
      calls
        .at(-1)!
        .metadata.filter(([k]) => k === 'b-key')
        .map(([, v]) => v),
      ['1', '2'],
    );
    assert.deepEqual(calls.at(-1)!.lookup, ['x'], "ctx.metadata.get('a-KEY')");
  });

  it('passes the deadline to the handler as a signal and answers DEADLINE_EXCEEDED', async () => {
    const before = calls.length;
    // The second call keeps the connection open past the first one's deadline: the Go client
    // gives up at its own deadline, and its leaving would otherwise race the server's timer.
    const [r] = await goClient(address, [
      { service: SERVICE, method: 'Echo', payload: echoRequest({ sleepMs: 2000 }), timeoutMs: 100 },
      { service: SERVICE, method: 'Echo', payload: echoRequest({ sleepMs: 300 }) },
    ]);
    assert.equal(r!.code, Code.DEADLINE_EXCEEDED);
    assert.ok(r!.us < 1_500_000, 'the call ended at its deadline, not after the sleep');
    const served = calls[before]!;
    assert.ok(served.deadline !== undefined, 'timeout_nano became a deadline');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(
      TtrpcError.is(served.aborted, Code.DEADLINE_EXCEEDED),
      'the handler saw its signal abort',
    );
  });

  it('maps handler errors and unknown names to Go status codes', async () => {
    const results = await goClient(address, [
      {
        service: SERVICE,
        method: 'Echo',
        payload: echoRequest({ failCode: Code.NOT_FOUND, failMessage: 'no such thing 100%' }),
      },
      { service: 'no.such.Service', method: 'Echo' },
      { service: SERVICE, method: 'Nope' },
      { service: SERVICE, method: 'Echo', payload: Uint8Array.of(0x0a, 0x05, 0x01) },
      {
        service: SERVICE,
        method: 'Echo',
        payload: echoRequest({ failCode: Code.PERMISSION_DENIED, failMessage: 'denied' }),
      },
    ]);
    assert.deepEqual(
      results.map((r) => [r.code, r.message]),
      [
        [Code.NOT_FOUND, 'no such thing 100%'],
        [Code.UNIMPLEMENTED, 'service no.such.Service'],
        [Code.UNIMPLEMENTED, 'method Nope'],
        [Code.INVALID_ARGUMENT, results[3]!.message],
        [Code.PERMISSION_DENIED, 'denied'],
      ],
    );
    assert.match(results[3]!.message, /^unmarshal request error: /);
  });

  it('accepts a request frame of exactly 4 MiB, rejects one byte more and keeps the connection', async () => {
    const n = payloadForFrame(MAX_MESSAGE_LENGTH, { responseSize: 1 });
    const call = (size: number) => ({
      service: SERVICE,
      method: 'Echo',
      payload: echoRequest({ payload: new Uint8Array(size), responseSize: 1 }),
    });
    const results = await goClient(address, [
      call(n),
      call(n + 1),
      { service: SERVICE, method: 'Echo', payload: echoRequest({ payload: Buffer.from('after') }) },
    ]);
    assert.equal(results[0]!.code, 0, results[0]!.message);
    assert.equal(results[1]!.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(
      results[1]!.message,
      `message length ${MAX_MESSAGE_LENGTH + 1} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
    );
    assert.equal(results[2]!.code, 0, 'same connection still works');
    assert.equal(Buffer.from(decodeEchoResponse(results[2]!.payload!).payload).toString(), 'after');
  });
});

describe('interop: Node client → Go ttrpc server', function () {
  let dir: string;
  let go: GoServer;
  let client: Client;

  before(async function () {
    requireGoPeer(this);
    dir = tmp();
    go = await startGoServer(path.join(dir, 'go.sock'));
    client = await Client.connect(`unix://${go.address}`);
  });

  after(async () => {
    client?.close();
    await go?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes a unary echo call', async () => {
    const r = await client.unary(Echo, { payload: Buffer.from('hello') });
    assert.equal(Buffer.from(r.payload).toString(), 'hello');
  });

  it('sends metadata keys as written (case kept), repeated keys in order', async () => {
    const r = await client.unary(
      Echo,
      {},
      {
        metadata: [
          ['b-key', '1'],
          ['A-Key', 'x'],
          ['b-key', '2'],
        ],
      },
    );
    assert.deepEqual(
      r.metadata.map((kv) => `${kv.key}=${kv.value}`),
      // The Go peer lists keys sorted, as its MD map received them.
      ['A-Key=x', 'b-key=1', 'b-key=2'],
    );
  });

  it('sends the deadline as timeout_nano and fails the call when it passes', async () => {
    const r = await client.unary(Echo, {}, { timeoutMs: 2000 });
    assert.ok(r.timeoutNano > 1.5e9 && r.timeoutNano <= 2e9, `timeout_nano ${r.timeoutNano}`);
    const started = Date.now();
    await assert.rejects(
      client.unary(Echo, { sleepMs: 2000 }, { timeoutMs: 100 }),
      (err: unknown) => TtrpcError.is(err, Code.DEADLINE_EXCEEDED),
    );
    assert.ok(Date.now() - started < 1500);
    const after = await client.unary(Echo, { payload: Buffer.from('still') });
    assert.equal(Buffer.from(after.payload).toString(), 'still');
  });

  it('surfaces Go status codes and messages', async () => {
    await assert.rejects(client.unary(Echo, { failCode: Code.NOT_FOUND, failMessage: 'gone' }), {
      name: 'TtrpcError',
      code: Code.NOT_FOUND,
      message: 'gone',
    });
    await assert.rejects(client.call('no.such.Service', 'Echo', new Uint8Array()), {
      code: Code.UNIMPLEMENTED,
      message: 'service no.such.Service',
    });
    await assert.rejects(client.call(SERVICE, 'Nope', new Uint8Array()), {
      code: Code.UNIMPLEMENTED,
      message: 'method Nope',
    });
  });

  it('sends a request frame of exactly 4 MiB and refuses one byte more before sending', async () => {
    const n = payloadForFrame(MAX_MESSAGE_LENGTH, { responseSize: 1 });
    const ok = await client.unary(Echo, { payload: new Uint8Array(n), responseSize: 1 });
    assert.equal(ok.payload.length, 1);
    await assert.rejects(client.unary(Echo, { payload: new Uint8Array(n + 1), responseSize: 1 }), {
      code: Code.RESOURCE_EXHAUSTED,
      message: `message length ${MAX_MESSAGE_LENGTH + 1} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
    });
    const after = await client.unary(Echo, { payload: Buffer.from('after') });
    assert.equal(Buffer.from(after.payload).toString(), 'after');
  });

  it('fails an oversized response from Go 1.1.1 (which sends it anyway) and keeps the connection', async () => {
    await assert.rejects(client.unary(Echo, { responseSize: MAX_MESSAGE_LENGTH + 100 }), {
      code: Code.RESOURCE_EXHAUSTED,
    });
    const after = await client.unary(Echo, { payload: Buffer.from('after') });
    assert.equal(Buffer.from(after.payload).toString(), 'after');
  });

  // Abstract names are Linux-only: a generic-POSIX build of the addon (test/posix-build.test.ts)
  // refuses them and goes through the handshake on a path socket instead.
  it('connects to an abstract socket (a path one without abstract names) through the same-uid handshake', async () => {
    const name = `ttrpc-interop-${process.pid}-${Date.now()}`;
    const abstractNames = addonPlatform === 'linux';
    if (!abstractNames) {
      await assert.rejects(Client.connect(`@${name}`), { code: 'ERR_UNSUPPORTED_PLATFORM' });
    }
    const address = abstractNames ? `@${name}` : path.join(os.tmpdir(), `${name}.sock`);
    const server = await startGoServer(address, { creds: true });
    try {
      const c = await Client.connect(address);
      const r = await c.unary(Echo, { payload: Buffer.from('abstract') });
      assert.equal(Buffer.from(r.payload).toString(), 'abstract');
      c.close();
      await c.closedPromise;
    } finally {
      await server.stop();
      if (!abstractNames) fs.rmSync(address, { force: true });
    }
  });
});
