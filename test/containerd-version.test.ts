// taskApiVersion: version 3 exactly when the containerd that ran `start` accepts it, found from
// what containerd itself provides (bootstrap protocol, environment, its binary's Go build info, its
// gRPC Version service), checked against the real 1.6, 1.7 and 2.1 binaries and daemons.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { queryContainerdVersion, taskApiVersion } from '../lib';
import { containerdMajor, majorOf } from '../lib/shim/containerd-version';
import { readGoBuildInfo } from '../lib/shim/go-buildinfo';
import { requireEnvironment } from './helpers/env';
import { containerdGenerations, requireContainerd } from './helpers/peers';
import type { ContainerdGeneration, ContainerdPeer } from './helpers/peers';

const EXPECTED: Record<ContainerdGeneration, { major: number; version: 2 | 3 }> = {
  '1.6': { major: 1, version: 2 },
  '1.7': { major: 1, version: 2 },
  '2.1': { major: 2, version: 3 },
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A bare containerd (no CRI) with its own root, state and socket; returns its socket. */
async function bareContainerd(peer: ContainerdPeer, dir: string): Promise<[ChildProcess, string]> {
  const address = path.join(dir, 'c.sock');
  const config = path.join(dir, 'config.toml');
  const disabled = [
    'io.containerd.grpc.v1.cri',
    'io.containerd.cri.v1.runtime',
    'io.containerd.cri.v1.images',
    'io.containerd.internal.v1.opt',
    'io.containerd.nri.v1.nri',
  ];
  fs.writeFileSync(
    config,
    [
      `version = ${peer.generation.startsWith('1.') ? 2 : 3}`,
      `root = ${JSON.stringify(path.join(dir, 'root'))}`,
      `state = ${JSON.stringify(path.join(dir, 'state'))}`,
      `disabled_plugins = ${JSON.stringify(disabled)}`,
      '[grpc]',
      `  address = ${JSON.stringify(address)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(address + '.ttrpc')}`,
      '[metrics]',
      '  address = ""',
    ].join('\n'),
  );
  const child = spawn(peer.containerd, ['--config', config], { stdio: 'ignore' });
  const until = Date.now() + 20_000;
  while (!fs.existsSync(address)) {
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`containerd ${peer.generation} did not come up`);
    }
    await sleep(50);
  }
  return [child, address];
}

describe('task API version 3 exactly when containerd accepts it', function () {
  this.timeout(60_000);

  it('reads the Go module of each containerd binary from its build info', function () {
    for (const generation of containerdGenerations()) {
      const peer = requireContainerd(this, generation);
      const info = readGoBuildInfo(peer.containerd);
      assert.ok(info, `no build info in ${peer.containerd}`);
      assert.match(info.path, /^github\.com\/containerd\/containerd(\/v2)?\/cmd\/containerd$/);
      assert.equal(containerdMajor(info), EXPECTED[generation].major, generation);
    }
  });

  it('finds no build info in what is not a Go executable, without throwing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'buildinfo-'));
    try {
      const junk = path.join(dir, 'junk');
      fs.writeFileSync(junk, Buffer.from('\x7fELF\x02\x01\x01' + 'x'.repeat(100), 'latin1'));
      const truncated = path.join(dir, 'truncated');
      fs.writeFileSync(truncated, fs.readFileSync(process.execPath).subarray(0, 4096));
      for (const file of [process.execPath, junk, truncated, dir, path.join(dir, 'missing')]) {
        assert.equal(readGoBuildInfo(file), undefined, file);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names containerd by module path only (embedded as a dependency, not its api module)', () => {
    const base = { goVersion: 'go1.24', path: 'github.com/k3s-io/k3s/cmd/server' };
    const dep = (p: string): { path: string; version: string } => ({ path: p, version: 'v0' });
    assert.equal(
      containerdMajor({ ...base, deps: [dep('github.com/containerd/containerd/v2')] }),
      2,
    );
    assert.equal(containerdMajor({ ...base, deps: [dep('github.com/containerd/containerd')] }), 1);
    assert.equal(
      containerdMajor({ ...base, deps: [dep('github.com/containerd/containerd/api')] }),
      undefined,
    );
    assert.equal(majorOf('v2.1.9'), 2);
    assert.equal(majorOf('1.7.24~ds1'), 1);
    assert.equal(majorOf('2.1.9+unknown'), 2);
    assert.equal(majorOf('devel'), undefined);
  });

  it('answers from the bootstrap protocol (2.3+) and the environment (1.6) alone', async () => {
    const none = { publishBinary: '', address: '' };
    assert.equal(
      await taskApiVersion({ ...none, bootstrap: true, containerdVersion: 'v2.3.0' }, {}),
      3,
    );
    assert.equal(await taskApiVersion({ ...none, bootstrap: true }, {}), 3);
    // 1.6 sets no MAX_SHIM_VERSION: 2 whatever the binary says.
    const sid = { ...none, bootstrap: false, publishBinary: '/nonexistent' };
    assert.equal(await taskApiVersion(sid, {}), 2);
    assert.equal(await taskApiVersion({ ...none, bootstrap: false }, { MAX_SHIM_VERSION: '3' }), 3);
    // 1.7/2.x with nothing else to go by: the answer every generation accepts.
    assert.equal(await taskApiVersion({ ...none, bootstrap: false }, { MAX_SHIM_VERSION: '2' }), 2);
  });

  it('tells 1.7 from 2.x by the containerd binary (-publish-binary)', async function () {
    for (const generation of containerdGenerations()) {
      const peer = requireContainerd(this, generation);
      const opts = { bootstrap: false, publishBinary: peer.containerd, address: '' };
      assert.equal(
        await taskApiVersion(opts, { MAX_SHIM_VERSION: '2' }),
        EXPECTED[generation].version,
        generation,
      );
    }
  });

  it("else asks containerd's gRPC Version service", async function () {
    requireEnvironment(this, { root: true }, 'run as root');
    for (const generation of containerdGenerations()) {
      const peer = requireContainerd(this, generation);
      const dir = fs.mkdtempSync('/tmp/ctv-');
      let child: ChildProcess | undefined;
      try {
        let address: string;
        [child, address] = await bareContainerd(peer, dir);
        const version = await queryContainerdVersion(address);
        const printed = await new Promise<string>((resolve) => {
          const c = spawn(peer.containerd, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('close', () => resolve(out));
        });
        assert.ok(printed.split(' ').includes(version), `${version} not in ${printed}`);
        const opts = { bootstrap: false, publishBinary: '/bin/true', address };
        assert.equal(
          await taskApiVersion(opts, { MAX_SHIM_VERSION: '2' }),
          EXPECTED[generation].version,
          generation,
        );
      } finally {
        child?.kill('SIGKILL');
        await new Promise((resolve) =>
          child?.exitCode === null ? child.once('exit', resolve) : resolve(0),
        );
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    await assert.rejects(queryContainerdVersion('/nonexistent/containerd.sock'));
    const opts = { bootstrap: false, publishBinary: '/bin/true', address: '/nonexistent/sock' };
    assert.equal(await taskApiVersion(opts, { MAX_SHIM_VERSION: '2' }), 2);
  });
});
