// The native frame decoder against the JavaScript reference model, under random chunking.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';

import {} from '../lib/native';
import { MAX_MESSAGE_LENGTH } from '../lib/ttrpc/frame';
import { JsFrameDecoder, encodeHeader, unpackBatch } from './helpers/frame-oracle';
import type { Frame } from './helpers/frame-oracle';
import { nativeFrameCodec as native } from './helpers/native-frame';

interface Spec {
  streamId: number;
  type: number;
  flags: number;
  payload: Uint8Array;
}

function encode(frames: Spec[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => [
      encodeHeader(f.payload.length, f.streamId, f.type, f.flags),
      Buffer.from(f.payload),
    ]),
  );
}

function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(data.subarray(last, p));
    last = p;
  }
  chunks.push(data.subarray(last));
  return chunks;
}

function normalize(
  frames: Frame[],
): { streamId: number; type: number; flags: number; payload: string | number }[] {
  return frames.map((f) => ({
    ...f,
    payload: typeof f.payload === 'number' ? f.payload : Buffer.from(f.payload).toString('hex'),
  }));
}

const frameSpec = fc.record({
  streamId: fc.integer({ min: 0, max: 0xffffffff }),
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

describe('frame codec', () => {
  it('decodes any frame sequence split at arbitrary boundaries, like the JS model', () => {
    fc.assert(
      fc.property(
        fc.array(frameSpec, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (frames, cuts) => {
          const data = encode(frames);
          const parser = new native.FrameParser();
          const model = new JsFrameDecoder();
          const fromNative: Frame[] = [];
          const fromModel: Frame[] = [];
          for (const chunk of split(data, cuts)) {
            fromNative.push(...unpackBatch(...parser.push(chunk)));
            fromModel.push(...model.push(chunk));
          }
          const expected = frames.map((f) => ({
            ...f,
            payload: Buffer.from(f.payload).toString('hex'),
          }));
          assert.deepEqual(normalize(fromNative), expected);
          assert.deepEqual(normalize(fromModel), expected);
          assert.equal(parser.buffered, 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('skips an oversized payload without buffering it and stays in sync', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MAX_MESSAGE_LENGTH + 1, max: MAX_MESSAGE_LENGTH + 5000 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (length, cuts) => {
          const big = Buffer.concat([encodeHeader(length, 7, 1, 0), Buffer.alloc(length, 0xab)]);
          const after = encode([
            { streamId: 9, type: 1, flags: 2, payload: Uint8Array.of(1, 2, 3) },
          ]);
          const parser = new native.FrameParser();
          const frames: Frame[] = [];
          for (const chunk of split(Buffer.concat([big, after]), cuts)) {
            frames.push(...unpackBatch(...parser.push(chunk)));
            assert.ok(parser.buffered < 64, 'no payload bytes of the oversized frame are held');
          }
          assert.deepEqual(normalize(frames), [
            { streamId: 7, type: 1, flags: 0, payload: length },
            { streamId: 9, type: 1, flags: 2, payload: '010203' },
          ]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('accepts a payload of exactly 4 MiB', () => {
    const parser = new native.FrameParser();
    const data = encode([
      { streamId: 1, type: 1, flags: 0, payload: new Uint8Array(MAX_MESSAGE_LENGTH) },
    ]);
    const frames = [
      ...unpackBatch(...parser.push(data.subarray(0, 5))),
      ...unpackBatch(...parser.push(data.subarray(5))),
    ];
    assert.equal(frames.length, 1);
    assert.equal((frames[0]!.payload as Uint8Array).length, MAX_MESSAGE_LENGTH);
  });

  it('encodes headers big-endian, like the JS encoder', () => {
    fc.assert(
      fc.property(frameSpec, (f) => {
        const a = native.encodeHeader(f.payload.length, f.streamId, f.type, f.flags);
        const b = encodeHeader(f.payload.length, f.streamId, f.type, f.flags);
        assert.deepEqual(a, b);
      }),
    );
  });

  it('rejects a non-buffer chunk with a coded error', () => {
    const parser = new native.FrameParser();
    assert.throws(() => parser.push('nope' as unknown as Uint8Array), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  });
});
