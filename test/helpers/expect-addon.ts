// A one-test mocha file that test/posix-build.test.ts runs first in its child mocha: the suites
// after it must really be running against the addon build they were pointed at.
import { strict as assert } from 'node:assert';

import { addonPlatform } from '../../lib/native';

describe('addon under test', () => {
  it(`is the ${process.env.CONTAINERD_SHIM_EXPECT_ADDON} build`, () => {
    assert.equal(addonPlatform, process.env.CONTAINERD_SHIM_EXPECT_ADDON);
  });
});
