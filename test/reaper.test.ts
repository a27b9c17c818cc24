// The exit monitor and the native reaper. The ExitMonitor logic is tested here with synthetic
// exits; everything that needs the reaper or the subreaper runs in a child Node process
// (test/fixtures/exit-storm.ts), so the mocha process never reaps or adopts anyone.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { ExitMonitor } from '../lib/shim/monitor';
import type { ExitEvent } from '../lib/shim/monitor';
import { requireLinux } from './helpers/env';
import { underLoad } from './helpers/load';

const FIXTURE = path.join(__dirname, 'fixtures', 'exit-storm.js');
const SPAWN_FIXTURE = path.join(__dirname, 'fixtures', 'native-spawn.js');
// Liveness is judged inside the fixture (a storm in which no child finishes for a minute stops and
// reports); these only catch a fixture that hangs outright. A 10,000-child storm takes about a
// minute beside two busy loops, several when the machine is busy with other work as well.
const FIXTURE_BACKSTOP_MS = 20 * 60_000;
const STORM_TIMEOUT_MS = FIXTURE_BACKSTOP_MS + 60_000;

function exit(pid: number, status = 0, signal = 0, timestamp = new Date()): ExitEvent {
  return { pid, status, signal, timestamp };
}

/** Whether `promise` is still pending after the current macrotask. */
async function isPending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const result = await Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    new Promise((resolve) => setImmediate(() => resolve(marker))),
  ]);
  return result === marker;
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: NodeJS.ErrnoException) => err.code === code);
}

