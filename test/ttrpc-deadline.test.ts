// Deadlines of any length: Node's timers fire at once past 2^31-1 ms (~24.9 days), so a 30-day
// deadline must be waited for in steps, on the client and for timeout_nano on the server.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, Code, FrameType, Server, TtrpcError } from '../lib/ttrpc';
import { clearLongTimeout, setLongTimeout } from '../lib/ttrpc/timer';
import { decodeResponse, encodeRequest } from '../lib/ttrpc/wire';
import { Echo, SERVICE, decodeEchoResponse, echoRequest } from './fixtures/interop';
import { serveInterop } from './fixtures/interop-server';
import { RawPeer } from './helpers/raw-peer';

const DAY_MS = 24 * 3600 * 1000;

describe('ttrpc deadlines of any length', () => {
  let dir: string;
  let address: string;
  let server: Server;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-deadline-'));
    address = path.join(dir, 's.sock');
    server = new Server();
    serveInterop(server);
    await server.listen(address);
  });

  afterEach(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('client: a 30-day timeout and deadline do not fire; a 50 ms one does', async () => {
    const client = await Client.connect(address);
    try {
      const long = client.unary(
        Echo,
        { sleepMs: 300, payload: Buffer.from('long') },
        { timeoutMs: 30 * DAY_MS },
      );
      const dated = client.unary(
        Echo,
        { sleepMs: 300, payload: Buffer.from('dated') },
        { deadline: new Date(Date.now() + 30 * DAY_MS) },
      );
      await assert.rejects(
        client.unary(Echo, { sleepMs: 5000 }, { timeoutMs: 50 }),
        (err: unknown) => TtrpcError.is(err, Code.DEADLINE_EXCEEDED),
      );
      const r = await long;
      assert.equal(Buffer.from(r.payload).toString(), 'long');
      // The server got the deadline as timeout_nano and saw about 30 days left.
      assert.ok(r.timeoutNano > 29.9 * DAY_MS * 1e6, `timeout_nano ${r.timeoutNano}`);
      assert.equal(Buffer.from((await dated).payload).toString(), 'dated');
    } finally {
      client.close();
    }
  });

  it('server: timeout_nano of 30 days does not fire; 50 ms does', async () => {
    const peer = await RawPeer.connect(address);
    try {
      const request = (sleepMs: number, timeoutNano: number): Uint8Array =>
        encodeRequest({
          service: SERVICE,
          method: 'Echo',
          payload: echoRequest({ sleepMs, payload: Buffer.from(`${sleepMs}`) }),
          timeoutNano,
        });
      peer.send(1, FrameType.REQUEST, 0, request(300, 30 * DAY_MS * 1e6));
      peer.send(3, FrameType.REQUEST, 0, request(5000, 50e6));
      const first = await peer.next();
      assert.equal(first?.streamId, 3);
      assert.equal(
        decodeResponse(first.payload as Uint8Array).status?.code,
        Code.DEADLINE_EXCEEDED,
      );
      const second = await peer.next();
      assert.equal(second?.streamId, 1);
      const response = decodeResponse(second.payload as Uint8Array);
      assert.equal(response.status, undefined, response.status?.message);
      assert.equal(Buffer.from(decodeEchoResponse(response.payload).payload).toString(), '300');
    } finally {
      peer.close();
    }
  });

  it('setLongTimeout steps through delays past 2^31-1 ms and can be cleared', async () => {
    let fired = 0;
    const long = setLongTimeout(() => fired++, 2 ** 31 + 1000);
    const short = setLongTimeout(() => fired++, 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(fired, 1, 'only the short one fired');
    clearLongTimeout(long);
    clearLongTimeout(short);
  });
});
