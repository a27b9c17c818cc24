// The `ttrpc` command (bin/ttrpc), run as a child process: call, describe and bench against the
// Go ttrpc peer, our own Server and the skeleton shim; plus the duration parser and the histogram.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fc from 'fast-check';

import { Server, unary } from '../lib/ttrpc';
import type { CallContext, MessageType } from '../lib/ttrpc';
import { formatDuration, parseDuration } from '../lib/duration';
import { Histogram } from '../lib/cli/histogram';
import * as protos from '../lib/protos';
import { Echo } from './fixtures/interop';
import type { EchoRequest } from './fixtures/interop';
import { serveInterop } from './fixtures/interop-server';
import { requireGoPeer, startGoServer } from './helpers/go-peer';
import type { GoServer } from './helpers/go-peer';
import { requireCondition } from './helpers/env';

const top = path.resolve(__dirname, '..', '..');
const bin = path.join(top, 'bin', 'ttrpc');
const interopProto = path.join(top, 'test', 'fixtures', 'interop.proto');
const skeleton = path.join(top, 'examples', 'skeleton', 'containerd-shim-skeleton-v1');
const ECHO = 'ttrpc.interop.v1.Interop/Echo';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

/** Runs `node bin/ttrpc ...args` without blocking this process's loop (it may be the server). */
function ttrpc(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: top,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ttrpc ${args.join(' ')} did not finish\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(options.input ?? '');
  });
}

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

interface LatencyUs {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

interface BenchTarget {
  target: string;
  calls: number;
  ok: number;
  errors: number;
  errorCodes: Record<string, number>;
  durationMs: number;
  throughput: number;
  latencyUs: LatencyUs;
  sendDelayUs?: { p50: number; p99: number; max: number };
}

interface BenchResult extends BenchTarget {
  mode: string;
  targets?: BenchTarget[];
  ratio?: Record<string, number | null>;
}

function assertOrdered(l: LatencyUs, what: string): void {
  const seq = [l.min, l.p50, l.p90, l.p99, l.p999, l.max];
  for (let i = 1; i < seq.length; i++)
    assert.ok(seq[i - 1]! <= seq[i]!, `${what}: percentiles out of order: ${JSON.stringify(l)}`);
}

function assertCounts(t: BenchTarget): void {
  const byCode = Object.values(t.errorCodes).reduce((a, b) => a + b, 0);
  assert.equal(t.errors, byCode, 'errors = sum of errorCodes');
  assert.equal(t.ok + t.errors, t.calls, 'ok + errors = calls');
}

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-cli-'));

after(() => {
  for (const child of running) child.kill('SIGKILL');
});

describe('ttrpc command: durations', () => {
  it('parses Go duration syntax into milliseconds', () => {
    const cases: [string, number][] = [
      ['100ms', 100],
      ['2s', 2000],
      ['1m30s', 90_000],
      ['1.5h', 5_400_000],
      ['300us', 0.3],
      ['300µs', 0.3],
      ['300μs', 0.3],
      ['10ns', 0.00001],
      ['0', 0],
      ['.5s', 500],
      ['1h2m3.5s', 3_723_500],
      ['-1.5s', -1500],
      ['+2ms', 2],
    ];
    for (const [text, ms] of cases) {
      const got = parseDuration(text);
      assert.ok(Math.abs(got - ms) < 1e-9, `${text}: ${got} != ${ms}`);
    }
  });

  it('rejects what Go rejects', () => {
    for (const text of ['', '1', '10', 'ms', '.s', '1.2.3s', '5 s', '1d', '-', 's1', '1sm']) {
      assert.throws(() => parseDuration(text), /duration/, text);
    }
  });

  it('formats like Go', () => {
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(0.3), '300µs');
    assert.equal(formatDuration(3_723_500), '1h2m3.5s');
    assert.equal(formatDuration(0), '0s');
  });
});

