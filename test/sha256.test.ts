// lib/shim/sha256.ts (socket names without node:crypto) against node:crypto and FIPS 180-4's vectors.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';

import { sha256, sha256Hex } from '../lib/shim/sha256';

const reference = (data: Uint8Array | string): string =>
  createHash('sha256').update(data).digest('hex');

describe('sha256', () => {
  it('FIPS 180-4 test vectors', () => {
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(
      sha256Hex('abc'),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    assert.equal(
      sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('every length across block boundaries, random bytes, as node:crypto', () => {
    for (let length = 0; length <= 300; length++) {
      const data = randomBytes(length);
      assert.equal(sha256(data).toString('hex'), reference(data), `length ${length}`);
    }
    const big = randomBytes(100_000);
    assert.equal(sha256(big).toString('hex'), reference(big));
  });

  it('strings are hashed as UTF-8 (socket keys: addresses, namespaces, ids)', () => {
    for (const text of [
      '/run/containerd/containerd.sock.ttrpc/default/web-1',
      'ns/ünïcödé/容器/🚀',
      '\0\n\t',
    ]) {
      assert.equal(sha256Hex(text), reference(text), text);
    }
  });
});
