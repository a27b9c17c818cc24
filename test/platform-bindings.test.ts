// The native binding by platform (lib/native): every entry point loads with the addon of another
// platform — a simulated Windows build and a simulated generic-POSIX build (macOS, the BSDs) —
// and what that build lacks fails when used, with ERR_UNSUPPORTED_PLATFORM naming the function
// and the platform. The real generic-POSIX build is exercised by test/posix-build.test.ts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { addonPlatform, linux, posix, win } from '../lib/native';
import { loadAddon } from '../lib/native/load';
import { runOk } from './helpers/node-dist';

const top = path.resolve(__dirname, '..', '..');
const script = path.join(top, 'dist', 'test', 'fixtures', 'simulated-platform.js');

interface Report {
  platform: string;
  entryPoints: Record<string, string>;
  parseMountOptions: number;
  eventfd?: { code?: string; message: string };
  reaper?: { code?: string; message: string };
  consoleSocket?: { code?: string; message: string };
  roundTrip?: string;
  leftInTmp: string[];
}

describe('native binding by platform: entry points under simulated Windows and generic-POSIX addons', function () {
  this.timeout(60_000);
  let consumer: string;

  before(function () {
    // A project that depends on the package, so entry points resolve through package.json exports.
    consumer = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-consumer-'));
    fs.mkdirSync(path.join(consumer, 'node_modules'));
    fs.symlinkSync(top, path.join(consumer, 'node_modules', 'containerd-shim'));
  });

  after(() => {
    if (consumer) fs.rmSync(consumer, { recursive: true, force: true });
  });

  async function simulate(kind: 'win32' | 'posix'): Promise<Report> {
    const r = await runOk(process.execPath, [script, kind, consumer], { timeoutMs: 50_000 });
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Report;
  }

  for (const kind of ['win32', 'posix'] as const) {
    const platform = kind === 'win32' ? 'win32' : 'darwin';
    it(`${kind}: every entry point loads; Linux-only helpers throw ERR_UNSUPPORTED_PLATFORM`, async function () {
      const report = await simulate(kind);
      assert.equal(report.platform, platform);
      const entries = Object.entries(report.entryPoints);
      assert.equal(entries.length, 13, JSON.stringify(report.entryPoints));
      for (const [name, result] of entries) assert.equal(result, 'ok', name);
      // Pure TypeScript keeps working.
      assert.equal(report.parseMountOptions, 0x1 | 0x2);
      // The native Linux layer: named function, named platform.
      assert.equal(report.eventfd?.code, 'ERR_UNSUPPORTED_PLATFORM');
      assert.match(
        report.eventfd!.message,
        new RegExp(`^eventfd\\(\\) is not supported on ${platform}:`),
      );
      assert.match(report.eventfd!.message, /the native addon's linux layer/);
      assert.equal(report.reaper?.code, 'ERR_UNSUPPORTED_PLATFORM');
      assert.match(report.reaper!.message, new RegExp(`platform ${platform}`));
      assert.deepEqual(report.leftInTmp, []);
      if (kind === 'win32') {
        assert.equal(report.consoleSocket?.code, 'ERR_UNSUPPORTED_PLATFORM');
        assert.match(report.consoleSocket!.message, /^unixListen\(\) is not supported on win32:/);
      } else {
        assert.equal(report.consoleSocket, undefined, 'the console socket works on POSIX');
        assert.equal(report.roundTrip, 'echo:ping');
      }
    });
  }

  it('this Linux build has every member of its layers; the Windows layer throws', function () {
    assert.equal(addonPlatform, process.platform === 'linux' ? 'linux' : addonPlatform);
    if (addonPlatform !== 'linux') this.skip();
    const raw = loadAddon();
    for (const [name, value] of [...Object.entries(posix), ...Object.entries(linux)]) {
      assert.ok(raw[name] !== undefined, `the addon lacks ${name}`);
      assert.equal(value, raw[name], name);
    }
    assert.equal(typeof posix.unixListen, 'function');
    assert.equal(typeof linux.mountFlags, 'object');
    assert.throws(
      () =>
        new win.PipeChannel(
          0,
          () => undefined,
          () => undefined,
        ),
      {
        code: 'ERR_UNSUPPORTED_PLATFORM',
        message: /^PipeChannel\(\) is not supported on linux/,
      },
    );
    assert.throws(() => win.writeHighWaterMark, { code: 'ERR_UNSUPPORTED_PLATFORM' });
  });
});