describe('ExitMonitor', function () {
  it('delivers an exit to its pid subscribers and to "all" subscribers, each exactly once', async function () {
    const m = new ExitMonitor();
    const byPid1 = m.subscribe(100);
    const byPid2 = m.subscribe(100);
    const other = m.subscribe(200);
    const all1 = m.subscribe('all');
    const all2: ExitEvent[] = [];
    m.subscribe('all', (e) => all2.push(e));

    m.notify(exit(100, 3));
    m.notify(exit(300, 0, 9));

    assert.equal((await byPid1.next()).status, 3);
    assert.equal((await byPid2.next()).status, 3);
    assert.ok(await isPending(other.next()));
    assert.deepEqual(
      [(await all1.next()).pid, (await all1.next()).pid],
      [100, 300],
      'all subscriber',
    );
    assert.ok(await isPending(all1.next()));
    assert.deepEqual(
      all2.map((e) => e.pid),
      [100, 300],
    );
  });

  it('ends a pid subscription after its exit (a later process with that pid is another one)', async function () {
    const m = new ExitMonitor();
    const sub = m.subscribe(100);
    const seen: number[] = [];
    const loop = (async () => {
      for await (const e of sub) seen.push(e.status);
    })();
    m.notify(exit(100, 1));
    await loop;
    assert.deepEqual(seen, [1]);
    assert.equal(sub.closed, true);
    m.notify(exit(100, 2)); // pid reused: not delivered, recorded instead
    assert.equal(m.recordedExits, 1);
    await rejectsWithCode(sub.next(), 'ERR_SUBSCRIPTION_CLOSED');
  });

  it('keeps queued events readable after a pid subscription closes', async function () {
    const m = new ExitMonitor();
    const sub = m.subscribe(100);
    m.notify(exit(100, 5));
    assert.equal(sub.closed, true);
    assert.equal((await sub.next()).status, 5);
    await rejectsWithCode(sub.next(), 'ERR_SUBSCRIPTION_CLOSED');
  });

  it('passes events to a listener instead of queueing them', async function () {
    const m = new ExitMonitor();
    const got: ExitEvent[] = [];
    const sub = m.subscribe(7, (e) => got.push(e));
    m.notify(exit(7, 0, 15));
    assert.equal(got.length, 1);
    assert.equal(got[0].signal, 15);
    assert.equal(sub.closed, true);
  });

  it('unsubscribe stops delivery and ends pending next() calls and for-await loops', async function () {
    const m = new ExitMonitor();
    const all = m.subscribe('all');
    const pending = all.next();
    all.unsubscribe();
    all.unsubscribe(); // idempotent
    await rejectsWithCode(pending, 'ERR_SUBSCRIPTION_CLOSED');
    m.notify(exit(1));
    await rejectsWithCode(all.next(), 'ERR_SUBSCRIPTION_CLOSED');

    const listened: number[] = [];
    const withListener = m.subscribe(2, (e) => listened.push(e.pid));
    withListener.unsubscribe();
    m.notify(exit(2));
    assert.deepEqual(listened, []);
    assert.equal(m.recordedExits, 2, 'unsubscribed pid exits are recorded');

    // Leaving a for-await loop unsubscribes.
    const iterated = m.subscribe('all');
    m.notify(exit(3));
    m.notify(exit(4));
    for await (const e of iterated) {
      assert.equal(e.pid, 3);
      break;
    }
    assert.equal(iterated.closed, true);
    m.notify(exit(5));
    assert.equal((await iterated.next()).pid, 4, 'already queued before the break');
    await rejectsWithCode(iterated.next(), 'ERR_SUBSCRIPTION_CLOSED');
  });

  it('queues without bound (no exit is ever dropped)', async function () {
    const m = new ExitMonitor({ recentExits: 0 });
    const all = m.subscribe('all');
    const n = 20_000;
    for (let pid = 1; pid <= n; pid++) m.notify(exit(pid, pid % 256));
    for (let pid = 1; pid <= n; pid++) {
      const e = await all.next();
      assert.equal(e.pid, pid);
      assert.equal(e.status, pid % 256);
    }
    assert.ok(await isPending(all.next()));
  });

  it('hands several concurrent next() calls one event each, in order', async function () {
    const m = new ExitMonitor();
    const all = m.subscribe('all');
    const waits = [all.next(), all.next(), all.next()];
    m.notify(exit(10));
    m.notify(exit(11));
    m.notify(exit(12));
    assert.deepEqual(
      (await Promise.all(waits)).map((e) => e.pid),
      [10, 11, 12],
    );
  });

  it('waitFor resolves with an exit that happened before the call, once', async function () {
    const m = new ExitMonitor();
    const all = m.subscribe('all'); // 'all' subscribers do not prevent recording
    m.notify(exit(42, 137, 9));
    assert.equal(m.recordedExits, 1);
    const e = await m.waitFor(42);
    assert.deepEqual([e.pid, e.status, e.signal], [42, 137, 9]);
    assert.equal(m.recordedExits, 0, 'claimed');
    assert.ok(await isPending(m.waitFor(42)), 'a second waitFor waits for the next exit');
    assert.equal((await all.next()).pid, 42);
  });

  it('waitFor before the exit subscribes; exits with pid subscribers are not recorded', async function () {
    const m = new ExitMonitor();
    const waiting = m.waitFor(43);
    m.notify(exit(43, 1));
    assert.equal((await waiting).status, 1);
    assert.equal(m.recordedExits, 0);
  });

  it('waitFor `since` skips an exit of an earlier process with the same pid; forget drops one', async function () {
    const m = new ExitMonitor();
    m.notify(exit(50, 1, 0, new Date(1000)));
    const waiting = m.waitFor(50, { since: new Date(2000) });
    assert.ok(await isPending(waiting));
    assert.equal(m.recordedExits, 0, 'the stale exit is discarded');
    m.notify(exit(50, 2, 0, new Date(3000)));
    assert.equal((await waiting).status, 2);

    m.notify(exit(51));
    assert.equal(m.forget(51), true);
    assert.equal(m.forget(51), false);
    assert.ok(await isPending(m.waitFor(51)));
  });

  it('waitFor can be aborted', async function () {
    const m = new ExitMonitor();
    const ac = new AbortController();
    const waiting = m.waitFor(60, { signal: ac.signal });
    ac.abort(new Error('gave up'));
    await assert.rejects(waiting, /gave up/);
    m.notify(exit(60));
    assert.equal(m.recordedExits, 1, 'the aborted waiter unsubscribed');
    await assert.rejects(m.waitFor(60, { signal: ac.signal }), /gave up/);
  });

  it('keeps only the most recent exits of unsubscribed pids', async function () {
    const m = new ExitMonitor({ recentExits: 3 });
    for (const pid of [1, 2, 3, 4]) m.notify(exit(pid, pid));
    m.notify(exit(2, 20)); // a newer exit under pid 2 replaces it and makes it the newest
    m.notify(exit(5, 5)); // evicts 3
    assert.equal(m.recordedExits, 3);
    assert.ok(await isPending(m.waitFor(1)));
    assert.ok(await isPending(m.waitFor(3)));
    assert.equal((await m.waitFor(2)).status, 20);
    assert.equal((await m.waitFor(4)).status, 4);
    assert.equal((await m.waitFor(5)).status, 5);
  });

  it('a throwing listener does not keep the exit from the other subscribers', async function () {
    const m = new ExitMonitor();
    const boom = new Error('listener failed');
    m.subscribe('all', () => {
      throw boom;
    });
    const after = m.subscribe('all');
    const byPid = m.subscribe(70);
    // The error is rethrown on the next tick; take it from mocha's handler for this test.
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    try {
      const caught = new Promise((resolve) => process.once('uncaughtException', resolve));
      m.notify(exit(70));
      assert.equal(await caught, boom);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of saved) process.on('uncaughtException', listener);
    }
    assert.equal((await after.next()).pid, 70);
    assert.equal((await byPid.next()).pid, 70);
  });

  it('validates its arguments', function () {
    const m = new ExitMonitor();
    assert.throws(() => m.subscribe(0), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => m.subscribe(1.5), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => m.notify(exit(-1)), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new ExitMonitor({ recentExits: -1 }), RangeError);
  });

  it('start() fails with ERR_UNSUPPORTED_PLATFORM off Linux', function () {
    const real = Object.getOwnPropertyDescriptor(process, 'platform');
    assert.ok(real);
    Object.defineProperty(process, 'platform', { ...real, value: 'darwin' });
    try {
      const m = new ExitMonitor();
      assert.throws(() => m.start(), { code: 'ERR_UNSUPPORTED_PLATFORM' });
      assert.equal(m.started, false);
    } finally {
      Object.defineProperty(process, 'platform', real);
    }
  });
});

