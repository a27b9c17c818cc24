// A bounded libFuzzer run (about a minute) over the native frame decoder and the channel's read
// loop, with AddressSanitizer and UndefinedBehaviorSanitizer: `npm run fuzz` (scripts/fuzz.sh,
// native/fuzz/frame_fuzz.cc) from the seed corpus in test/fuzz-corpus.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { requireCondition } from './helpers/env';

const top = path.resolve(__dirname, '..', '..');
const SECONDS = 50;

describe('fuzzing the frame decoder and read loop (libFuzzer, ASan, UBSan)', function () {
  this.timeout((SECONDS + 240) * 1000);

  it(`runs ${SECONDS} s from the seed corpus without a crash, a sanitizer report or a mismatch`, function () {
    const r = spawnSync('bash', [path.join(top, 'scripts', 'fuzz.sh'), String(SECONDS)], {
      cwd: top,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    requireCondition(
      this,
      r.status !== 3,
      `clang with libFuzzer is missing: ${r.stderr.trim().split('\n').at(-1)}`,
      'bash scripts/ci-setup.sh (clang-14 libclang-rt-14-dev)',
    );
    const tail = r.stderr.split('\n').slice(-30).join('\n');
    assert.equal(r.status, 0, `the fuzzer failed:\n${tail}`);
    const runs = Number(/Done (\d+) runs/.exec(r.stderr)?.[1] ?? 0);
    // Every seed is run at least once, then mutations: a run that stopped early would show here.
    assert.ok(runs >= 100, `only ${runs} runs:\n${tail}`);
  });
});
