// Adaptive busy polling (native/posix/spin.h): it never changes what is delivered, and an idle
// connection never spins. Correctness only: nothing here depends on timing except generous
// bounds on CPU time spent idle.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client, Server } from '../lib/ttrpc';
import { posix } from '../lib/native';
import { busyPollFromEnv } from '../lib/ttrpc/transport';
import { Echo } from './fixtures/interop';
import { serveInterop } from './fixtures/interop-server';
import { requireCondition } from './helpers/env';
import { requireGoPeer } from './helpers/go-peer';

const IDLE_MS = 2000;
const IDLE_CPU_BOUND_MS = 50;
const TICK_MS = 1000 / 100; // /proc/<pid>/stat counts USER_HZ ticks (100 on Linux)

/** CPU time (user + system) of a process from /proc/<pid>/stat, in ms. */
function procCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime/stime are 14/15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

describe('ttrpc adaptive busy polling', function () {
  let dir: string;

  before(function () {
    requireCondition(this, process.platform === 'linux', 'busy polling is Linux-only', 'Linux');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-polling-'));
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('TTRPC_BUSY_POLL_MICROS sets the default bound; junk keeps the built-in one', () => {
    assert.equal(busyPollFromEnv(undefined, 100), 100);
    assert.equal(busyPollFromEnv('', 100), 100);
    assert.equal(busyPollFromEnv('0', 100), 0);
    assert.equal(busyPollFromEnv('250', 100), 250);
    assert.equal(busyPollFromEnv('-1', 100), 100);
    assert.equal(busyPollFromEnv('fast', 100), 100);
  });

  it('a client and server that were busy spend no spins and almost no CPU once idle', async () => {
    const server = new Server();
    serveInterop(server, { push: () => 0 } as unknown as []);
    const address = path.join(dir, 'idle.sock');
    await server.listen(address);
    const client = await Client.connect(address);
    try {
      // Serial calls: short gaps on both sides, so both connections learn that spinning pays.
      for (let i = 0; i < 2000; i++) await client.unary(Echo, { payload: Buffer.from('x') });
      await sleep(50); // the last waits' spins (at most 100 µs each) are over
      const spins = posix.spinStats().spins;
      const cpu = cpuMs();
      await sleep(IDLE_MS);
      const spent = cpuMs() - cpu;
      assert.equal(posix.spinStats().spins, spins, 'no spin while no call is made');
      assert.ok(spent < IDLE_CPU_BOUND_MS, `${spent.toFixed(1)} ms of CPU over ${IDLE_MS} ms idle`);
      // And the connection still answers at once afterwards.
      const r = await client.unary(Echo, { payload: Buffer.from('again') });
      assert.equal(Buffer.from(r.payload).toString(), 'again');
    } finally {
      client.close();
      await server.close();
    }
  });

  it('a server process whose client went idle spends almost no CPU', async () => {
    const address = path.join(dir, 'child.sock');
    const child = spawn(
      process.execPath,
      [path.join(__dirname, 'fixtures', 'echo-server.js'), address],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`echo server exited with ${code}`)));
      });
      const client = await Client.connect(address);
      try {
        for (let i = 0; i < 2000; i++) await client.unary(Echo, { payload: Buffer.from('x') });
        await sleep(50);
        const before = procCpuMs(child.pid!);
        await sleep(IDLE_MS);
        const spent = procCpuMs(child.pid!) - before;
        assert.ok(spent < IDLE_CPU_BOUND_MS, `server: ${spent} ms of CPU over ${IDLE_MS} ms idle`);
      } finally {
        client.close();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await new Promise((resolve) =>
        child.exitCode !== null ? resolve(null) : child.once('exit', resolve),
      );
    }
  });

  it("a process keeps no descriptor of the poller's once its connections closed", () => {
    // In a fresh process: its first connection sets up the addon's per-process scheduler. An
    // fd it kept after every connection closed would be an fd a warm standby did not have
    // before an action (a grouped shim's `start` connects to its daemon), and the standby would
    // exit instead of serving the next action.
    const script = `
      const fs = require('node:fs');
      const { Client, Server } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'ttrpc'))});
      const { Echo } = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'interop'))});
      const { serveInterop } = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'interop-server'))});
      const fds = () => fs.readdirSync('/proc/self/fd').map((fd) => {
        try { return fd + ' ' + fs.readlinkSync('/proc/self/fd/' + fd); } catch { return ''; }
      }).filter((l) => l !== '' && !l.includes('/proc/self/fd')).sort();
      (async () => {
        const before = fds();
        const server = new Server();
        serveInterop(server, { push: () => 0 });
        await server.listen(process.argv[1]);
        const client = await Client.connect(process.argv[1]);
        for (let i = 0; i < 500; i++) await client.unary(Echo, { payload: Buffer.from('x') });
        client.close();
        await server.close();
        await new Promise((resolve) => setTimeout(resolve, 50));
        process.stdout.write(JSON.stringify({ before, after: fds() }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script, path.join(dir, 'fds.sock')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(r.status, 0, r.stderr);
    const { before, after } = JSON.parse(r.stdout) as { before: string[]; after: string[] };
    // libuv keeps one /dev/null for good after a server's first accept (its reserve for EMFILE);
    // a standby allows for it too.
    const devNull = (l: string): boolean => l.endsWith(' /dev/null');
    assert.deepEqual(
      after.filter((l) => !devNull(l)),
      before.filter((l) => !devNull(l)),
    );
  });

  it('a busy-poll bound of 0 never spins', async () => {
    const server = new Server({ busyPollMicros: 0 });
    serveInterop(server, { push: () => 0 } as unknown as []);
    const address = path.join(dir, 'off.sock');
    await server.listen(address);
    const client = await Client.connect(address, { busyPollMicros: 0 });
    try {
      posix.spinAlways(true); // even at its most eager: nothing is waiting with a bound
      const spins = posix.spinStats().spins;
      for (let i = 0; i < 200; i++) {
        const r = await client.unary(Echo, { payload: Buffer.from(`m${i}`) });
        assert.equal(Buffer.from(r.payload).toString(), `m${i}`);
      }
      assert.equal(posix.spinStats().spins, spins);
    } finally {
      posix.spinAlways(false);
      client.close();
      await server.close();
    }
  });

  // The interop (Go ttrpc 1.1.1 both ways) and streaming suites, in a mocha of their own: once
  // with busy polling off, once spinning on every wait.
  const suites = ['ttrpc-interop.test.js', 'ttrpc-stream.test.js'].map((f) =>
    path.join(__dirname, f),
  );
  const mocha = require.resolve('mocha/bin/mocha.js');

  function runSuites(env: NodeJS.ProcessEnv, extra: string[]): void {
    const r = spawnSync(
      process.execPath,
      [
        mocha,
        '--no-config',
        '--timeout',
        '60000',
        '--exit',
        '--reporter',
        'dot',
        ...extra,
        ...suites,
      ],
      { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    assert.equal(r.status, 0, `suites failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /passing/);
    assert.doesNotMatch(r.stdout, /pending/, 'no suite may skip');
  }

  it('the interop and stream suites pass with busy polling off', function () {
    requireGoPeer(this);
    this.timeout(600_000);
    runSuites({ TTRPC_BUSY_POLL_MICROS: '0' }, []);
  });

  it('the interop and stream suites pass spinning on every wait', function () {
    requireGoPeer(this);
    this.timeout(600_000);
    const statsFile = path.join(dir, 'spin-stats.json');
    runSuites({ SPIN_STATS_FILE: statsFile }, [
      '--require',
      path.join(__dirname, 'helpers', 'spin-always.js'),
    ]);
    const stats = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as { spins: number; hits: number };
    assert.ok(stats.spins > 100, `spun ${stats.spins} times`);
    assert.ok(stats.hits > 0, 'some spins ended with the answer');
  });
});
