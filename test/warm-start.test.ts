// Warm start under a real containerd 1.6: the daemon a standby becomes is the daemon a cold start
// makes (session, cgroups, environment, cwd, OOM score, limits, signals, fds), and every fault of
// a handover ends in a correct container run with nothing left behind: a standby killed in the
// middle, two clients racing for one standby, a standby of another build, a module changed on
// disk, a foreign process listening in the pool, another uid connecting. Action servers (standbys
// that went back to waiting after an action) serve one action after another, nothing of one
// action reaches the next, an unclean action ends its process, and the daemon role never goes
// to one. Nothing here depends on timing: each case sets the pool up, waits (liveness only)
// until it is ready, and checks what the launcher's trace and /proc say.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { requireEnvironment } from './helpers/env';
import { connectAsNobody } from './helpers/raw-peer';
import { Testbed, waitGone } from './helpers/testbed';
import {
  alive,
  autogroupOf,
  pools,
  prewarm,
  readySockets,
  serverSockets,
  socketPid,
  traceLines,
  waitNoStandbys,
  waitReady,
  waitSettled,
} from './helpers/warm';

const top = path.resolve(__dirname, '..', '..');
const OURS = path.join(top, 'examples', 'runc-shim', 'containerd-shim-runcts-v2');
const POOL = 3;

let seq = 0;
const name = (label: string): string => `warm-${label}-${process.pid}-${++seq}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Boots the pool of `binary` under the testbed's environment; waits for `n` ready. */
async function ready(tb: Testbed, n = POOL, binary = OURS): Promise<string> {
  const pool = prewarm(binary, tb.env);
  await waitReady(pool, n);
  return pool;
}

/** Trace lines about start, delete and the daemon since `from` (a line count). */
function actions(tb: Testbed, from: number): string[] {
  return traceLines(tb.warmLog)
    .slice(from)
    .filter((l) => /^(start|delete|daemon|flags) /.test(l));
}

/** Trace lines as written ("<time> pid=<pid> <what>"). */
function rawTrace(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Waits (liveness only) until the trace has a line matching `re` after line `from`. */
async function traceHas(file: string, from: number, re: RegExp): Promise<string> {
  const until = Date.now() + 60_000;
  for (;;) {
    const found = rawTrace(file)
      .slice(from)
      .find((l) => re.test(l));
    if (found !== undefined) return found;
    if (Date.now() > until) assert.fail(`no trace line ${re}: ${traceLines(file).slice(from)}`);
    await sleep(20);
  }
}

/** The standby pids the trace says took work ("... warm standby=<pid> ..."). */
function servedBy(lines: string[]): number[] {
  return lines.flatMap((l) => {
    const m = / warm standby=(\d+)/.exec(l);
    return m ? [Number(m[1])] : [];
  });
}

/** Waits (liveness only) until `pid` waits in `pool` as an action server. */
async function waitServer(pool: string, pid: number): Promise<void> {
  const until = Date.now() + 60_000;
  while (!serverSockets(pool).map(socketPid).includes(pid)) {
    if (Date.now() > until) assert.fail(`${pid} is no action server: ${fs.readdirSync(pool)}`);
    await sleep(20);
  }
}

/** Waits (liveness only) until `pool` boots nothing (no b-... marker). */
async function waitBooted(pool: string): Promise<void> {
  const until = Date.now() + 120_000;
  while (fs.readdirSync(pool).some((n) => n.startsWith('b-'))) {
    if (Date.now() > until) assert.fail(`${pool} keeps booting`);
    await sleep(50);
  }
}

const PROBE_ID = 'io.containerd.probe.v1';

/**
 * A shim whose `delete` writes what it sees to $PROBE_OUT (its pid, a variable an earlier
 * action set, cwd, umask, exitCode, argv), then changes all of them and, as $PROBE_MODE says,
 * fails, leaves a timer, a signal handler or an open file, calls process.exit(0), or (`once`) hangs the first
 * time, after writing to stdout.
 */
function probeShim(dir: string): string {
  const entry = path.join(dir, 'probe.js');
  const binary = path.join(dir, 'containerd-shim-probe-v1');
  const sdk = JSON.stringify(path.join(top, 'dist', 'lib', 'index.js'));
  fs.writeFileSync(
    entry,
    `'use strict';
