// The POSIX layer as macOS and the BSDs compile it, proven on Linux: scripts/build-posix.js builds
// the addon with every Linux shortcut and the whole Linux layer compiled out (generic_posix=1),
// and the TTRPC server, client and stream suites run against that build in a child mocha.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';

import { requireEnvironment } from './helpers/env';
import { run, runOk } from './helpers/node-dist';

const top = path.resolve(__dirname, '..', '..');
const SUITES = [
  'ttrpc-server', // server: protocol errors, shutdown, handshakes, transports
  'ttrpc-go-answers', // the server's answers to hostile frames, against Go's
  'ttrpc-stream', // streams and client behaviour
  'ttrpc-interop', // Node client → Go server and Go client → Node server
  'ttrpc-deadline',
  'ttrpc-flow',
];
// Calls only Linux has: none may be in the generic build.
const LINUX_ONLY = ['accept4', 'prctl', 'mount', 'umount2', 'eventfd', 'pipe2', 'syscall'];

describe('generic-POSIX addon (the macOS/BSD code paths, built on Linux)', function () {
  this.timeout(900_000);
  let dir: string;
  let addon: string;

  before(async function () {
    requireEnvironment(
      this,
      {
        commands: ['g++', 'make', 'python3', 'nm'],
        files: ['/usr/include/bsd/unistd.h'],
      },
      'apt-get install g++ make python3 binutils libbsd-dev (scripts/ci-setup.sh)',
    );
    const built = await runOk(process.execPath, [path.join(top, 'scripts', 'build-posix.js')], {
      cwd: top,
      timeoutMs: 600_000,
    });
    dir = built.stdout.trim().split('\n').pop()!;
    addon = path.join(dir, 'build', 'Release', 'containerd_shim.node');
  });

  it('has the core and POSIX layers only, and calls nothing Linux-only', async function () {
    const probe = await runOk(
      process.execPath,
      [
        '-p',
        `const a = require(${JSON.stringify(addon)}); a.platform + ' ' + Object.keys(a).sort().join(',')`,
      ],
      { timeoutMs: 30_000 },
    );
    const [platform, keys] = probe.stdout.trim().split(' ');
    assert.equal(platform, 'posix');
    for (const linuxOnly of ['setSubreaper', 'startReaper', 'mount', 'eventfd', 'mountFlags'])
      assert.ok(!keys!.split(',').includes(linuxOnly), `exports ${linuxOnly}`);
    for (const posixMember of ['Channel', 'unixListen', 'accept', 'recvFd', 'spawn', 'dup2'])
      assert.ok(keys!.split(',').includes(posixMember), `lacks ${posixMember}`);
    const imports = (
      await runOk('nm', ['-D', '--undefined-only', addon], { timeoutMs: 30_000 })
    ).stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/).pop()!.split('@')[0]!);
    assert.deepEqual(
      LINUX_ONLY.filter((name) => imports.includes(name)),
      [],
    );
    assert.ok(imports.includes('getpeereid'), 'peer credentials through getpeereid');
    assert.ok(imports.includes('accept'), 'accept + fcntl instead of accept4');
  });

  it(`the TTRPC suites pass against it: ${SUITES.join(', ')}`, async function () {
    const mocha = path.join(top, 'node_modules', 'mocha', 'bin', 'mocha.js');
    const files = [
      path.join(top, 'dist', 'test', 'helpers', 'expect-addon.js'),
      ...SUITES.map((s) => path.join(top, 'dist', 'test', `${s}.test.js`)),
    ];
    const r = await run(
      process.execPath,
      [mocha, '--no-config', '--timeout', '60000', '--exit', '--reporter', 'spec', ...files],
      {
        cwd: top,
        env: {
          ...process.env,
          CONTAINERD_SHIM_PREBUILD: dir,
          CONTAINERD_SHIM_EXPECT_ADDON: 'posix',
        },
        timeoutMs: 800_000,
      },
    );
    const passing = Number(/(\d+) passing/.exec(r.stdout)?.[1] ?? 0);
    const failing = Number(/(\d+) failing/.exec(r.stdout)?.[1] ?? 0);
    const pending = Number(/(\d+) pending/.exec(r.stdout)?.[1] ?? 0);
    process.stdout.write(
      `      generic-POSIX build: ${passing} passing, ${failing} failing, ${pending} pending\n`,
    );
    if (r.code !== 0 || failing > 0) {
      assert.fail(
        `child mocha exited ${r.code}:\n${r.stdout.slice(-8000)}\n${r.stderr.slice(-4000)}`,
      );
    }
    assert.ok(passing >= 50, `only ${passing} tests ran`);
    if (process.env.CI === 'true') assert.equal(pending, 0, 'suites skipped under CI');
  });
});
