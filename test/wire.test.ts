// The hand-written ttrpc envelope codec against the generated protobuf code.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';

import { google, ttrpc } from '../lib/generated/ttrpc';
import { int64ToNumber } from '../lib/int64/encode';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../lib/ttrpc/wire';

const kv = fc.record({ key: fc.string(), value: fc.string() });
const request = fc.record({
  service: fc.string(),
  method: fc.string(),
  payload: fc.uint8Array({ maxLength: 64 }),
  timeoutNano: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  metadata: fc.array(kv, { maxLength: 4 }),
});

describe('ttrpc envelope codec', () => {
  it('decodes every Request the generated encoder produces', () => {
    fc.assert(
      fc.property(request, (r) => {
        const decoded = decodeRequest(ttrpc.Request.encode(r).finish());
        assert.equal(decoded.service, r.service);
        assert.equal(decoded.method, r.method);
        assert.deepEqual(Buffer.from(decoded.payload), Buffer.from(r.payload));
        assert.equal(decoded.timeoutNano, r.timeoutNano);
        assert.deepEqual(
          decoded.metadata,
          r.metadata.map((m) => ({ key: m.key, value: m.value })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('skips unknown fields and treats a negative timeout as none', () => {
    const bytes = ttrpc.Request.encode({ service: 's', method: 'm', timeoutNano: -5 }).finish();
    const withUnknown = Buffer.concat([
      Buffer.from(bytes),
      Buffer.from([0x38, 0x01, 0x42, 0x02, 0x61, 0x62]),
    ]);
    const decoded = decodeRequest(withUnknown);
    assert.equal(decoded.service, 's');
    assert.equal(decoded.timeoutNano, -1);
  });

  it('rejects truncated input', () => {
    const bytes = ttrpc.Request.encode({ service: 'service', payload: Buffer.alloc(10) }).finish();
    assert.throws(() => decodeRequest(bytes.subarray(0, bytes.length - 3)), /invalid wire format/);
  });

  it('encodes Responses the generated decoder reads, and reads what it encodes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 16 }),
        fc.string(),
        (payload, code, message) => {
          const status = code === 0 ? undefined : { code, message, details: [] };
          const bytes = encodeResponse(payload, status);
          const generated = ttrpc.Response.decode(bytes);
          assert.equal(generated.status?.code ?? 0, code);
          if (code === 0)
            assert.deepEqual(Buffer.from(generated.payload ?? []), Buffer.from(payload));
          const ours = decodeResponse(
            ttrpc.Response.encode({ payload, status: status && { code, message } }).finish(),
          );
          assert.equal(ours.status?.code ?? 0, code);
          assert.equal(ours.status?.message ?? '', code === 0 ? '' : message);
          assert.deepEqual(Buffer.from(ours.payload), Buffer.from(payload));
        },
      ),
      { numRuns: 300 },
    );
    assert.equal(int64ToNumber(google.protobuf.Any.decode(new Uint8Array()).value.length), 0);
  });
});

describe('ttrpc Request encoder', () => {
  it('produces what the generated decoder reads, field for field', () => {
    fc.assert(
      fc.property(request, (r) => {
        const decoded = ttrpc.Request.decode(encodeRequest(r));
        assert.equal(decoded.service ?? '', r.service);
        assert.equal(decoded.method ?? '', r.method);
        assert.deepEqual(Buffer.from(decoded.payload ?? []), Buffer.from(r.payload));
        assert.equal(int64ToNumber(decoded.timeoutNano), r.timeoutNano);
        assert.deepEqual(
          (decoded.metadata ?? []).map((m) => ({ key: m.key ?? '', value: m.value ?? '' })),
          r.metadata.map((m) => ({ key: m.key, value: m.value })),
        );
      }),
      { numRuns: 300 },
    );
  });
});