const fs = require('node:fs');
const { run } = require(${sdk});
class Probe {
  startShim() { return 'unix:///nowhere'; }
  async deleteShim() {
    fs.writeFileSync(process.env.PROBE_OUT, JSON.stringify({
      pid: process.pid, leak: process.env.PROBE_LEAK ?? null, cwd: process.cwd(),
      umask: process.umask(), exitCode: process.exitCode ?? null, argv: process.argv.slice(2),
    }));
    process.env.PROBE_LEAK = 'set by ' + process.pid;
    process.chdir('/tmp');
    process.umask(0o077);
    process.exitCode = 7;
    const mode = process.env.PROBE_MODE;
    if (mode === 'fail') throw new Error('probe failed');
    if (mode === 'timer') setTimeout(() => undefined, 3600000);
    if (mode === 'listener') process.on('SIGHUP', () => undefined);
    if (mode === 'fd') fs.openSync(process.env.PROBE_OUT, 'r');
    if (mode === 'exit') process.exit(0);
    if (mode === 'once' && !fs.existsSync(process.env.PROBE_OUT + '.blocked')) {
      // The first attempt writes some output, then hangs (until killed); a rerun completes.
      fs.writeFileSync(process.env.PROBE_OUT + '.blocked', String(process.pid));
      fs.writeSync(1, 'partial output of the first attempt\\n');
      await new Promise(() => setInterval(() => undefined, 1000));
    }
    return {};
  }
  wait() { return new Promise(() => undefined); }
  createTaskService() { throw new Error('not serving'); }
}
void run(${JSON.stringify(PROBE_ID)}, Probe);
`,
  );
  const r = spawnSync(
    process.execPath,
    [path.join(top, 'bin', 'containerd-shim'), 'package', entry, '-o', binary],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return binary;
}

interface ProbeRun {
  status: number | null;
  stdout: string;
  stderr: string;
  report: { pid: number; leak: string | null; cwd: string; umask: number; exitCode: unknown };
}

async function settle(tb: Testbed): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const left = await tb.leftovers();
    if (left.shims.length + left.mounts.length + left.sockets.length + left.bundles.length === 0)
      return;
    if (Date.now() > until) assert.fail(`leftovers: ${JSON.stringify(left)}`);
    await sleep(100);
  }
}

/**
 * Nothing of a handover may stay in a pool: only ready sockets (fresh standbys' and action
 * servers'), booting markers, the lock, the recent demand (d-/m- markers, bounded by
 * CONTAINERD_SHIM_WARM_MAX), the latest action server's claim (one u- marker; two racing
 * launchers may each leave one for a moment) and the boot cache (its temporary file only while
 * its writer lives); a socket being published (t-<pid>) only while its standby lives.
 */
function assertPoolClean(root: string): void {
  for (const pool of pools(root)) {
    // A file a live process is writing: the boot cache's temporary file, or the socket a standby
    // binds before it publishes it (t-<pid>, renamed to s-/a- once it listens).
    const writing = (n: string): boolean => {
      const m = /^(?:boot-cache\.|t-)(\d+)$/.exec(n);
      return m !== null && alive(Number(m[1]));
    };
    const junk = fs
      .readdirSync(pool)
      .filter(
        (n) => !/^(s-|a-|b-|[dmu]-[0-9a-f]{16}-\d+$|lock$|boot-cache$)/.test(n) && !writing(n),
      );
    assert.deepEqual(junk, [], `stray entries in ${pool}`);
    const uses = fs.readdirSync(pool).filter((n) => n.startsWith('u-'));
    assert.ok(uses.length <= 2, `use markers: ${uses.join(' ')}`);
    const demand = fs.readdirSync(pool).filter((n) => /^[dm]-/.test(n));
    assert.ok(demand.length <= 17, `demand markers beyond the cap (16 + 1): ${demand.length}`);
    for (const s of [...readySockets(pool), ...serverSockets(pool)]) {
      assert.ok(alive(socketPid(s)), `${s} belongs to a live standby`);
    }
  }
}

async function runRm(tb: Testbed, id: string, runtime = OURS): Promise<void> {
  const r = await tb.ctr(['run', '--rm', '--runtime', runtime, tb.image, id, 'echo', `hi ${id}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `hi ${id}\n`);
}

/** The shim serving container `id` (its cmdline has `-id <id>`). */
function shimOf(tb: Testbed, id: string): number {
  for (const pid of tb.findShims()) {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv[argv.indexOf('-id') + 1] === id) return pid;
  }
  throw new Error(`no shim for ${id}`);
}

/** What a process looks like from outside, with its container id made generic. */
function portrait(pid: number, id: string): Record<string, unknown> {
  const read = (f: string): string => fs.readFileSync(`/proc/${pid}/${f}`, 'utf8');
  // The container id, and the per-run directory of ctr's FIFOs.
  const generic = (s: string): string =>
    s
      .split(id)
      .join('<id>')
      .replace(/\/fifo\/\d+\//g, '/fifo/<n>/');
  const stat = read('stat');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3
  const status = Object.fromEntries(
    read('status')
      .split('\n')
      .map((l) => l.split(':\t'))
      .filter((kv) => kv.length === 2),
  ) as Record<string, string>;
  const fdKind = (fd: string): string => {
    try {
      return generic(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)).replace(/:\[\d+\]$/, '');
    } catch {
      return 'closed meanwhile';
    }
  };
  const fds = fs.readdirSync(`/proc/${pid}/fd`).map(Number);
  return {
    exe: fs.readlinkSync(`/proc/${pid}/exe`),
    comm: read('comm'),
    cmdline: generic(read('cmdline')).split('\0'),
    environ: read('environ').split('\0').sort(),
    cwd: generic(fs.readlinkSync(`/proc/${pid}/cwd`)),
    session: { leader: Number(f[3]) === pid, group: Number(f[2]) === pid, tty: f[4] },
    parent: Number(f[1]),
    scheduling: { nice: f[16], policy: f[38], rtPriority: f[37] },
    // Every thread's, not only the main one's: a standby booted at SCHED_IDLE, nice 19.
    threadScheduling: [
      ...new Set(
        fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
          try {
            const t = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
            const g = t.slice(t.lastIndexOf(')') + 2).split(' ');
            return [`policy=${g[38]} nice=${g[16]} rt=${g[37]}`];
          } catch {
            return []; // the thread ended meanwhile
          }
        }),
      ),
    ],
    // Its session's scheduling group (a new session's is at 0; a boot's is lowered to 19).
    autogroupNice: autogroupOf(pid),
    cgroup: read('cgroup'),
    oomScoreAdj: read('oom_score_adj'),
    limits: read('limits'),
    status: Object.fromEntries(
      [
        'Umask',
        'Uid',
        'Gid',
        'Groups',
        'SigBlk',
        'SigIgn',
        'SigCgt',
        'CapEff',
        'CapBnd',
        'NoNewPrivs',
        'Seccomp',
        'Cpus_allowed_list',
        'Threads',
      ].map((k) => [k, status[k]]),
    ),
    stdio: ['0', '1', '2', '3'].map(fdKind),
    // The daemon's own fds (the container's stdio FIFOs come and go with ctr and CloseIO).
    fdKinds: fds
      .filter((fd) => fd > 3)
      .map((fd) => fdKind(String(fd)))
      .filter((kind) => !kind.includes('/fifo/') && kind !== 'closed meanwhile')
      .sort(),
  };
}