describe('ttrpc command: histogram', () => {
  it('counts small values exactly and reports p50/p90/p99/p99.9/max of 1..10000 within its precision', () => {
    const h = new Histogram(3);
    for (let v = 1; v <= 10_000; v++) h.record(v);
    const s = h.summary();
    assert.equal(s.count, 10_000);
    assert.equal(s.min, 1);
    assert.equal(s.max, 10_000);
    assert.equal(s.mean, 5000.5);
    const near = (got: number, want: number): void =>
      assert.ok(Math.abs(got - want) / want <= 1e-3, `${got} vs ${want}`);
    near(s.p50, 5000);
    near(s.p90, 9000);
    near(s.p99, 9900);
    near(s.p999, 9990);
    assert.equal(h.percentile(100), 10_000);
    assert.equal(h.percentile(0), 1);
    const exact = new Histogram(3);
    for (let v = 0; v < 100; v++) exact.record(v);
    assert.equal(exact.percentile(50), 49);
    assert.equal(exact.percentile(99), 98);
  });

  it('keeps `digits` significant digits for any value (property)', () => {
    for (const digits of [1, 2, 3, 4]) {
      const h = new Histogram(digits);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 45 }), (v) => {
          const [low, high] = h.equivalentRange(v);
          assert.ok(low <= v && v <= high, `${v} not in [${low}, ${high}]`);
          assert.ok((high - low + 1) / Math.max(1, low) <= 10 ** -digits || high === low);
        }),
        { numRuns: 2000 },
      );
    }
  });

  it('merges: two halves give the same percentiles as one histogram, at any precision', () => {
    const values = Array.from({ length: 5000 }, (_, i) => Math.round(50 + ((i * 7919) % 100_000)));
    const whole = new Histogram(3);
    const a = new Histogram(3);
    const b = new Histogram(3);
    values.forEach((v, i) => {
      whole.record(v);
      (i % 2 ? a : b).record(v);
    });
    const merged = new Histogram(3).merge(a).merge(b);
    assert.deepEqual(merged.summary(), whole.summary());
    const coarse = new Histogram(2).merge(whole);
    assert.equal(coarse.count, whole.count);
    assert.ok(Math.abs(coarse.percentile(99) - whole.percentile(99)) / whole.percentile(99) < 0.02);
  });

  it('is ordered and zero when empty; clamps to min and max', () => {
    const h = new Histogram();
    assert.deepEqual([h.percentile(50), h.max, h.min, h.mean], [0, 0, 0, 0]);
    h.record(123_456);
    assert.equal(h.percentile(50), 123_456, 'a single value is reported exactly');
    h.record(5, 3);
    assert.equal(h.count, 4);
    assert.equal(h.percentile(50), 5);
    assert.throws(() => new Histogram(6), RangeError);
  });
});

