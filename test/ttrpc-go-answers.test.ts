// Our server's answers to frames a well-behaved client never sends, byte for byte against the Go
// ttrpc 1.1.1 and 1.2.7 servers wherever they answer. Each probe is followed by an Echo on a new
// stream: the frames that come before its answer are the probe's answer (none, or some).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, Code, FrameType, MAX_MESSAGE_LENGTH, Server } from '../lib/ttrpc';
import { HEADER_LENGTH } from '../lib/ttrpc/frame';
import { encodeHeader } from './helpers/frame-oracle';
import { decodeResponse, encodeRequest } from '../lib/ttrpc/wire';
import { Echo, SERVICE, echoRequest } from './fixtures/interop';
import { serveInterop } from './fixtures/interop-server';
import { requireGoPeer, requireGoPeer12, startGoServer } from './helpers/go-peer';
import type { GoServer } from './helpers/go-peer';
import { RawPeer } from './helpers/raw-peer';

interface Probe {
  name: string;
  /** Writes the probe's frames using stream ids from `id()` (odd, increasing). */
  send(peer: RawPeer, id: () => number): void;
  /** Go versions that ignore the probe (no answer to compare). */
  ignoredBy?: ('1.1.1' | '1.2.7')[];
  /** What every answering server must say. */
  expect: { code: Code; message: string };
}

const OVERSIZE = MAX_MESSAGE_LENGTH + 7;
const oversizeMessage = `message length ${OVERSIZE} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`;

function oversized(peer: RawPeer, streamId: number, type: number): void {
  peer.write(encodeHeader(OVERSIZE, streamId, type, 0));
  peer.write(Buffer.alloc(OVERSIZE));
}

const PROBES: Probe[] = [
  {
    name: 'an oversized RESPONSE frame',
    send: (peer, id) => oversized(peer, id(), FrameType.RESPONSE),
    expect: { code: Code.RESOURCE_EXHAUSTED, message: oversizeMessage },
  },
  {
    name: 'an oversized frame of an unknown type',
    send: (peer, id) => oversized(peer, id(), 0x7f),
    expect: { code: Code.RESOURCE_EXHAUSTED, message: oversizeMessage },
  },
  {
    name: 'an oversized DATA frame on an even id',
    send: (peer) => oversized(peer, 2, FrameType.DATA),
    expect: { code: Code.RESOURCE_EXHAUSTED, message: oversizeMessage },
  },
  {
    name: 'DATA on an even id (1.1.1 ignores DATA)',
    send: (peer) => peer.send(4, FrameType.DATA, 0, Uint8Array.of(1, 2, 3)),
    ignoredBy: ['1.1.1'],
    expect: {
      code: Code.INVALID_ARGUMENT,
      message: 'StreamID must be odd for client initiated streams',
    },
  },
  {
    name: 'a REQUEST on an even id',
    send: (peer) =>
      peer.send(
        6,
        FrameType.REQUEST,
        0,
        encodeRequest({ service: SERVICE, method: 'Echo', payload: echoRequest({}) }),
      ),
    expect: {
      code: Code.INVALID_ARGUMENT,
      message: 'StreamID must be odd for client initiated streams',
    },
  },
];

/** Runs every probe on one connection; the raw answer frames of each. */
async function answers(address: string): Promise<Buffer[][]> {
  const peer = await RawPeer.connect(address);
  let next = 1;
  const id = (): number => {
    const n = next;
    next += 2;
    return n;
  };
  const out: Buffer[][] = [];
  try {
    for (const probe of PROBES) {
      probe.send(peer, id);
      const sync = id();
      peer.send(
        sync,
        FrameType.REQUEST,
        0,
        encodeRequest({ service: SERVICE, method: 'Echo', payload: echoRequest({}) }),
      );
      const frames: Buffer[] = [];
      for (;;) {
        const frame = await peer.next(20_000);
        assert.ok(frame, `${probe.name}: the connection stays open`);
        if (frame.streamId === sync) break;
        const payload = Buffer.from(frame.payload as Uint8Array);
        frames.push(
          Buffer.concat([
            encodeHeader(payload.length, frame.streamId, frame.type, frame.flags),
            payload,
          ]),
        );
      }
      out.push(frames);
    }
  } finally {
    peer.close();
  }
  return out;
}

describe('answers to hostile frames, byte for byte with Go ttrpc 1.1.1 and 1.2.7', function () {
  this.timeout(120_000);
  let dir: string;
  let node: Buffer[][];
  let server: Server;
  const go: GoServer[] = [];
  const goAnswers: Record<'1.1.1' | '1.2.7', Buffer[][]> = { '1.1.1': [], '1.2.7': [] };

  before(async function () {
    const go11 = requireGoPeer(this);
    const go12 = requireGoPeer12(this);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-answers-'));
    server = new Server();
    serveInterop(server);
    await server.listen(path.join(dir, 'node.sock'));
    go.push(await startGoServer(path.join(dir, 'go11.sock'), { binary: go11 }));
    go.push(await startGoServer(path.join(dir, 'go12.sock'), { binary: go12 }));
    node = await answers(path.join(dir, 'node.sock'));
    goAnswers['1.1.1'] = await answers(go[0]!.address);
    goAnswers['1.2.7'] = await answers(go[1]!.address);
  });

  after(async () => {
    await server?.close();
    for (const g of go) await g.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  PROBES.forEach((probe, i) => {
    it(`${probe.name}: ${Code[probe.expect.code]} "${probe.expect.message}"`, () => {
      const ours = node[i]!;
      assert.equal(ours.length, 1, 'one answer');
      const response = decodeResponse(ours[0]!.subarray(HEADER_LENGTH));
      assert.deepEqual(
        { code: response.status?.code, message: response.status?.message },
        probe.expect,
      );
      for (const version of ['1.1.1', '1.2.7'] as const) {
        const theirs = goAnswers[version][i]!;
        if (probe.ignoredBy?.includes(version)) {
          assert.equal(theirs.length, 0, `Go ${version} ignores it`);
          continue;
        }
        assert.deepEqual(
          theirs.map((b) => b.toString('hex')),
          ours.map((b) => b.toString('hex')),
          `byte for byte as Go ${version}`,
        );
      }
    });
  });

  it('metadata keys reach the handler as written, on Node and on Go 1.1.1 and 1.2.7', async () => {
    const metadata: [string, string][] = [
      ['b-key', '1'],
      ['A-Key', 'x'],
      ['b-key', '2'],
    ];
    const seen: Record<string, string[]> = {};
    for (const [name, address] of [
      ['node', path.join(dir, 'node.sock')],
      ['go 1.1.1', go[0]!.address],
      ['go 1.2.7', go[1]!.address],
    ] as const) {
      const client = await Client.connect(address);
      try {
        const r = await client.unary(Echo, {}, { metadata });
        // The Go peers list keys sorted (their MD is a map); values of a key in wire order.
        seen[name] = r.metadata.map((kv) => `${kv.key}=${kv.value}`).sort();
      } finally {
        client.close();
      }
    }
    assert.deepEqual(seen, {
      node: ['A-Key=x', 'b-key=1', 'b-key=2'],
      'go 1.1.1': ['A-Key=x', 'b-key=1', 'b-key=2'],
      'go 1.2.7': ['A-Key=x', 'b-key=1', 'b-key=2'],
    });
  });
});
