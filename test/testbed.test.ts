import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';

import { requireEnvironment } from './helpers/env';
import { Testbed, type Leftovers } from './helpers/testbed';

const RUNTIME = 'io.containerd.runc.v2';

function uniqueId(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

function isEmpty(l: Leftovers): boolean {
  return l.shims.length + l.mounts.length + l.sockets.length + l.bundles.length === 0;
}

describe('containerd testbed', function () {
  let tb: Testbed | undefined;

  before(async function () {
    this.timeout(120_000);
    requireEnvironment(
      this,
      {
        commands: ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2'],
        root: true,
        files: ['/bin/busybox'],
      },
      'apt-get install containerd runc busybox-static; run as root',
    );
    tb = await Testbed.start();
  });

  after(async function () {
    this.timeout(60_000);
    await tb?.destroy();
  });

  function bed(): Testbed {
    assert.ok(tb, 'testbed not started');
    return tb;
  }

  it('runs `echo hello` in the busybox image with io.containerd.runc.v2', async function () {
    this.timeout(30_000);
    const res = await bed().ctr([
      'run',
      '--rm',
      '--runtime',
      RUNTIME,
      bed().image,
      uniqueId('echo'),
      'echo',
      'hello',
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'hello\n');
  });

  it('reports the task exit status as ctr’s exit code', async function () {
    this.timeout(30_000);
    const res = await bed().ctr([
      'run',
      '--rm',
      '--runtime',
      RUNTIME,
      bed().image,
      uniqueId('exit'),
      'sh',
      '-c',
      'exit 7',
    ]);
    assert.equal(res.code, 7, res.stderr);
  });

  it('leaves no shims, mounts, sockets or bundles behind', async function () {
    this.timeout(15_000);
    // The shim exits (and removes its socket) just after `ctr run --rm` returns.
    const deadline = Date.now() + 10_000;
    let left = await bed().leftovers();
    while (!isEmpty(left) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await bed().leftovers();
    }
    assert.deepEqual(left, { shims: [], mounts: [], sockets: [], bundles: [] });
  });

  it('restarts containerd with the same root and state', async function () {
    this.timeout(60_000);
    const before = bed().pid;
    await bed().restart();
    assert.notEqual(bed().pid, undefined);
    assert.notEqual(bed().pid, before);
    const version = await bed().ctr(['version']);
    assert.equal(version.code, 0, version.stderr);
    const images = await bed().ctr(['images', 'ls', '-q']);
    assert.equal(images.code, 0, images.stderr);
    assert.ok(images.stdout.split('\n').includes(bed().image), images.stdout);
  });
});
