// The shim binary contract, golden: what `start`, `delete`, `-v`, `-info` and bad input print for
// every containerd generation, and how the serving process behaves (session, fd 3, socket
// permissions, group reuse, peer-credential check, SIGTERM).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, TaskClient } from '../lib';
import { posix } from '../lib/native';
import * as protos from '../lib/protos';
import { requireEnvironment } from './helpers/env';
import { connectAsNobody } from './helpers/raw-peer';

const top = path.resolve(__dirname, '..', '..');
const golden = path.join(top, 'dist', 'test', 'fixtures', 'golden-shim.js');
const RUNTIME = 'io.containerd.golden.v1';

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function shim(
  args: string[],
  options: { cwd?: string; input?: Uint8Array; env?: Record<string, string> } = {},
): Run {
  const r: SpawnSyncReturns<Buffer> = spawnSync(process.execPath, [golden, ...args], {
    cwd: options.cwd,
    input: options.input ?? Buffer.alloc(0),
    env: { ...process.env, TTRPC_ADDRESS: '/nonexistent/containerd.sock.ttrpc', ...options.env },
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Shuts a started shim down over TTRPC and waits until its process and socket are gone. */
async function stopShim(address: string): Promise<void> {
  const file = address.replace('unix://', '');
  if (!fs.existsSync(file)) return;
  let pid = -1;
  try {
    const client = await Client.connect(address);
    const task = new TaskClient(client);
    pid = (await task.connect({ id: 'x' })).shimPid;
    await task.shutdown({ id: 'x' });
    await client.closedPromise;
  } catch {
    // already going away
  }
  const until = Date.now() + 10_000;
  while (
    Date.now() < until &&
    (fs.existsSync(file) || (pid > 0 && fs.existsSync(`/proc/${pid}`)))
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  if (pid > 0 && fs.existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
}

function statField(pid: number, index: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index - 3]!;
}

describe('shim binary contract', function () {
  this.timeout(60_000);
  let dir: string;
  let bundle: string;
  let id: string;
  const started: string[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-bin-'));
    bundle = path.join(dir, 'bundle');
    fs.mkdirSync(bundle);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2' }));
    id = `golden-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  });

  afterEach(async () => {
    for (const address of started.splice(0)) await stopShim(address);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const grpc = (): string => path.join(dir, 'containerd.sock');
  const startArgs = (extra: string[] = []): string[] => [
    '-namespace',
    'testns',
    '-id',
    id,
    '-address',
    grpc(),
    '-publish-binary',
    '/usr/bin/containerd',
    ...extra,
    'start',
  ];

  describe('start, containerd 1.6 – 2.2', () => {
    it('prints only the plain address of a socket bound before start returned (1.6: empty stdin)', async function () {
      requireEnvironment(this, { root: true }, "run as root: /run/containerd/s is root's");
      const r = shim(startArgs(), { cwd: bundle });
      const expected = `unix:///run/containerd/s/${sha256(`${grpc()}/testns/${id}`)}`;
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0);
      assert.equal(r.stdout.toString(), expected);
      started.push(expected);
      assert.equal(fs.readFileSync(path.join(bundle, 'address'), 'utf8'), expected);
      const file = expected.slice('unix://'.length);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const client = await Client.connect(expected);
      const connected = await new TaskClient(client).connect({ id });
      client.close();
      const pid = connected.shimPid;
      assert.equal(connected.version, 'golden');
      assert.equal(statField(pid, 6), String(pid), 'the daemon leads its own session');
      assert.equal(fs.readlinkSync(`/proc/${pid}/cwd`), bundle);
      assert.match(fs.readlinkSync(`/proc/${pid}/fd/3`), /^socket:/);
      assert.equal(
        fs.readFileSync(`/proc/${pid}/environ`, 'utf8').includes('GOLDEN_CHILD=1'),
        true,
      );
    });

    it('reads the runtime options Any on stdin (1.7 – 2.2) and still prints a plain address', async function () {
      requireEnvironment(this, { root: true }, 'run as root');
      const options = protos.protobuf.Any.encode({
        type_url: 'containerd.runc.v1.Options',
        value: protos.runc.Options.encode({ binaryName: 'runc' }).finish(),
      }).finish();
      const r = shim(startArgs(), { cwd: bundle, input: options });
      assert.equal(r.stderr, '');
      assert.match(r.stdout.toString(), /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
      started.push(r.stdout.toString());
    });

    it('prints JSON {version, address, protocol} when the shim reports version 3', async function () {
      requireEnvironment(this, { root: true }, 'run as root');
      const r = shim(startArgs(), { cwd: bundle, env: { GOLDEN_RESULT: 'json' } });
      const out = JSON.parse(r.stdout.toString()) as {
        version: number;
        address: string;
        protocol: string;
      };
      started.push(out.address);
      assert.deepEqual(Object.keys(out), ['version', 'address', 'protocol']);
      assert.equal(out.version, 3);
      assert.equal(out.protocol, 'ttrpc');
    });

    it('reuses the running shim of the same group and replaces a stale socket', async function () {
      requireEnvironment(this, { root: true }, 'run as root');
      fs.writeFileSync(
        path.join(bundle, 'config.json'),
        JSON.stringify({ annotations: { 'io.containerd.runc.v2.group': `group-${id}` } }),
      );
      const expected = `unix:///run/containerd/s/${sha256(`${grpc()}/testns/group-${id}`)}`;
      // A stale socket from a dead shim: bound, never listened to again.
      const stale = posix.unixListen(expected.slice(7), false);
      posix.closeFd(stale);
      const first = shim(startArgs(), { cwd: bundle });
      assert.equal(first.stdout.toString(), expected, first.stderr);
      started.push(expected);
      const second = shim(['-namespace', 'testns', '-id', `${id}-b`, '-address', grpc(), 'start'], {
        cwd: bundle,
      });
      assert.equal(second.stdout.toString(), expected, 'same group, same shim');
      const client = await Client.connect(expected);
      const pids = new Set<number>();
      for (let i = 0; i < 2; i++) pids.add((await new TaskClient(client).connect({ id })).shimPid);
      client.close();
      assert.equal(pids.size, 1);
    });

    it('keeps Node warnings out of the output', async function () {
      requireEnvironment(this, { root: true }, 'run as root');
      const r = shim(startArgs(), {
        cwd: bundle,
        env: { GOLDEN_WARN: '1', NODE_OPTIONS: '--trace-warnings' },
      });
      started.push(r.stdout.toString());
      assert.equal(r.stderr, '');
      assert.match(r.stdout.toString(), /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
    });
  });

  describe('start, containerd 2.3+', () => {
    it('reads BootstrapParams and prints a BootstrapResult, socket under socket_dir (0700)', async () => {
      const socketDir = path.join(dir, 's');
      const params = protos.bootstrap.BootstrapParams.encode({
        instanceId: id,
        namespace: 'testns',
        containerdGrpcAddress: grpc(),
        containerdTtrpcAddress: path.join(dir, 'ttrpc.sock'),
        socketDir,
      }).finish();
      const r = shim(startArgs(), { cwd: bundle, input: params });
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0);
      const result = protos.bootstrap.BootstrapResult.decode(r.stdout);
      const expected = `unix://${socketDir}/${sha256(`${grpc()}/testns/${id}`)}`;
      assert.deepEqual(result.toJSON(), { version: 2, address: expected, protocol: 'ttrpc' });
      started.push(expected);
      assert.equal(fs.statSync(socketDir).mode & 0o777, 0o700);
      assert.equal(fs.statSync(expected.slice(7)).mode & 0o777, 0o600);
      const client = await Client.connect(expected);
      assert.equal((await new TaskClient(client).connect({ id })).version, 'golden');
      client.close();
    });

    it('refuses a client running as another uid (peer credentials), serves the same uid', async function () {
      requireEnvironment(this, { root: true }, 'run as root');
      const socketDir = path.join(dir, 's');
      const params = protos.bootstrap.BootstrapParams.encode({
        instanceId: id,
        namespace: 'testns',
        socketDir,
      }).finish();
      const result = protos.bootstrap.BootstrapResult.decode(
        shim(startArgs(), { cwd: bundle, input: params }).stdout,
      );
      started.push(result.address);
      const file = result.address.slice(7);
      // Open the filesystem permissions so only the handshake stands in the way.
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(socketDir, 0o755);
      fs.chmodSync(file, 0o777);
      assert.match(
        await connectAsNobody(file, '00000000000000010100'),
        /^(closed|error ECONNRESET|error EPIPE)$/,
      );
      const client = await Client.connect(result.address);
      assert.equal((await new TaskClient(client).connect({ id })).version, 'golden');
      client.close();
    });

    it('shuts down gracefully on SIGTERM and removes its socket', async () => {
      const socketDir = path.join(dir, 's');
      const params = protos.bootstrap.BootstrapParams.encode({
        instanceId: id,
        namespace: 'testns',
        socketDir,
      }).finish();
      const result = protos.bootstrap.BootstrapResult.decode(
        shim(startArgs(), { cwd: bundle, input: params }).stdout,
      );
      started.push(result.address);
      const client = await Client.connect(result.address);
      const pid = (await new TaskClient(client).connect({ id })).shimPid;
      client.close();
      process.kill(pid, 'SIGTERM');
      const until = Date.now() + 10_000;
      while (Date.now() < until && fs.existsSync(`/proc/${pid}`) && statField(pid, 3) !== 'Z')
        await new Promise((r) => setTimeout(r, 20));
      assert.ok(!fs.existsSync(result.address.slice(7)), 'socket removed');
    });
  });

  describe('delete and the other actions', () => {
    it('delete prints exactly the DeleteResponse protobuf', () => {
      const r = shim(
        ['-namespace', 'testns', '-id', id, '-address', grpc(), '-bundle', bundle, 'delete'],
        { cwd: bundle },
      );
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0);
      assert.equal(r.stdout.toString('hex'), '08ffffffff0f1089011a080880e2cfaa061005');
    });

    it('delete without its bundle still answers (containerd 2.x removes it while delete starts)', () => {
      const r = shim(['-namespace', 'n', '-id', id, '-bundle', path.join(dir, 'nope'), 'delete'], {
        cwd: dir,
      });
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0);
      assert.equal(r.stdout.toString('hex'), '08ffffffff0f1089011a080880e2cfaa061005');
    });

    it('-v prints the version and exits 0; -info prints RuntimeInfo', () => {
      const v = shim(['-v']);
      assert.equal(v.status, 0);
      assert.match(
        v.stdout.toString(),
        new RegExp(`^${RUNTIME.replace(/\./g, '\\.')}:\\n  Version:  `),
      );
      const info = shim(['-info']);
      assert.equal(info.status, 0);
      const decoded = protos.introspection.RuntimeInfo.decode(info.stdout);
      assert.equal(decoded.name, RUNTIME);
    });
  });

  describe('bad input: a clear error and exit status 1', () => {
    const cases: [string, string[], RegExp][] = [
      [
        'an unknown flag',
        ['-namespace', 'n', '-bogus', 'start'],
        /^io\.containerd\.golden\.v1: flag provided but not defined: -bogus\n$/,
      ],
      [
        'a flag without its value',
        ['-namespace'],
        /^io\.containerd\.golden\.v1: flag needs an argument: -namespace\n$/,
      ],
      [
        'a bad boolean',
        ['-namespace', 'n', '-debug=maybe', 'start'],
        /invalid boolean value "maybe" for -debug/,
      ],
      [
        'no namespace',
        ['-id', 'x', 'start'],
        /^io\.containerd\.golden\.v1: shim namespace cannot be empty\n$/,
      ],
      ['an unknown action', ['-namespace', 'n', 'frobnicate'], /unknown action "frobnicate"/],
    ];
    for (const [what, args, expected] of cases) {
      it(`rejects ${what}`, () => {
        const r = shim(args, { cwd: bundle });
        assert.equal(r.status, 1);
        assert.equal(r.stdout.length, 0);
        assert.match(r.stderr, expected);
      });
    }

    it('rejects a malformed config.json on start', () => {
      fs.writeFileSync(path.join(bundle, 'config.json'), '{"ociVersion": "1.0.2",');
      const r = shim(startArgs(), { cwd: bundle });
      assert.equal(r.status, 1);
      assert.equal(r.stdout.length, 0);
      assert.match(r.stderr, /^io\.containerd\.golden\.v1: malformed OCI spec .*config\.json: /);
    });

    it('reports a failing startShim', () => {
      const r = shim(startArgs(), { cwd: bundle, env: { GOLDEN_FAIL: '1' } });
      assert.equal(r.status, 1);
      assert.equal(r.stderr, 'io.containerd.golden.v1: refusing to start\n');
    });
  });
});