describe('ExitMonitor.start() in a worker thread', function () {
  it("refuses with ERR_REAPER_WORKER (the reaper would take the main thread's children)", async function () {
    requireLinux(this, 'the reaper is Linux-only');
    const modulePath = path.join(__dirname, '..', 'lib', 'shim', 'monitor.js');
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { ExitMonitor } = require(${JSON.stringify(modulePath)});
       try { new ExitMonitor().start(); parentPort.postMessage('started'); }
       catch (err) { parentPort.postMessage(err.code); }`,
      { eval: true },
    );
    const [message] = (await once(worker, 'message')) as [string];
    await worker.terminate();
    assert.equal(message, 'ERR_REAPER_WORKER');
  });
});

interface FixtureResult {
  [key: string]: unknown;
}

function runFixture(args: string[], fixture = FIXTURE): Promise<FixtureResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [fixture, ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: FIXTURE_BACKSTOP_MS },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${fixture} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as FixtureResult);
        } catch {
          reject(new Error(`bad fixture output: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

interface StormResult extends FixtureResult {
  count: number;
  elapsedMs: number;
  exitsPerSecond: number;
  cpuMs: number;
  pidsReused: number;
  forcedPasses: number;
  orphans: {
    spawned: number;
    badCount: number;
    bad: unknown[];
    claimedFromRecent: number;
    lostToParent: number;
  };
}

function storm(args: {
  count: number;
  inFlight: number;
  pressure?: boolean;
  shape?: 'lifeline' | 'naive';
  hold?: boolean;
}): Promise<StormResult> {
  return runFixture([
    'storm',
    String(args.count),
    String(args.inFlight),
    args.pressure === true ? '1' : '0',
    args.shape ?? 'lifeline',
    args.hold === true ? '1' : '0',
  ]) as Promise<StormResult>;
}

function checkStorm(r: StormResult, count: number): void {
  const cp = r.childProcess as { spawned: number; badCount: number; bad: unknown[] };
  assert.equal(r.complete, true, `storm did not finish: ${JSON.stringify(r)}`);
  assert.equal(r.subreaper, true);
  assert.equal(cp.spawned, count / 2);
  assert.equal(r.orphans.spawned, count / 2);
  assert.deepEqual(cp.bad, [], 'child_process exit events missing, repeated or wrong');
  assert.equal(r.orphans.lostToParent, 0, 'orphans reaped by their own parent shell');
  assert.deepEqual(r.orphans.bad, [], 'orphan exits missing, repeated or wrong');
  assert.deepEqual(r.missing, [], 'exits never reported');
  assert.deepEqual(r.stolen, [], 'the reaper took child_process children');
  assert.deepEqual(r.duplicates, [], 'pids reported twice');
  assert.deepEqual(r.unexpected, [], 'exits of pids that were not ours to report');
  // Every intermediate shell and every orphan, nothing else.
  assert.equal(r.monitorReported, count);
  assert.equal(r.expectedReported, count);
  assert.deepEqual(r.zombies, [], 'zombies left');
  assert.equal(r.childrenLeft, 0);
  assert.equal(r.recordedExits, 0, 'every recorded exit was claimed');
}

function logStorm(label: string, r: StormResult): void {
  console.log(
    `      ${label}: ${r.count} children in ${r.elapsedMs} ms (${r.exitsPerSecond} exits/s, ` +
      `${r.cpuMs} ms CPU, ${r.pidsReused} pids reused, ${r.forcedPasses} forced passes); ` +
      `${r.orphans.claimedFromRecent} orphan exits claimed from the recent-exits table`,
  );
}

function checkBasics(r: FixtureResult): void {
  assert.equal(r.subreaper, true);
  const exit7 = r.exit7 as Record<string, number>;
  assert.deepEqual(exit7, {
    pid: exit7.expectedPid,
    status: 7,
    signal: 0,
    expectedPid: exit7.expectedPid,
  });
  const killed = r.killed as Record<string, number>;
  assert.deepEqual(killed, {
    pid: killed.expectedPid,
    status: 128 + 9,
    signal: 9,
    expectedPid: killed.expectedPid,
  });
  assert.equal(r.missingBinary, 'ENOENT');
  const orphan = r.orphan as Record<string, unknown>;
  assert.equal(orphan.pid, orphan.expectedPid);
  assert.equal(orphan.status, 42);
  assert.equal(orphan.exitedBeforeWaitFor, true, 'the orphan had exited before waitFor');
  assert.equal(orphan.claimed, 1, 'waitFor took it from the recent-exits table');
  assert.deepEqual((r.execFile as Record<string, unknown>).events, [
    'exit:3',
    'callback',
    'close:3',
  ]);
  assert.equal((r.execFile as Record<string, unknown>).stdout, 'hello\n');
  assert.equal((r.execFile as Record<string, unknown>).code, 3);
  assert.equal(r.execFileSync, 'sync\n');
  assert.deepEqual(r.cpSignal, { code: null, signal: 'SIGKILL' });
  assert.equal(r.noiseOk, true, 'addon-spawned children exiting meanwhile');
  assert.deepEqual(r.stolen, [], 'the monitor reported a child_process child');
  assert.deepEqual(r.zombies, []);
}

function linuxOnly(ctx: Mocha.Context): void {
  requireLinux(ctx, 'the reaper is Linux-only');
}

describe('reaper (in a child Node process)', function () {
  before(function () {
    linuxOnly(this);
  });

  it('spawnProcess statuses, waitFor after the fact, child_process alongside the reaper', async function () {
    this.timeout(60_000);
    checkBasics(await runFixture(['basics']));
  });

  it('the addon spawn (vfork-style): failures with code/errno/syscall, fd layout, env, signals reset, session, exits via the monitor, nothing left', async function () {
    this.timeout(60_000);
    const r = await runFixture(['spawn'], SPAWN_FIXTURE);
    assert.deepEqual(r.missing, {
      code: 'ENOENT',
      errno: -2,
      syscall: 'execve',
      path: '/nonexistent/program',
    });
    assert.deepEqual(r.notExecutable, {
      code: 'EACCES',
      errno: -13,
      syscall: 'execve',
      path: '/etc/passwd',
    });
    assert.deepEqual(r.badCwd, {
      code: 'ENOENT',
      errno: -2,
      syscall: 'chdir',
      path: '/nonexistent/dir',
    });
    assert.deepEqual(r.zombiesAfterFailures, [], 'a failed spawn left a child');
    assert.deepEqual(r.layout, ['0', '1', '2', '3'], 'the child has exactly the fds given');
    assert.equal(r.via3, 'via3\n');
    assert.equal(r.env, 'A=1\nB=two words\n');
    assert.deepEqual(r.inheritedEnv, ['NATIVE_SPAWN_FIXTURE=inherited']);
    assert.deepEqual(r.signals, {
      blocked: '0000000000000000',
      ignored: '0000000000000000',
      caught: '0000000000000000',
    });
    assert.deepEqual(r.session, { sameAsParent: true, setsidIsOwn: true });
    assert.deepEqual(r.exits, [
      { status: 7, signal: 0 },
      { status: 137, signal: 9 },
    ]);
    assert.equal(r.manyOk, true, '50 concurrent children: each exit to its own subscriber');
    assert.deepEqual(r.zombies, []);
    assert.deepEqual(r.fdsLeaked, []);
  });

  it('exit storm: 2000 children, half child_process, half orphans reparented to the subreaper', async function () {
    this.timeout(STORM_TIMEOUT_MS);
    const r = await storm({ count: 2000, inFlight: 200 });
    checkStorm(r, 2000);
    logStorm('storm', r);
  });

  it('exit storm with forced reaper passes that run into libuv-owned zombies', async function () {
    this.timeout(STORM_TIMEOUT_MS);
    const r = await storm({ count: 1000, inFlight: 100, pressure: true });
    checkStorm(r, 1000);
    assert.ok(r.forcedPasses > 0);
    logStorm('storm with pressure', r);
  });

  // The lost exit of issue 15: an "orphan" that exits while its parent shell still runs is that
  // shell's child, and the shell reaps it (dash calls wait4(-1) once it has seen SIGCHLD). Holding
  // every intermediate shell until its orphan is done forces that interleaving for all of them.
  it('forced interleaving: an orphan that exits before its parent shell is the shell’s to reap (naive fixture loses every one)', async function () {
    this.timeout(STORM_TIMEOUT_MS);
    const r = await storm({ count: 40, inFlight: 40, shape: 'naive', hold: true });
    assert.equal(r.complete, true, JSON.stringify(r));
    assert.equal(r.orphans.lostToParent, 20, JSON.stringify(r.orphans));
    assert.equal((r.missing as number[]).length, 20, 'the orphans were announced, never reported');
    assert.deepEqual([r.duplicates, r.stolen, r.unexpected, r.zombies], [[], [], [], []]);
  });

  it('forced interleaving: with the lifeline an orphan cannot finish before its parent shell, every exit is ours', async function () {
    this.timeout(STORM_TIMEOUT_MS);
    const r = await storm({ count: 200, inFlight: 200, hold: true });
    checkStorm(r, 200);
  });

  describe('loaded: two CPU-bound loops beside it', function () {
    underLoad(2);

    it('basics under load', async function () {
      this.timeout(60_000);
      checkBasics(await runFixture(['basics']));
    });

    it('exit storm under load: 10,000 children, half child_process, half orphans sleeping 20-60 ms', async function () {
      this.timeout(STORM_TIMEOUT_MS);
      const r = await storm({ count: 10_000, inFlight: 400 });
      checkStorm(r, 10_000);
      logStorm('storm under load', r);
    });

    it('exit storm under load with forced reaper passes', async function () {
      this.timeout(STORM_TIMEOUT_MS);
      const r = await storm({ count: 1000, inFlight: 100, pressure: true });
      checkStorm(r, 1000);
      logStorm('storm with pressure under load', r);
    });

    it('forced interleaving under load: the lifeline holds', async function () {
      this.timeout(STORM_TIMEOUT_MS);
      checkStorm(await storm({ count: 200, inFlight: 200, hold: true }), 200);
    });
  });
});