describe('ttrpc command: usage and describe', function () {
  this.timeout(60_000);

  it('prints usage and exits 2 on bad command lines, naming the problem', async () => {
    const none = await ttrpc([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^usage: ttrpc <command>/);
    const unknown = await ttrpc(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const flag = await ttrpc(['call', '--bogus', '/x', 'a.B/C']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^ttrpc: unknown flag --bogus\nRun 'ttrpc help call'/);
    const method = await ttrpc(['call', '/nonexistent.sock', 'containerd.task.v2.Task/Nope']);
    assert.equal(method.code, 2);
    assert.match(method.stderr, /no method "Nope"/);
    const badJson = await ttrpc(['call', '/x.sock', 'containerd.task.v2.Task/Connect', '{"id":']);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /invalid JSON/);
    const field = await ttrpc([
      'call',
      '/x.sock',
      'containerd.task.v2.Task/Connect',
      '{"idd":"x"}',
    ]);
    assert.equal(field.code, 2);
    assert.match(field.stderr, /unknown field "idd" in containerd\.task\.v2\.ConnectRequest/);
    const help = await ttrpc(['help', 'bench']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--rate <calls\/s>/);
  });

  it('describes the built-in containerd services and --proto services with kinds and types', async () => {
    const all = await ttrpc(['describe']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(
      all.stdout,
      /^containerd\.task\.v2\.Task {2}\(built in: proto\/containerd\/runtime\/task\/v2\/shim\.proto\)$/m,
    );
    assert.match(
      all.stdout,
      /^ {2}Connect +unary +containerd\.task\.v2\.ConnectRequest -> containerd\.task\.v2\.ConnectResponse$/m,
    );
    assert.match(all.stdout, /^containerd\.services\.events\.ttrpc\.v1\.Events/m);
    const mine = await ttrpc(['describe', '--proto', interopProto, '--no-default-protos']);
    assert.equal(
      mine.stdout,
      'ttrpc.interop.v1.Interop  (test/fixtures/interop.proto)\n' +
        '  Echo  unary  ttrpc.interop.v1.EchoRequest -> ttrpc.interop.v1.EchoResponse\n' +
        '\n' +
        'ttrpc.interop.v1.Streaming  (test/fixtures/interop.proto)\n' +
        '  Source  serverStream  ttrpc.interop.v1.SourceRequest -> ttrpc.interop.v1.Chunk\n' +
        '  Sink    clientStream  ttrpc.interop.v1.Chunk -> ttrpc.interop.v1.StreamSummary\n' +
        '  Bidi    bidi          ttrpc.interop.v1.Chunk -> ttrpc.interop.v1.Chunk\n',
    );
    const message = await ttrpc([
      'describe',
      '--proto',
      interopProto,
      'ttrpc.interop.v1.EchoRequest',
    ]);
    assert.match(message.stdout, /uint32 sleep_ms = 3; {2}\/\/ JSON: sleepMs/);
    const list = await ttrpc(['list']);
    assert.deepEqual(list.stdout.trim().split('\n').sort(), [
      'containerd.services.events.ttrpc.v1.Events',
      'containerd.task.v2.Task',
      'containerd.task.v3.Task',
    ]);
  });

  it('refuses a named pipe address on Linux with a clear error', async function () {
    requireCondition(
      this,
      process.platform !== 'win32',
      'a non-Windows host',
      'this checks the Linux refusal',
    );
    const r = await ttrpc([
      'call',
      '\\\\.\\pipe\\containerd-shim',
      'containerd.task.v2.Task/Connect',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^ERROR: UNAVAILABLE: cannot connect to \\\\\.\\pipe\\containerd-shim: named pipes are a Windows transport/,
    );
  });

  it('reports a missing socket as UNAVAILABLE, exit 1', async () => {
    const r = await ttrpc([
      'call',
      'unix:///nonexistent/ttrpc.sock',
      'containerd.task.v2.Task/Connect',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^ERROR: UNAVAILABLE: cannot connect to unix:\/\/\/nonexistent\/ttrpc\.sock: .*ENOENT/,
    );
  });
});

// The same call tests against both servers of the interop service.
const servers: {
  name: string;
  start: (address: string, ctx: Mocha.Context) => Promise<() => Promise<void>>;
}[] = [
  {
    name: 'the Go ttrpc peer',
    start: async (address, ctx) => {
      requireGoPeer(ctx);
      const go: GoServer = await startGoServer(address);
      return () => go.stop();
    },
  },
  {
    name: 'our own Server',
    start: async (address) => {
      const server = new Server();
      serveInterop(server);
      await server.listen(address);
      return () => server.close();
    },
  },
];

for (const { name, start } of servers) {
  describe(`ttrpc call against ${name}`, function () {
    this.timeout(60_000);
    let dir: string;
    let address: string;
    let stop: (() => Promise<void>) | undefined;
    const call = (args: string[], input?: string): Promise<Run> =>
      ttrpc(['call', '--proto', interopProto, ...args], { input });

    before(async function () {
      dir = tmp();
      address = `unix://${path.join(dir, 'server.sock')}`;
      stop = await start(address.slice(7), this);
    });

    after(async () => {
      await stop?.();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('prints the response as JSON, all fields shown', async () => {
      const r = await call([address, ECHO, '{"payload": "aGVsbG8="}']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.deepEqual(JSON.parse(r.stdout), {
        payload: 'aGVsbG8=',
        metadata: [],
        timeoutNano: '0',
      });
      assert.ok(r.stdout.startsWith('{\n  "payload"'), 'pretty-printed');
    });

    it('reads the request from stdin with -, proto field names accepted', async () => {
      const r = await call([address, 'Interop/Echo', '-'], '{"response_size": 3}');
      assert.equal(JSON.parse(r.stdout).payload, Buffer.from('xxx').toString('base64'));
    });

    it('prints an error status as ERROR: <CODE_NAME>: <message> and exits 1', async () => {
      const r = await call([address, ECHO, '{"failCode": 5, "failMessage": "gone"}']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'ERROR: NOT_FOUND: gone\n');
    });

    it('answers a method the server lacks with UNIMPLEMENTED', async () => {
      fs.writeFileSync(
        path.join(dir, 'nope.proto'),
        'syntax = "proto3";\npackage ttrpc.interop.v1;\nimport "google/protobuf/empty.proto";\n' +
          'service Interop { rpc Nope(google.protobuf.Empty) returns (google.protobuf.Empty); }\n',
      );
      const r = await ttrpc([
        'call',
        '-I',
        dir,
        '--proto',
        'nope.proto',
        address,
        'ttrpc.interop.v1.Interop/Nope',
      ]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'ERROR: UNIMPLEMENTED: method Nope\n');
    });

    it('sends --metadata, a repeated key in order', async () => {
      const r = await call(['--metadata', 'a=1', '--metadata', 'a=2', address, ECHO]);
      const response = JSON.parse(r.stdout) as { metadata: { key: string; value: string }[] };
      assert.deepEqual(response.metadata, [
        { key: 'a', value: '1' },
        { key: 'a', value: '2' },
      ]);
    });

    // No wall-clock bounds (the command's own start-up takes seconds on a loaded machine): a
    // 30 s handler answered DEADLINE_EXCEEDED proves the deadline was sent and enforced, and the
    // server must see a deadline no later than the one given.
    it('sends --timeout as the deadline: a 30 s call fails with DEADLINE_EXCEEDED', async () => {
      const r = await call(['--timeout', '100ms', address, ECHO, '{"sleepMs": 30000}']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^ERROR: DEADLINE_EXCEEDED: /);
      const ok = await call(['--timeout', '5s', address, ECHO]);
      const left = Number(JSON.parse(ok.stdout).timeoutNano) / 1e6;
      assert.ok(left > 0 && left <= 5000, `server saw ${left} ms left`);
    });
  });
}

describe('ttrpc call: the proto3 JSON mapping of well-known types', function () {
  this.timeout(60_000);
  const wktProto = path.join(top, 'test', 'fixtures', 'wkt.proto');
  const raw: MessageType<Uint8Array, Uint8Array> = {
    encode: (m) => ({ finish: () => m }),
    decode: (d) => Buffer.from(d),
  };
  let dir: string;
  let address: string;
  let server: Server;

  before(async () => {
    dir = tmp();
    address = `unix://${path.join(dir, 'wkt.sock')}`;
    server = new Server();
    server.addMethod(unary('ttrpc.wkt.v1.Wkt', 'Bytes', raw, raw), (m: Uint8Array) => m);
    server.addMethod(unary('ttrpc.wkt.v1.Wkt', 'Mixed', raw, raw), (m: Uint8Array) => m);
    await server.listen(address.slice(7));
  });

  after(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, json: string): Promise<Run> =>
    ttrpc(['call', '--no-default-protos', '--proto', wktProto, address, method, json]);

  it('a BytesValue request and response are the base64 string itself', async () => {
    const r = await call('ttrpc.wkt.v1.Wkt/Bytes', '"aGk="');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), 'aGk=');
  });

  it('wrappers, Struct, Value, ListValue, FieldMask and Any round-trip as their JSON forms', async () => {
    const request = {
      count: '9007199254740993',
      blob: 'aGk=',
      flag: false,
      ratio: 0.5,
      name: 'x',
      labels: { a: 1, b: [true, null, 'x'], c: { d: 'e' } },
      anything: [1, 'two', { three: 3 }],
      list: [null, 'y'],
      mask: 'fooBar,a.bC',
      detail: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1.500s' },
    };
    const r = await call('ttrpc.wkt.v1.Wkt/Mixed', JSON.stringify(request));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), request);
  });

  it('rejects a value of the wrong JSON type for a wrapper', async () => {
    const r = await call('ttrpc.wkt.v1.Wkt/Bytes', '5');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /expected base64 text for bytes field, got 5/);
  });
});

/** The pid of the process whose working directory is `dir` (the shim daemon runs in its bundle). */
function daemonIn(dir: string): number {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/cwd`) !== dir) continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('examples/skeleton/main.js'))
        return Number(entry);
    } catch {
      // gone meanwhile, or not ours to look at
    }
  }
  return -1;
}

describe('ttrpc call against the skeleton shim', function () {
  this.timeout(60_000);
  let dir: string;
  let address: string | undefined;
  let pid = -1;

  before(() => {
    dir = tmp();
  });

  after(async () => {
    if (pid > 0 && fs.existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('Connect answers version "example"; Shutdown ends the shim', async () => {
    const bundle = path.join(dir, 'bundle');
    fs.mkdirSync(bundle);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2' }));
    const grpc = path.join(dir, 'containerd.sock');
    const params = protos.bootstrap.BootstrapParams.encode({
      instanceId: 'cli-test',
      namespace: 'default',
      containerdGrpcAddress: grpc,
      containerdTtrpcAddress: `${grpc}.ttrpc`,
      socketDir: path.join(dir, 's'),
    }).finish();
    const started = spawnSync(
      skeleton,
      ['-namespace', 'default', '-id', 'cli-test', '-address', grpc, 'start'],
      {
        cwd: bundle,
        input: params,
        env: { ...process.env, TTRPC_ADDRESS: `${grpc}.ttrpc` },
        timeout: 20_000,
      },
    );
    assert.equal(started.status, 0, started.stderr.toString());
    address = protos.bootstrap.BootstrapResult.decode(started.stdout).address;
    // The daemon `start` left behind (SO_PEERCRED would name `start`, which called listen).
    pid = daemonIn(bundle);
    assert.ok(pid > 0, 'the shim daemon runs');
    const log = (): string => {
      try {
        return `\nshim log:\n${fs.readFileSync(path.join(bundle, 'log'), 'utf8')}`;
      } catch {
        return '';
      }
    };

    const connected = await ttrpc([
      'call',
      address,
      'containerd.task.v2.Task/Connect',
      '{"id":"x"}',
    ]);
    assert.equal(connected.code, 0, connected.stderr + log());
    const response = JSON.parse(connected.stdout) as { version: string };
    assert.equal(response.version, 'example');
    assert.match(connected.stdout, /"version": "example"/);

    const shutdown = await ttrpc([
      'call',
      address,
      'containerd.task.v2.Task/Shutdown',
      '{"id":"x"}',
    ]);
    assert.equal(shutdown.code, 0, shutdown.stderr + log());
    assert.equal(shutdown.stdout, '{}\n');
    const until = Date.now() + 10_000;
    const alive = (): boolean => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
      } catch {
        return false;
      }
    };
    while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!alive(), `shim ${pid} still running${log()}`);
    assert.ok(!fs.existsSync(address.slice('unix://'.length)), 'socket removed');
  });
});

describe('ttrpc bench', function () {
  this.timeout(120_000);
  let dir: string;
  let echo: string;
  let echo2: string;
  let slow: string;
  const servers: Server[] = [];
  const bench = (args: string[]): Promise<Run> =>
    ttrpc(['bench', '--proto', interopProto, '--json', ...args], { timeoutMs: 100_000 });

  before(async () => {
    dir = tmp();
    echo = path.join(dir, 'echo.sock');
    echo2 = path.join(dir, 'echo2.sock');
    slow = path.join(dir, 'slow.sock');
    for (const address of [echo, echo2]) {
      const server = new Server();
      serveInterop(server);
      await server.listen(address);
      servers.push(server);
    }
    // One call at a time, 10 ms each: at most 100 calls/s, whatever the load.
    const server = new Server();
    let queue: Promise<unknown> = Promise.resolve();
    server.addMethod(Echo, (request: EchoRequest, _ctx: CallContext) => {
      const mine = queue.then(() => new Promise((r) => setTimeout(r, 10)));
      queue = mine;
      return mine.then(() => ({ payload: request.payload }));
    });
    await server.listen(slow);
    servers.push(server);
  });

  after(async () => {
    for (const server of servers) await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('closed loop: counts add up and percentiles are ordered', async () => {
    const r = json<BenchResult>(
      await bench([echo, ECHO, '-n', '500', '-c', '4', '--warmup', '50']),
    );
    assert.equal(r.mode, 'closed');
    assert.equal(r.calls, 500, 'exactly -n calls measured (warm-up not counted)');
    assert.equal(r.ok, 500);
    assertCounts(r);
    assertOrdered(r.latencyUs, 'closed');
    assert.ok(r.throughput > 0 && r.durationMs > 0);
  });

  it('counts errors by code name', async () => {
    const r = json<BenchResult>(
      await bench([echo, ECHO, '{"failCode": 5}', '-n', '40', '-c', '2', '--connections', '2']),
    );
    assert.equal(r.calls, 40);
    assert.equal(r.ok, 0);
    assert.deepEqual(r.errorCodes, { NOT_FOUND: 40 });
    assertCounts(r);
    const mixed = json<BenchResult>(
      await bench([echo, ECHO, '{"sleepMs": 50}', '--timeout', '10ms', '-d', '300ms', '-c', '3']),
    );
    assertCounts(mixed);
    assert.ok(mixed.errorCodes.DEADLINE_EXCEEDED! > 0);
  });

  it('open loop counts queueing behind a slow server; closed loop sees only the service time', async () => {
    // 200 calls due in 1 s, one in flight at a time, 10 ms each: call i waits ~5i ms for its
    // turn. Measured from the send, every call would take ~10 ms; from its due time, p50 ~0.5 s.
    const open = json<BenchResult>(
      await bench([slow, ECHO, '--rate', '200', '-c', '1', '-d', '1s']),
    );
    const closed = json<BenchResult>(await bench([slow, ECHO, '-c', '1', '-d', '1s']));
    assert.equal(open.mode, 'open');
    assert.equal(open.calls, 200, 'every due call is made');
    assertCounts(open);
    assertCounts(closed);
    assertOrdered(open.latencyUs, 'open');
    assertOrdered(closed.latencyUs, 'closed');
    assert.ok(closed.latencyUs.p50 >= 9_000, `closed p50 ${closed.latencyUs.p50} µs`);
    assert.ok(closed.latencyUs.p50 < 100_000, `closed p50 ${closed.latencyUs.p50} µs`);
    assert.ok(open.latencyUs.p99 > 100_000, `open p99 ${open.latencyUs.p99} µs`);
    assert.ok(
      open.latencyUs.p50 > 3 * closed.latencyUs.p50,
      `open p50 ${open.latencyUs.p50} µs vs closed ${closed.latencyUs.p50} µs`,
    );
    assert.ok(open.sendDelayUs!.p99 > 100_000, 'the queueing happened before the send');
    assert.equal(closed.sendDelayUs, undefined);
    assert.ok(open.throughput < 150, `the server can do ~100/s, measured ${open.throughput}`);
  });

  it('--compare interleaves two targets and reports target2/target1 ratios', async () => {
    const r = json<BenchResult>(
      await bench([echo, ECHO, '--compare', echo2, '-n', '400', '-c', '2']),
    );
    assert.equal(r.targets!.length, 2);
    assert.deepEqual(
      r.targets!.map((t) => t.target),
      [echo, echo2],
    );
    for (const t of r.targets!) {
      assert.equal(t.calls, 400);
      assertCounts(t);
      assertOrdered(t.latencyUs, t.target);
    }
    const ratio = r.ratio!;
    assert.deepEqual(Object.keys(ratio), [
      'throughput',
      'mean',
      'p50',
      'p90',
      'p99',
      'p999',
      'max',
    ]);
    const expected = r.targets![1]!.throughput / r.targets![0]!.throughput;
    assert.ok(Math.abs(ratio.throughput! - expected) < 0.01);
  });

  it('prints a readable report and a progress line on request', async () => {
    const r = await ttrpc([
      'bench',
      '--proto',
      interopProto,
      echo,
      ECHO,
      '-d',
      '1200ms',
      '--progress',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^ttrpc\.interop\.v1\.Interop\/Echo on .*echo\.sock\nclosed loop: 1 caller on 1 connection, 1\.2s\n/,
    );
    assert.match(r.stdout, /^ {2}p99\.9 +\d/m);
    assert.match(r.stderr, /^\d+\.\ds +\d+ calls\/s +\d+ calls, 0 errors, p50 /m);
  });
});