/**
 * A new cgroup in the v1 `pids` hierarchy and in the cgroup2 one (whichever exist), each with
 * the cgroup this process is in there (`home`), to move standbys away and back.
 */
function testCgroups(leaf: string): { dir: string; home: string }[] {
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' - '))
    .filter((p) => p.length === 2)
    .map(([head, tail]) => ({ point: head!.split(' ')[4]!, fields: tail!.split(' ') }));
  const out: { dir: string; home: string }[] = [];
  const v1 = mounts.find(
    (m) => m.fields[0] === 'cgroup' && m.fields[2]!.split(',').includes('pids'),
  );
  const pidsPath = own.find((l) => /^\d+:pids:/.test(l))?.split(':')[2];
  if (v1 && pidsPath !== undefined) {
    out.push({ dir: path.join(v1.point, leaf), home: path.join(v1.point, pidsPath) });
  }
  const v2 = mounts.find((m) => m.fields[0] === 'cgroup2');
  const unifiedPath = own.find((l) => l.startsWith('0::'))?.slice(3);
  if (v2 && unifiedPath !== undefined) {
    out.push({ dir: path.join(v2.point, leaf), home: path.join(v2.point, unifiedPath) });
  }
  return out;
}

describe('warm start under containerd', function () {
  this.timeout(300_000);
  let tb: Testbed;
  let mark = 0;

  before(async function () {
    requireEnvironment(
      this,
      { commands: ['containerd', 'ctr', 'runc'], root: true, files: ['/bin/busybox'] },
      'apt-get install containerd runc busybox-static; run as root',
    );
    tb = await Testbed.start({
      namespace: 'warm',
      env: { CONTAINERD_SHIM_WARM_POOL: String(POOL), CONTAINERD_SHIM_WARM_IDLE_MS: '600000' },
    });
  });

  after(async () => {
    await tb?.destroy();
  });

  beforeEach(() => {
    if (tb) mark = traceLines(tb.warmLog).length;
  });

  afterEach(async () => {
    if (!tb) return;
    await settle(tb);
    assertPoolClean(tb.warmRoot);
  });

  it('a daemon taken over by a standby is the daemon a cold start makes', async () => {
    // Cold first: a pool root that is not private (0755) is never used.
    fs.mkdirSync(tb.warmRoot, { recursive: true, mode: 0o700 });
    fs.chmodSync(tb.warmRoot, 0o755);
    const cold = name('cold');
    assert.equal(
      (await tb.ctr(['run', '-d', '--runtime', OURS, tb.image, cold, 'sleep', '300'])).code,
      0,
    );
    fs.chmodSync(tb.warmRoot, 0o700);
    assert.match(actions(tb, mark).join('\n'), /^start cold: .* not used$/m);
    assert.equal(tb.standbys().length, 0, 'nothing boots in a pool that is not private');

    // The standbys that will take the work live elsewhere: another cgroup, another OOM score.
    const pool = await ready(tb);
    const standbys = readySockets(pool).map(socketPid);
    const cgroups = testCgroups(`warm-test-${process.pid}`);
    for (const { dir } of cgroups) {
      fs.mkdirSync(dir);
      for (const pid of standbys) fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    }
    for (const pid of standbys) fs.writeFileSync(`/proc/${pid}/oom_score_adj`, '321');
    // And other soft limits (raising a hard one back would need CAP_SYS_RESOURCE): the daemon's
    // must be the requester's all the same.
    for (const pid of standbys) {
      const r = spawnSync('prlimit', ['--pid', String(pid), '--nofile=512:', '--core=1024:'], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
    }

    const from = traceLines(tb.warmLog).length;
    const warm = name('warm');
    assert.equal(
      (await tb.ctr(['run', '-d', '--runtime', OURS, tb.image, warm, 'sleep', '300'])).code,
      0,
    );
    const lines = actions(tb, from);
    assert.match(lines.join('\n'), /^start warm standby=\d+ status=0$/m);
    assert.match(lines.join('\n'), /^daemon warm standby=\d+$/m);
    const daemon = shimOf(tb, warm);
    assert.ok(standbys.includes(daemon), 'the daemon is one of the prepared standbys');

    try {
      assert.deepEqual(portrait(daemon, warm), portrait(shimOf(tb, cold), cold));
    } finally {
      for (const id of [cold, warm]) {
        await tb.ctr(['tasks', 'rm', '-f', id]); // kills, waits for the exit, deletes
        await tb.ctr(['container', 'delete', id]);
      }
      await settle(tb);
      // The prepared standby nobody took goes back where it came from; then the cgroups go.
      for (const { dir, home } of cgroups) {
        for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
          if (pid !== '') fs.writeFileSync(path.join(home, 'cgroup.procs'), pid);
        }
        fs.rmdirSync(dir);
      }
    }
  });

  it('a daemon from a standby that rehearsed the serving path (CONTAINERD_SHIM_WARM_WARMUP=1) is the daemon a cold start makes', async () => {
    tb.env.CONTAINERD_SHIM_WARM_WARMUP = '1';
    const [cold, warm] = [name('cold'), name('rehearsed')];
    try {
      await tb.restart();
      fs.mkdirSync(tb.warmRoot, { recursive: true, mode: 0o700 });
      fs.chmodSync(tb.warmRoot, 0o755); // not private: not used, the start is cold
      const c = await tb.ctr(['run', '-d', '--runtime', OURS, tb.image, cold, 'sleep', '300']);
      fs.chmodSync(tb.warmRoot, 0o700);
      assert.equal(c.code, 0, c.stderr);
      await ready(tb);
      const from = traceLines(tb.warmLog).length;
      const w = await tb.ctr(['run', '-d', '--runtime', OURS, tb.image, warm, 'sleep', '300']);
      assert.equal(w.code, 0, w.stderr);
      assert.match(actions(tb, from).join('\n'), /^daemon warm standby=\d+$/m);
      // Nothing of the rehearsal (its sockets, the shim's warmup) shows in the daemon.
      assert.deepEqual(portrait(shimOf(tb, warm), warm), portrait(shimOf(tb, cold), cold));
    } finally {
      for (const id of [cold, warm]) {
        await tb.ctr(['tasks', 'rm', '-f', id]);
        await tb.ctr(['container', 'delete', id]);
      }
      delete tb.env.CONTAINERD_SHIM_WARM_WARMUP;
      await tb.restart();
    }
  });

  it('a daemon started cold boots from the boot cache (read-only) and shows nothing of it', async () => {
    // Every daemon handover fails (the standby dies with the request): the daemon starts cold,
    // from a `start` that knows the pool, whose standbys wrote the cache.
    tb.env.CONTAINERD_SHIM_WARM_FAULT = 'request:daemon';
    const id = name('cold-cached');
    try {
      await tb.restart();
      const pool = await ready(tb);
      assert.ok(fs.existsSync(path.join(pool, 'boot-cache')), 'the standbys wrote a boot cache');
      const from = traceLines(tb.warmLog).length;
      const raw = rawTrace(tb.warmLog).length;
      const r = await tb.ctr(['run', '-d', '--runtime', OURS, tb.image, id, 'sleep', '300']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(actions(tb, from).join('\n'), /^daemon cold: standby \d+ died/m);
      const daemon = shimOf(tb, id);
      await traceHas(
        tb.warmLog,
        raw,
        new RegExp(
          `pid=${daemon} cold boot cache used: [1-9]\\d* modules from it \\([1-9]\\d* sources mapped\\), .*not written \\(read-only\\)$`,
        ),
      );
      // What containerd passed and serveCommand() added, nothing of the launcher's: in
      // process.env (the container's runc inherits it) and in /proc.
      const environ = fs.readFileSync(`/proc/${daemon}/environ`, 'utf8').split('\0');
      assert.deepEqual(
        environ.filter((e) => e.startsWith('__CONTAINERD_SHIM')),
        [],
        'no variable of the launcher in the daemon',
      );
      assert.ok(environ.includes('CONTAINERD_SHIM_WARM_FAULT=request:daemon'), 'its environment');
      const argv = fs.readFileSync(`/proc/${daemon}/cmdline`, 'utf8').split('\0');
      assert.equal(argv[argv.indexOf('-id') + 1], id, 'its command line');
      const running = await tb.ctr(['tasks', 'ls']);
      assert.match(running.stdout, new RegExp(`${id}\\s+\\d+\\s+RUNNING`));
    } finally {
      await tb.ctr(['tasks', 'rm', '-f', id]);
      await tb.ctr(['container', 'delete', id]);
      delete tb.env.CONTAINERD_SHIM_WARM_FAULT;
      await tb.restart();
    }
  });

  it("a daemon re-makes the boot cache with the serving path's code; later standbys boot from it", async () => {
    // A fresh cache without serving code: the standby booted next writes it, those after use it.
    const pool = await ready(tb);
    fs.rmSync(path.join(pool, 'boot-cache'), { force: true });
    const raw = rawTrace(tb.warmLog).length;
    const wrote = /serving code cache: wrote \d+ bytes$/;
    const servingBoot = /pid=(\d+) standby boot cache used: .*; serving code$/;
    // Each container's daemon is a standby; its replacement boots from the cache. The first
    // daemon from a standby that booted from it (not one that wrote it) re-makes it once it served.
    for (
      let i = 0;
      i < 2 * POOL + 2 &&
      !rawTrace(tb.warmLog)
        .slice(raw)
        .some((l) => wrote.test(l));
      i++
    )
      await runRm(tb, name('serving'));
    await traceHas(tb.warmLog, raw, wrote);
    const data = fs.readFileSync(path.join(pool, 'boot-cache'));
    const header = JSON.parse(data.toString('utf8', 28, 28 + data.readUInt32LE(24))) as {
      serving?: boolean;
    };
    assert.equal(header.serving, true);
    assert.equal(fs.statSync(path.join(pool, 'boot-cache')).mode & 0o777, 0o600);
    // A standby booted after it boots from it whole (V8 took every code cache: nothing compiled)
    // and serves. The standbys booting while it was written (the pool refills in the background
    // as the run that wrote it ends) may have read the cache before: only runs that take
    // standbys make the boots that must see it.
    for (let i = 0; i < 3 * POOL + 3; i++) {
      const from = traceLines(tb.warmLog).length;
      await runRm(tb, name('from-serving'));
      const daemon = /^daemon warm standby=(\d+)$/m.exec(actions(tb, from).join('\n'))?.[1];
      const boots = rawTrace(tb.warmLog).filter((l) => l.includes(`pid=${daemon} standby boot`));
      if (boots.some((l) => servingBoot.test(l))) {
        assert.match(boots.join('\n'), / 0 compiled, .* 0 made; /);
        break;
      }
      assert.ok(
        i < 3 * POOL + 2,
        `no daemon from a standby booted from the serving cache:\n${rawTrace(tb.warmLog).slice(raw).join('\n')}`,
      );
    }
  });

  it('a standby SIGKILLed while it holds the request: the action runs cold, correctly', async () => {
    tb.env.CONTAINERD_SHIM_WARM_FAULT = 'request';
    try {
      await tb.restart();
      await ready(tb);
      await runRm(tb, name('killed'));
      const lines = actions(tb, mark);
      assert.match(lines.join('\n'), /^start cold after warm attempt: standby \d+ died/m);
      assert.match(lines.join('\n'), /^daemon cold: standby \d+ died before answering$/m);
      // (the daemon deleted the container: its receipt answers the delete, no standby needed)
      assert.match(lines.join('\n'), /^delete receipt: answered without node$/m);
      assert.deepEqual(servedBy(lines), []);
      // A delete with no receipt (its daemon died, say) goes to a standby, and cold after it.
      await ready(tb);
      const bundle = fs.mkdtempSync(path.join(tb.dir, 'no-receipt-'));
      const from = traceLines(tb.warmLog).length;
      const r = spawnSync(OURS, ['-namespace', 'default', '-id', 'gone', 'delete'], {
        cwd: bundle,
        env: { ...process.env, ...tb.env },
        encoding: 'latin1',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        actions(tb, from).join('\n'),
        /^delete cold after warm attempt: standby \d+ died before answering$/m,
      );
    } finally {
      delete tb.env.CONTAINERD_SHIM_WARM_FAULT;
      await tb.restart();
    }
  });

  it('a standby SIGKILLed after its action, before the status: the action is run again, cold', async () => {
    tb.env.CONTAINERD_SHIM_WARM_FAULT = 'result:action';
    try {
      await tb.restart();
      await ready(tb);
      await runRm(tb, name('rerun'));
      const lines = actions(tb, mark).join('\n');
      // start ran twice (the second finds the daemon the first handed over, and reuses it)
      assert.match(lines, /^start cold after warm attempt: standby \d+ died before answering$/m);
      assert.match(lines, /^daemon warm standby=\d+$/m);
      assert.match(lines, /^delete receipt: answered without node$/m);
    } finally {
      delete tb.env.CONTAINERD_SHIM_WARM_FAULT;
      await tb.restart();
    }
  });

  it('clients racing for standbys: each gets its own, and no daemon ran an action', async () => {
    await ready(tb);
    // Ten containers at once against three standbys, and ten -v of the launcher at once.
    const ids = Array.from({ length: 10 }, (_, i) => name(`race${i}`));
    await Promise.all(ids.map((id) => runRm(tb, id)));
    const env = { ...process.env, ...tb.env };
    const versions = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<string>((resolve) => {
            const child = spawn(OURS, ['-v'], { env });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.on('close', (code) => resolve(`${code} ${out}`));
          }),
      ),
    );
    for (const v of versions) assert.match(v, /^0 io\.containerd\.runcts\.v2:\n {2}Version: /);
    const lines = actions(tb, mark);
    assert.ok(servedBy(lines).length >= 1, 'some of them found a standby');
    // An action server serves one client after another; a daemon is a fresh standby, taken once.
    const daemons = servedBy(lines.filter((l) => l.startsWith('daemon ')));
    const actionPids = new Set(servedBy(lines.filter((l) => !l.startsWith('daemon '))));
    assert.equal(new Set(daemons).size, daemons.length, `a standby became two daemons: ${lines}`);
    for (const pid of daemons) assert.ok(!actionPids.has(pid), `${pid} ran an action: ${lines}`);
  });

  it('standbys of another build never get work: an upgraded binary, a socket moved in, a changed module', async () => {
    const dir = fs.mkdtempSync(path.join(tb.dir, 'build-'));
    const dep = path.join(dir, 'dep.js');
    const entry = path.join(dir, 'entry.js');
    const binary = path.join(dir, 'containerd-shim-upgraded-v2');
    fs.writeFileSync(dep, 'module.exports = 1;\n');
    fs.writeFileSync(
      entry,
      `require('./dep.js');\nrequire(${JSON.stringify(path.join(top, 'dist', 'examples', 'runc-shim', 'main.js'))});\n`,
    );
    const packageShim = (): void => {
      const r = spawnSync(
        process.execPath,
        [path.join(top, 'bin', 'containerd-shim'), 'package', entry, '-o', binary],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
    };
    packageShim();
    const oldPool = await ready(tb, POOL, binary);
    // One run leaves an action server (the standby that ran its start).
    await runRm(tb, name('before'), binary);
    const server = serverSockets(oldPool).map(socketPid);
    assert.equal(server.length, 1, `one action server: ${fs.readdirSync(oldPool)}`);
    await waitReady(oldPool, POOL);
    const old = [...readySockets(oldPool).map(socketPid), ...server];

    // 1. A module the standbys loaded changes: they answer "stale", exit, and the run is cold;
    // the action server too (it is checked at every reuse).
    fs.writeFileSync(dep, 'module.exports = 2;\n');
    const changedFrom = traceLines(tb.warmLog).length;
    await runRm(tb, name('changed'), binary);
    assert.match(
      actions(tb, changedFrom).join('\n') + `\n(trace: ${rawTrace(tb.warmLog).join('\n')})`,
      new RegExp(`pid ${server[0]}: stale \\(its modules changed on disk\\)`),
    );
    // (standbys booted after the change load the new module and may serve)
    assert.deepEqual(
      servedBy(actions(tb, changedFrom)).filter((p) => old.includes(p)),
      [],
    );
    // They exit (the pool refills with standbys that loaded the new module).
    assert.deepEqual(await waitGone(old, 60_000), [], 'stale standbys exit');

    // 2. The binary is upgraded in place: a new build identity, a new pool.
    packageShim();
    const newPool = await ready(tb, POOL, binary);
    assert.notEqual(newPool, oldPool);
    const current = readySockets(newPool).map(socketPid);

    // 3. A standby of the old build is moved into the new pool, ahead of the others.
    const otherPool = await ready(tb, 1, OURS);
    const foreign = readySockets(otherPool)[0]!;
    const foreignPid = socketPid(foreign);
    fs.renameSync(
      path.join(otherPool, foreign),
      path.join(newPool, `s-0000000000000000-${foreignPid}`),
    );
    const from = traceLines(tb.warmLog).length;
    await runRm(tb, name('upgraded'), binary);
    const lines = actions(tb, from);
    assert.match(lines.join('\n'), new RegExp(`pid ${foreignPid} is not a standby of this pool`));
    for (const pid of servedBy(lines))
      assert.ok(current.includes(pid), `pid ${pid} is of this build`);
    // The moved standby saw its claimer go away and exited.
    assert.deepEqual(await waitGone([foreignPid], 60_000), [], "the other build's standby exited");
  });

  it('a foreign process listening in the pool gets nothing', async () => {
    const pool = await ready(tb);
    let received = 0;
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.on('data', (d) => (received += d.length));
      socket.on('error', () => undefined);
    });
    // Named like a standby, with our own pid (what SO_PEERCRED will report), oldest of all.
    const file = path.join(pool, `s-0000000000000000-${process.pid}`);
    await new Promise<void>((resolve) => server.listen(file, resolve));
    try {
      await runRm(tb, name('foreign'));
      const lines = actions(tb, mark);
      assert.match(
        lines.join('\n'),
        new RegExp(`pid ${process.pid} is not a standby of this pool`),
      );
      assert.ok(connections <= 1, 'claimed once: a claim uses the name up');
      assert.equal(received, 0, 'no byte of a request reached it');
    } finally {
      server.close();
      fs.rmSync(file, { force: true });
    }
  });

  it('a stale standby that answered and exited before it was checked is named stale, not foreign', async () => {
    const pool = await ready(tb);
    // A boot still under way would refill the pool once ready, and its top-up sweeps sockets
    // whose pid is gone, as the fake's below is: plant it once none is. Raised out of the idle
    // cpu cgroup: beside busy loops a background boot gets next to no CPU (80 s seen).
    await waitSettled(pool, 120_000, true);
    // What a busy machine makes of a stale standby: it answers "stale" the moment it accepts and
    // exits, before the claimer reads its /proc/<pid>/environ. Here the process that listened
    // (the pid SO_PEERCRED reports) is gone before the claim, and a child it forked answers.
    const fake = `
import os, socket, struct, sys
pool = sys.argv[1]
pid = os.getpid()
name = os.path.join(pool, 's-0000000000000000-%d' % pid)
s = socket.socket(socket.AF_UNIX)
s.bind(name + '.t')
s.listen(1)
os.rename(name + '.t', name)
child = os.fork()
if child == 0:
    null = os.open('/dev/null', os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    c, _ = s.accept()
    c.sendall(struct.pack('<IHHII', 0x48575343, 1, 1, pid, len(pool)) + pool.encode())
    c.recv(1)
    os._exit(0)
print(pid, child, flush=True)
`;
    const r = spawnSync('python3', ['-c', fake, pool], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [listened, answering] = r.stdout.trim().split(' ').map(Number) as [number, number];
    try {
      assert.ok(!fs.existsSync(`/proc/${listened}`), 'the listening process is gone');
      await runRm(tb, name('exited'));
      const lines = actions(tb, mark).join('\n');
      assert.match(lines, new RegExp(`pid ${listened}: stale \\(its modules changed on disk\\)`));
      assert.doesNotMatch(lines, new RegExp(`pid ${listened} is not a standby`));
      assert.deepEqual(
        await waitGone([answering], 10_000),
        [],
        'its answer was read and it was let go',
      );
    } finally {
      try {
        process.kill(answering, 'SIGKILL');
      } catch {
        // already gone
      }
      for (const f of fs.readdirSync(pool))
        if (f.endsWith(`-${listened}`)) fs.rmSync(path.join(pool, f), { force: true });
    }
  });

  it('another uid can neither reach a standby nor, with the directory opened up, be served by it', async () => {
    const pool = await ready(tb);
    const target = readySockets(pool)[0]!;
    const socket = path.join(pool, target);
    assert.match(await connectAsNobody(socket, '00'), /^error EACCES$/);

    // Misconfigured permissions: the standby's own check refuses the peer, and no launcher
    // uses a pool root that others can enter.
    const modes = [tb.dir, tb.warmRoot, pool].map((d) => [d, fs.statSync(d).mode & 0o777] as const);
    for (const [d] of modes) fs.chmodSync(d, 0o711);
    fs.chmodSync(socket, 0o777);
    try {
      // Refused: closed before any HELLO (the write may see the close first).
      assert.match(await connectAsNobody(socket, '00'), /^(closed|error EPIPE|error ECONNRESET)$/);
      await runRm(tb, name('opened'));
      assert.match(actions(tb, mark).join('\n'), /^start cold: .* not used$/m);
    } finally {
      for (const [d, mode] of modes) fs.chmodSync(d, mode);
      fs.chmodSync(socket, 0o600);
    }
    // The standby that refused the stranger is still there and serves the next start.
    const from = traceLines(tb.warmLog).length;
    await runRm(tb, name('after'));
    assert.ok(fs.existsSync(socket) || servedBy(actions(tb, from)).includes(socketPid(target)));
    assert.match(actions(tb, from).join('\n'), /^start warm standby=/m);
  });

  it('one action server serves every start, the daemons leave receipts for every delete; the daemon role never goes to it', async () => {
    const pool = await ready(tb);
    const from = traceLines(tb.warmLog).length;
    for (let i = 0; i < 3; i++) await runRm(tb, name(`seq${i}`));
    const lines = actions(tb, from);
    const acts = lines.filter((l) => /^start /.test(l));
    assert.equal(acts.length, 3, lines.join('\n'));
    assert.equal(
      lines.filter((l) => l === 'delete receipt: answered without node').length,
      3,
      lines.join('\n'),
    );
    const servers = new Set(servedBy(acts));
    assert.equal(servers.size, 1, `one process ran every action: ${lines.join('\n')}`);
    assert.ok(
      acts.slice(1).every((l) => l.endsWith(' (action server)')),
      `after the first action, an action server: ${lines.join('\n')}`,
    );
    const daemons = servedBy(lines.filter((l) => l.startsWith('daemon ')));
    assert.equal(new Set(daemons).size, 3, `three fresh daemons: ${lines.join('\n')}`);
    const [server] = [...servers] as [number];
    assert.ok(!daemons.includes(server));

    // Only the action server is left (the fresh standbys are killed, nothing boots): the
    // daemon is started cold rather than by it.
    await waitServer(pool, server);
    await waitReady(pool, POOL);
    await waitBooted(pool);
    const fresh = readySockets(pool);
    for (const sock of fresh) process.kill(socketPid(sock), 'SIGKILL');
    assert.deepEqual(await waitGone(fresh.map(socketPid), 60_000), []);
    // (what the next top-up's sweep would do)
    for (const sock of fresh) fs.rmSync(path.join(pool, sock), { force: true });
    const id = name('nofresh');
    const from2 = traceLines(tb.warmLog).length;
    try {
      const r = await tb.ctr(['run', '-d', '--runtime', OURS, tb.image, id, 'sleep', '300']);
      assert.equal(r.code, 0, r.stderr);
      const text = actions(tb, from2).join('\n');
      assert.match(
        text,
        new RegExp(`^start warm standby=${server} status=0 \\(action server\\)`, 'm'),
      );
      assert.match(text, /^daemon cold: /m);
      assert.notEqual(shimOf(tb, id), server);
      assert.ok(alive(server));
    } finally {
      await tb.ctr(['tasks', 'rm', '-f', id]);
      await tb.ctr(['container', 'delete', id]);
    }
  });

  describe('what an action server keeps between actions', () => {
    let probe: string;
    let dir: string;

    before(() => {
      dir = fs.mkdtempSync(path.join(tb.dir, 'probe-'));
      probe = probeShim(dir);
    });

    /** `probe delete` in `dir` with $PROBE_MODE `mode` (warm unless `cold`). */
    function runProbe(mode: string, cold = false): ProbeRun {
      const out = path.join(dir, 'report.json');
      fs.rmSync(out, { force: true });
      const r = spawnSync(probe, ['-namespace', 'probe', '-id', 'p', 'delete'], {
        cwd: dir,
        env: {
          ...process.env,
          ...tb.env,
          PROBE_OUT: out,
          PROBE_MODE: mode,
          ...(cold ? { CONTAINERD_SHIM_WARM: '0' } : {}),
        },
        encoding: 'utf8',
      });
      return {
        status: r.status,
        stdout: r.stdout,
        stderr: r.stderr,
        report: JSON.parse(fs.readFileSync(out, 'utf8')) as ProbeRun['report'],
      };
    }

    it('one process serves action after action; environment, cwd, umask and exitCode start afresh', async () => {
      const pool = await ready(tb, 1, probe);
      const from = traceLines(tb.warmLog).length;
      const runs = ['', 'fail', '', ''].map((mode) => runProbe(mode));
      const cold = runProbe('fail', true);
      assert.deepEqual(
        runs.map((r) => r.status),
        [0, 1, 0, 0],
      );
      // A failed action prints what a cold one prints, and the process is reused all the same.
      assert.equal(cold.stderr, `${PROBE_ID}: probe failed\n`);
      assert.deepEqual([runs[1]!.stdout, runs[1]!.stderr], [cold.stdout, cold.stderr]);
      const pid = runs[0]!.report.pid;
      for (const r of runs) {
        assert.deepEqual(
          { ...r.report, pid: r.report.pid === pid },
          {
            pid: true,
            leak: null,
            cwd: dir,
            umask: cold.report.umask,
            exitCode: null,
            argv: ['-namespace', 'probe', '-id', 'p', 'delete'],
          },
        );
      }
      const lines = actions(tb, from).filter((l) => l.startsWith('delete '));
      assert.deepEqual(servedBy(lines), [pid, pid, pid, pid], lines.join('\n'));
      // Between actions it looks like a standby of its pool again: the claim's check of
      // /proc/<pid>/environ passed for each reuse; cwd is /, stdio /dev/null.
      await waitServer(pool, pid);
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      assert.ok(environ.includes(`__CONTAINERD_SHIM_STANDBY=${pool}`));
      assert.ok(!environ.some((e) => e.startsWith('PROBE_')));
      assert.equal(fs.readlinkSync(`/proc/${pid}/cwd`), '/');
      for (const fd of [0, 1, 2])
        assert.equal(fs.readlinkSync(`/proc/${pid}/fd/${fd}`), '/dev/null');
    });

    it('an action server SIGKILLed in the middle of an action: the action runs cold, nothing of the first attempt shows', async () => {
      const pool = await ready(tb, 1, probe);
      const server = runProbe('').report.pid;
      await waitServer(pool, server);
      const from = traceLines(tb.warmLog).length;
      const out = path.join(dir, 'report.json');
      fs.rmSync(`${out}.blocked`, { force: true });
      const child = spawn(probe, ['-namespace', 'probe', '-id', 'p', 'delete'], {
        cwd: dir,
        env: { ...process.env, ...tb.env, PROBE_OUT: out, PROBE_MODE: 'once' },
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const status = new Promise<number | null>((resolve) => child.on('close', resolve));
      // Liveness only: the action runs in the server and hangs there.
      const until = Date.now() + 60_000;
      while (!fs.existsSync(`${out}.blocked`)) {
        if (Date.now() > until) assert.fail('the action never started');
        await sleep(20);
      }
      assert.equal(fs.readFileSync(`${out}.blocked`, 'utf8'), String(server));
      process.kill(server, 'SIGKILL');
      assert.equal(await status, 0);
      assert.equal(stdout, runProbe('', true).stdout, "only the cold run's output");
      const report = JSON.parse(fs.readFileSync(out, 'utf8')) as ProbeRun['report'];
      assert.notEqual(report.pid, server);
      assert.match(
        actions(tb, from).join('\n'),
        new RegExp(
          `^delete cold after warm attempt: standby ${server} died before answering$`,
          'm',
        ),
      );
      assert.deepEqual(await waitGone([server], 60_000), []);
    });

    for (const [mode, why] of [
      ['timer', /left resource Timeout/],
      ['listener', /left process 'SIGHUP' listener/],
      ['fd', /left fd \d+ \/.*report\.json/],
      ['exit', undefined],
    ] as const) {
      it(`an action that ${mode === 'exit' ? 'calls process.exit()' : `leaves a ${mode}`} is not reused: its process exits`, async () => {
        const pool = await ready(tb, 1, probe);
        const from = traceLines(tb.warmLog).length;
        const run = runProbe(mode);
        const cold = runProbe(mode, true);
        assert.deepEqual(
          [run.status, run.stdout, run.stderr],
          [cold.status, cold.stdout, cold.stderr],
        );
        const pid = run.report.pid;
        assert.deepEqual(servedBy(actions(tb, from)), [pid]);
        assert.deepEqual(await waitGone([pid], 60_000), [], 'it exited');
        assert.ok(!serverSockets(pool).map(socketPid).includes(pid));
        if (why) {
          await traceHas(
            tb.warmLog,
            from,
            new RegExp(` pid=${pid} standby exits after its action: `),
          );
          assert.match(rawTrace(tb.warmLog).slice(from).join('\n'), why);
        }
      });
    }
  });

  it('idle standbys and action servers exit on their own after CONTAINERD_SHIM_WARM_IDLE_MS', async () => {
    tb.env.CONTAINERD_SHIM_WARM_IDLE_MS = '1000';
    try {
      // A pool of its own: the idle timeout is part of the build identity.
      const pool = await ready(tb, 1);
      const pids = readySockets(pool).map(socketPid);
      // Liveness bound only: they go after 1 s of idling, refills included, on a busy machine.
      assert.deepEqual(await waitNoStandbys(pool, 120_000), []);
      assert.deepEqual(pids.filter(alive), []);
      assert.deepEqual(readySockets(pool), []);

      // An action server (a standby back from its action) idles out too. Its action must find
      // a standby first: boot again until one did (a busy machine may idle them out before).
      let server = 0;
      for (let attempt = 0; attempt < 5 && server === 0; attempt++) {
        await ready(tb, 1);
        const from = traceLines(tb.warmLog).length;
        const v = spawnSync(OURS, ['-v'], { env: { ...process.env, ...tb.env } });
        assert.equal(v.status, 0);
        server = servedBy(actions(tb, from))[0] ?? 0;
        if (server !== 0)
          await traceHas(tb.warmLog, from, new RegExp(` pid=${server} standby waits again: `));
      }
      assert.notEqual(server, 0, 'an action found a standby');
      assert.deepEqual(await waitGone([server], 120_000), [], 'the action server idled out');
      assert.deepEqual(await waitNoStandbys(pool, 120_000), []);
      assert.deepEqual([...readySockets(pool), ...serverSockets(pool)], []);
    } finally {
      tb.env.CONTAINERD_SHIM_WARM_IDLE_MS = '600000';
    }
  });
});
