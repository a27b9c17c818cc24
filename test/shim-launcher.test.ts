// The shim launcher and `containerd-shim package`, without containerd: a packaged binary gives
// byte-identical stdout, stderr (apart or combined) and exit status whether a standby runs the
// action (warm) or node does (CONTAINERD_SHIM_WARM=0), for `-v`, a bad flag, `start` with
// containerd 2.3's BootstrapParams on stdin (and too much stdin) and `delete`; a launcher without
// a configuration and bad package command lines fail clearly.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, TaskClient } from '../lib';
import * as protos from '../lib/protos';
import { DELETE_RECEIPT_FILE, readDeleteReceipt, writeDeleteReceipt } from '../lib';
import { packageShim } from '../lib/shim/package';
import { MIN_SERVERS, serverLimit } from '../lib/shim/warm/standby';
import {
  autogroupOf,
  BOOT_GROUP,
  cpuCgroupDir,
  idleGroupsUsable,
  inBootGroup,
  killStandbys,
  onePoolEnv,
  pools,
  prewarm,
  readySockets,
  serverSockets,
  socketPid,
  standbyPids,
  stoppingProbe,
  traceLines,
  waitNoStandbys,
  waitReady,
} from './helpers/warm';
import { requireCondition } from './helpers/env';

const top = path.resolve(__dirname, '..', '..');
const CLI = path.join(top, 'bin', 'containerd-shim');

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

// The rule itself, on names and times given (no clock): a pool directory's demand markers
// (d-/m-<16 hex CLOCK_MONOTONIC ns>-<pid>, native/warm/pool.h) and its lock file.
describe('action servers a pool keeps: as many as its demand', () => {
  const now = 3_600_000_000_000n; // an hour of monotonic time
  const hex = (ns: bigint): string => ns.toString(16).padStart(16, '0');
  const claims = (n: number, agoMs: number, kind = 'd'): string[] =>
    Array.from(
      { length: n },
      (_, i) => `${kind}-${hex(now - BigInt(agoMs + i) * 1_000_000n)}-${100 + i}`,
    );
  const others = ['lock', 's-0000000000000001-7', 'a-0000000000000002-8', 'b-9-0', 't-10'];

  it('with N claims recorded in the last 2 s, N action servers stay; with none, 2', () => {
    assert.equal(MIN_SERVERS, 2);
    assert.equal(serverLimit(others, '', now, 16), 2);
    assert.equal(serverLimit([...others, ...claims(1, 0)], '', now, 16), 2);
    for (const n of [3, 10, 16]) {
      assert.equal(serverLimit([...others, ...claims(n, 100)], '', now, 16), n, `${n} hits`);
    }
    // Claims that missed (the cold path ran) count as much.
    const mixed = [...claims(4, 10), ...claims(3, 500, 'm')];
    assert.equal(serverLimit(mixed, '', now, 16), 7);
  });

  it('claims older than 2 s (or not yet, by this clock) do not count; CONTAINERD_SHIM_WARM_MAX caps it', () => {
    assert.equal(serverLimit(claims(10, 2_001), '', now, 16), 2);
    const future = [`d-${hex(now + 1n)}-5`, `m-${hex(now + 1_000_000n)}-6`];
    assert.equal(serverLimit([...future, ...claims(3, 1_990)], '', now, 16), 3);
    assert.equal(serverLimit(claims(12, 0), '', now, 5), 5);
    assert.equal(serverLimit(claims(12, 0), '', now, 0), 2, 'never fewer than 2');
    // Not markers: other prefixes, short or malformed times.
    const junk = [
      'x-0000000000000001-1',
      `d-${hex(now).slice(1)}-1`,
      `d-${hex(now)}`,
      `dd-${hex(now)}-1`,
    ];
    assert.equal(serverLimit([...junk, ...claims(3, 0)], '', now, 16), 3);
  });

  it('a target that demand grew keeps as many until it expires (the lock file)', () => {
    const held = (target: number, untilNs: bigint): string =>
      `${String(target).padStart(4)} ${hex(untilNs)}\n`;
    assert.equal(serverLimit(others, held(9, now + 1n), now, 16), 9);
    assert.equal(serverLimit(claims(12, 0), held(9, now + 1n), now, 16), 12);
    assert.equal(serverLimit(others, held(9, now - 1n), now, 16), 2, 'expired');
    assert.equal(serverLimit(others, held(40, now + 1n), now, 16), 16);
    assert.equal(serverLimit(others, 'garbage', now, 16), 2);
  });
});

describe('shim launcher and containerd-shim package', function () {
  this.timeout(120_000);
  let dir: string;
  let binary: string;
  let warmEnv: Record<string, string>;
  const coldEnv = { CONTAINERD_SHIM_WARM: '0' };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-launcher-'));
    binary = path.join(dir, 'containerd-shim-skeleton-v1');
    const r = spawnSync(
      process.execPath,
      [CLI, 'package', path.join(top, 'dist', 'examples', 'skeleton', 'main.js'), '-o', binary],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^.*containerd-shim-skeleton-v1: name=containerd-shim-skeleton-v1, node=/,
    );
    warmEnv = {
      CONTAINERD_SHIM_WARM_DIR: path.join(dir, 'warm'),
      CONTAINERD_SHIM_WARM_LOG: path.join(dir, 'warm.log'),
      CONTAINERD_SHIM_WARM_IDLE_MS: '600000',
      TTRPC_ADDRESS: path.join(dir, 'containerd.sock.ttrpc'),
    };
  });

  after(async () => {
    if (!dir) return;
    // Every pool root the tests made (warm, warm-cap, ...): a top-up a test's last action
    // started may still boot, and write its trace into the directory being removed.
    for (const sub of fs.readdirSync(dir, { withFileTypes: true })) {
      if (sub.isDirectory()) await killStandbys(path.join(dir, sub.name));
    }
    assert.deepEqual(standbyPids(dir), []);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function run(
    args: string[],
    env: Record<string, string>,
    opts: { cwd?: string; input?: Uint8Array } = {},
  ): Result {
    const r = spawnSync(binary, args, {
      cwd: opts.cwd,
      input: opts.input ?? Buffer.alloc(0),
      env: { ...process.env, ...warmEnv, ...env },
      encoding: 'latin1',
      timeout: 60_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs cold, then warm with a ready pool; both results, and the trace lines of the warm run. */
  async function both(
    args: string[],
    opts: { cwd?: string; input?: Uint8Array } = {},
  ): Promise<{ cold: Result; warm: Result; trace: string[] }> {
    const cold = run(args, coldEnv, opts);
    await waitReady(prewarm(binary, warmEnv), 1);
    const from = traceLines(warmEnv.CONTAINERD_SHIM_WARM_LOG!).length;
    const warm = run(args, {}, opts);
    return { cold, warm, trace: traceLines(warmEnv.CONTAINERD_SHIM_WARM_LOG!).slice(from) };
  }

  it('-v: the same output warm and cold', async () => {
    const { cold, warm, trace } = await both(['-v']);
    assert.equal(cold.status, 0);
    assert.match(cold.stdout, /^io\.containerd\.empty\.v1:\n {2}Version: /);
    assert.deepEqual(warm, cold);
    assert.match(trace.join('\n'), /^flags warm standby=\d+ status=0/m);
  });

  it('a bad flag: the same stderr and exit status, and combined output, warm and cold', async () => {
    const { cold, warm, trace } = await both(['-bogus', 'start']);
    assert.equal(cold.status, 1);
    assert.equal(cold.stderr, 'io.containerd.empty.v1: flag provided but not defined: -bogus\n');
    assert.deepEqual(warm, cold);
    assert.match(trace.join('\n'), /^start warm standby=\d+ status=1/m);

    // stdout and stderr on one pipe (containerd's CombinedOutput for start)
    const combined = (env: Record<string, string>): string => {
      const file = path.join(dir, 'combined');
      const fd = fs.openSync(file, 'w');
      spawnSync(binary, ['-v', '-bogus'], {
        env: { ...process.env, ...warmEnv, ...env },
        stdio: ['ignore', fd, fd],
      });
      fs.closeSync(fd);
      return fs.readFileSync(file, 'latin1');
    };
    const coldText = combined(coldEnv);
    await waitReady(prewarm(binary, warmEnv), 1);
    assert.equal(combined({}), coldText);
  });

  it("start with containerd 2.3's BootstrapParams on stdin: the same BootstrapResult warm and cold", async () => {
    const bundle = path.join(dir, 'bundle');
    fs.mkdirSync(bundle, { recursive: true });
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2' }));
    const grpc = path.join(dir, 'containerd.sock');
    const params = protos.bootstrap.BootstrapParams.encode({
      instanceId: 'launcher-test',
      namespace: 'default',
      containerdGrpcAddress: grpc,
      containerdTtrpcAddress: `${grpc}.ttrpc`,
      socketDir: path.join(dir, 's'),
    }).finish();
    const args = ['-namespace', 'default', '-id', 'launcher-test', '-address', grpc, 'start'];
    const cold = run(args, coldEnv, { cwd: bundle, input: params });
    assert.equal(cold.status, 0, cold.stderr);
    await stop(cold.stdout);
    await waitReady(prewarm(binary, warmEnv), 2);
    const from = traceLines(warmEnv.CONTAINERD_SHIM_WARM_LOG!).length;
    const warm = run(args, {}, { cwd: bundle, input: params });
    assert.deepEqual(warm, cold);
    const trace = traceLines(warmEnv.CONTAINERD_SHIM_WARM_LOG!).slice(from).join('\n');
    assert.match(trace, /^start warm standby=\d+ status=0/m);
    assert.match(trace, /^daemon warm standby=\d+/m);
    await stop(warm.stdout);

    // delete, and more stdin than `start` accepts
    const del = await both(
      ['-namespace', 'default', '-id', 'launcher-test', '-bundle', bundle, 'delete'],
      {
        cwd: bundle,
      },
    );
    assert.equal(del.cold.status, 0, del.cold.stderr);
    assert.deepEqual(del.warm, del.cold);
    const big = await both(args, { cwd: bundle, input: Buffer.alloc((10 << 20) + 1) });
    assert.equal(big.cold.status, 1);
    assert.match(big.cold.stderr, /stdin larger than/);
    assert.deepEqual(big.warm, big.cold);
  });

  it("delete with the daemon's receipt in the bundle: the launcher answers it without node, as node does; a receipt that does not count is ignored", async () => {
    const bundle = fs.mkdtempSync(path.join(dir, 'receipt-'));
    const id = 'receipt-test';
    const args = ['-namespace', 'default', '-id', id, '-bundle', bundle, 'delete'];
    const answer = (r: Result): Record<string, unknown> => {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      return protos.task.DeleteResponse.decode(Buffer.from(r.stdout, 'latin1')).toJSON();
    };
    const log = warmEnv.CONTAINERD_SHIM_WARM_LOG!;
    writeDeleteReceipt(bundle, id, { pid: 4242, exitStatus: 137 });
    assert.equal(fs.statSync(path.join(bundle, DELETE_RECEIPT_FILE)).mode & 0o777, 0o600);
    assert.deepEqual(readDeleteReceipt(bundle, id), { pid: 4242, exitStatus: 137 });

    // It tells the pool containerd is at work, as an action server's claim does (u- marker).
    const pool = prewarm(binary, warmEnv);
    const uses = (): string[] => fs.readdirSync(pool).filter((f) => f.startsWith('u-'));
    for (const f of uses()) fs.rmSync(path.join(pool, f));
    const before = Date.now();
    const from = traceLines(log).length;
    const warm = answer(run(args, {}));
    assert.equal(uses().length, 1);
    // A receipt answers one delete: the next one (a later task's, say) cleans up in full.
    assert.ok(!fs.existsSync(path.join(bundle, DELETE_RECEIPT_FILE)));
    assert.deepEqual(answer(run(args, {})), {});
    writeDeleteReceipt(bundle, id, { pid: 4242, exitStatus: 137 });
    const cold = answer(run(args, coldEnv));
    assert.ok(!fs.existsSync(path.join(bundle, DELETE_RECEIPT_FILE)));
    const after = Date.now();
    assert.deepEqual(traceLines(log).slice(from, from + 1), [
      'delete receipt: answered without node',
    ]);
    for (const r of [warm, cold]) {
      // exitedAt: when the action ran (what deleteShim answers too), in milliseconds
      const at = r.exitedAt as { seconds: string; nanos?: number };
      const ms = Number(at.seconds) * 1000 + (at.nanos ?? 0) / 1e6;
      assert.ok(ms >= before && ms <= after && Number.isInteger(ms), JSON.stringify(at));
      assert.deepEqual(
        { ...r, exitedAt: undefined },
        { pid: 4242, exitStatus: 137, exitedAt: undefined },
      );
    }
    // The cwd is the bundle when containerd passes no -bundle (1.6 runs the action there too).
    writeDeleteReceipt(bundle, id, { pid: 4242, exitStatus: 137 });
    const inCwd = run(['-namespace', 'default', '-id', id, 'delete'], {}, { cwd: bundle });
    assert.equal(answer(inCwd).pid, 4242);

    // Not a receipt: the skeleton's own deleteShim answers (an empty DeleteResponse), warm.
    const file = path.join(bundle, DELETE_RECEIPT_FILE);
    const ignored: Array<[string, () => void]> = [
      ['another id', () => writeDeleteReceipt(bundle, 'other', { pid: 1, exitStatus: 137 })],
      ['group-writable', () => fs.chmodSync(file, 0o620)],
      [
        'a symlink',
        () => {
          const target = path.join(dir, 'receipt-target');
          writeDeleteReceipt(dir, id, { pid: 1, exitStatus: 137 });
          fs.renameSync(path.join(dir, DELETE_RECEIPT_FILE), target);
          fs.rmSync(file, { force: true });
          fs.symlinkSync(target, file);
        },
      ],
      [
        'a directory',
        () => {
          fs.rmSync(file, { force: true });
          fs.mkdirSync(file);
        },
      ],
      [
        'bad text',
        () =>
          fs.writeFileSync(file, `containerd-shim-delete-receipt/1 ${id} 12x 137\n`, {
            mode: 0o600,
          }),
      ],
      ['no newline', () => fs.writeFileSync(file, `containerd-shim-delete-receipt/1 ${id} 12 137`)],
      [
        'a trailing line',
        () => fs.writeFileSync(file, `containerd-shim-delete-receipt/1 ${id} 12 137\nx\n`),
      ],
      [
        'too large a pid',
        () => fs.writeFileSync(file, `containerd-shim-delete-receipt/1 ${id} 4294967296 137\n`),
      ],
      [
        'another version',
        () => fs.writeFileSync(file, `containerd-shim-delete-receipt/2 ${id} 12 137\n`),
      ],
    ];
    for (const [what, make] of ignored) {
      fs.rmSync(file, { recursive: true, force: true });
      writeDeleteReceipt(bundle, id, { pid: 4242, exitStatus: 137 });
      make();
      assert.equal(readDeleteReceipt(bundle, id), undefined, what);
      await waitReady(prewarm(binary, warmEnv), 1);
      const at = traceLines(log).length;
      assert.deepEqual(answer(run(args, {})), {}, what);
      assert.match(
        traceLines(log).slice(at).join('\n'),
        /^delete warm standby=\d+ status=0/m,
        what,
      );
      assert.deepEqual(answer(run(args, coldEnv)), {}, what);
    }
    // Nor for a command line run() would not answer so: an unknown flag, no namespace.
    fs.rmSync(file, { recursive: true, force: true });
    writeDeleteReceipt(bundle, id, { pid: 4242, exitStatus: 137 });
    await waitReady(prewarm(binary, warmEnv), 1);
    for (const bad of [
      ['-nope', ...args],
      ['-id', id, '-bundle', bundle, 'delete'],
    ]) {
      const warmBad = run(bad, {});
      assert.equal(warmBad.status, 1);
      assert.deepEqual(warmBad, run(bad, coldEnv));
    }
    assert.throws(() => writeDeleteReceipt(bundle, 'a b', { pid: 1, exitStatus: 0 }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    assert.throws(() => writeDeleteReceipt(bundle, id, { pid: -1, exitStatus: 0 }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  });

  it('an action that does not read stdin runs even while stdin stays open', async () => {
    await waitReady(prewarm(binary, warmEnv), 1);
    const child = spawn(binary, ['-v'], {
      env: { ...process.env, ...warmEnv },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdin.end();
    assert.equal(status, 0);
    assert.match(out, /^io\.containerd\.empty\.v1:/);
  });

  it("standbys boot at SCHED_IDLE and nice 19 (in an idle cpu cgroup while the pool is half full), and are back at the launcher's scheduling once ready", async () => {
    // A preload script (a pool of its own: NODE_OPTIONS is boot environment) notes how each
    // standby was scheduled when node started running it.
    const seen = path.join(dir, 'boot-sched');
    fs.mkdirSync(seen);
    const probe = path.join(dir, 'boot-probe.js');
    fs.writeFileSync(
      probe,
      `if (process.env.__CONTAINERD_SHIM_STANDBY) {
        const fs = require('fs');
        fs.writeFileSync(${JSON.stringify(seen)} + '/' + process.pid, schedOf('self'));
      }
      function schedOf(p) {
        const s = require('fs').readFileSync('/proc/' + p + '/stat', 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        return 'policy=' + f[38] + ' nice=' + f[16] + ' ' + autogroup(p) + ' ' + cpuGroup(p);
      }
      function cpuGroup(p) {
        const idle = require('fs').readFileSync('/proc/' + p + '/cgroup', 'utf8').split('\\n')
          .some((l) => /^\\d+:[^:]*:.*\\/${BOOT_GROUP}$/.test(l));
        return idle ? 'idle group' : 'own group';
      }
      function autogroup(p) {
        try {
          return 'autogroup' + / nice (-?\\d+)/.exec(require('fs').readFileSync('/proc/' + p + '/autogroup', 'utf8'))[1];
        } catch {
          return 'no autogroup';
        }
      }`,
    );
    const env = { ...warmEnv, CONTAINERD_SHIM_WARM_POOL: '2', NODE_OPTIONS: `--require ${probe}` };
    const pool = prewarm(binary, env);
    await waitReady(pool, 2);
    const first = readySockets(pool).map(socketPid);
    // The kernel makes each session a scheduling group of its own (CONFIG_SCHED_AUTOGROUP, in
    // the root cpu cgroup) that competes with the others at its autogroup's nice value, whatever
    // its tasks' policy: a boot's setsid() must lower it as well, or SCHED_IDLE means nothing
    // against the daemons, containerd and runc in other sessions. A new session's is 0.
    // That group entity is no SCHED_IDLE task to the scheduler though: a woken runc may wait
    // for it to finish its slice. So where the kernel has cpu.idle, a background boot waits in
    // a child cpu cgroup marked idle instead (any other task preempts it at once); the
    // autogroup lowered only where it has not.
    const hasAutogroup = autogroupOf(first[0]!) !== undefined;
    const idleGroup = idleGroupsUsable();
    const ours = `policy=0 nice=${os.getPriority()}`;
    const autogroup = (nice: number): string =>
      hasAutogroup ? `autogroup${nice}` : 'no autogroup';
    const bootOf = (background: boolean): string =>
      // Unprivileged, a standby could not leave SCHED_IDLE again (RLIMIT_NICE): it boots as is.
      process.getuid!() !== 0
        ? `${ours} ${autogroup(0)} own group`
        : !background
          ? `policy=5 nice=19 ${autogroup(0)} own group`
          : idleGroup
            ? `policy=5 nice=19 ${autogroup(0)} idle group`
            : `policy=5 nice=19 ${autogroup(19)} own group`;
    const seenOf = (pid: number): string => fs.readFileSync(path.join(seen, String(pid)), 'utf8');
    // An empty pool is needed now (the next claims would boot cold nodes): full weight.
    for (const pid of first) assert.equal(seenOf(pid), bootOf(false), `boot ${pid}, empty pool`);
    // Half of it ready: the replacement of the one that went boots in the background.
    process.kill(first[0]!, 'SIGKILL');
    for (const until = Date.now() + 60_000; fs.existsSync(`/proc/${first[0]}`);) {
      if (Date.now() > until) throw new Error(`standby ${first[0]} was not reaped`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    prewarm(binary, env);
    await waitReady(pool, 2);
    const pid = readySockets(pool)
      .map(socketPid)
      .find((p) => !first.includes(p))!;
    assert.equal(seenOf(pid), bootOf(true), `boot ${pid}, pool half full`);
    const threads = fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const s = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return `policy=${f[38]} nice=${f[16]}`;
    });
    assert.ok(threads.length > 1);
    assert.deepEqual(new Set(threads), new Set([ours]), 'every thread of a ready standby');
    assert.equal(autogroupOf(pid) ?? 0, 0, "a ready standby's autogroup");
    assert.equal(inBootGroup(pid), false, "a ready standby's cpu cgroup");
    // The last boot out of the idle group removed it: nothing stays behind.
    const group = path.join(cpuCgroupDir('self') ?? '/nonexistent', BOOT_GROUP);
    for (const until = Date.now() + 60_000; fs.existsSync(group);) {
      if (Date.now() > until) throw new Error(`${group} left behind`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('while claims that found a standby keep coming, an emptied pool boots in the background; once they stop, at full weight', async () => {
    // As above: a preload script notes each standby's scheduling as node starts it. A pool of
    // one: each top-up boots one standby, and a ready one's refill boots none.
    const seen = path.join(dir, 'burst-sched');
    fs.mkdirSync(seen);
    const probe = path.join(dir, 'burst-probe.js');
    fs.writeFileSync(
      probe,
      `if (process.env.__CONTAINERD_SHIM_STANDBY) {
        let a = 'no autogroup';
        try {
          a = 'autogroup' + / nice (-?\\d+)/.exec(require('fs').readFileSync('/proc/self/autogroup', 'utf8'))[1];
        } catch {}
        const idle = require('fs').readFileSync('/proc/self/cgroup', 'utf8').split('\\n')
          .some((l) => /^\\d+:[^:]*:.*\\/${BOOT_GROUP}$/.test(l));
        if (idle) a += ' idle group';
        require('fs').writeFileSync(${JSON.stringify(seen)} + '/' + process.pid, a);
      }`,
    );
    const env = {
      ...warmEnv,
      CONTAINERD_SHIM_WARM_POOL: '1',
      NODE_OPTIONS: `--require ${probe}`,
    };
    const pool = prewarm(binary, env);
    await waitReady(pool, 1);
    const hasAutogroup = autogroupOf(socketPid(readySockets(pool)[0]!)) !== undefined;
    // Unprivileged, boots stay at the launcher's scheduling (see above): nothing to tell apart.
    const lowers = process.getuid!() === 0 && hasAutogroup;
    const settled = async (): Promise<void> => {
      for (
        const until = Date.now() + 120_000;
        fs.readdirSync(pool).some((n) => n.startsWith('b-'));
      ) {
        if (Date.now() > until) throw new Error(`${pool}: boots still under way`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const emptyPool = async (): Promise<void> => {
      await settled();
      const pids = readySockets(pool).map(socketPid);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      for (const until = Date.now() + 60_000; pids.some((p) => fs.existsSync(`/proc/${p}`));) {
        if (Date.now() > until) throw new Error(`standbys ${pids.join(' ')} were not reaped`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    // A claim that got a standby `agoMs` before now (CLOCK_MONOTONIC, as pool.cc), as a
    // launcher records it (pool.h: d-<16 hex ns>-<pid>); `m` one that missed, `u` an action
    // server's claim (no demand).
    const claimed = (agoMs: number, kind = 'd'): string => {
      const ns = process.hrtime.bigint() - BigInt(agoMs) * 1_000_000n;
      const file = path.join(pool, `${kind}-${ns.toString(16).padStart(16, '0')}-${process.pid}`);
      fs.writeFileSync(file, '');
      return file;
    };
    // The one boot a top-up started: its note, once node runs it.
    const nextBoot = async (before: Set<string>): Promise<string> => {
      for (const until = Date.now() + 120_000; ;) {
        const fresh = fs.readdirSync(seen).filter((n) => !before.has(n));
        if (fresh.length > 0) {
          assert.equal(fresh.length, 1, `one boot at a time: ${fresh.join(' ')}`);
          // The probe's writeFileSync creates the file, then writes: empty until then.
          const note = fs.readFileSync(path.join(seen, fresh[0]!), 'utf8');
          if (note !== '') return note;
        }
        if (Date.now() > until) throw new Error('no standby booted');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    // A burst under way: claims keep finding standbys, the pool runs empty. The top-up that
    // follows a claim within pool.h's kQuietMs (300 ms) boots in the background: the standbys
    // the pool had serve the burst. Only a top-up that ran that soon tells (the machine may be
    // slow): tried a few times. Then a burst's removal: its last miss a second ago (older than
    // kQuietMs, within the 2 s window), action servers claimed since and still (its deletes):
    // in the background too.
    for (const kind of ['d', 'u']) {
      let told = 0;
      for (let i = 0; i < 5 && told === 0; i++) {
        await emptyPool();
        const before = new Set(fs.readdirSync(seen));
        const markers = kind === 'u' ? [claimed(1000, 'm'), claimed(0, 'u')] : [claimed(0)];
        const t0 = process.hrtime.bigint();
        prewarm(binary, env); // returns once its helper decided and forked the boot
        const soon = process.hrtime.bigint() - t0 < 300_000_000n;
        // The burst goes on until the boot's note: its helper raises the boot once claims stop.
        const burst = setInterval(() => markers.push(claimed(0, kind)), 50);
        let note: string;
        try {
          note = await nextBoot(before);
        } finally {
          clearInterval(burst);
        }
        // Past pool.h's kDemandWindowMs (2 s) of claims, the helper raises it anyway.
        const within = process.hrtime.bigint() - t0 < 2_000_000_000n;
        for (const m of markers) fs.rmSync(m, { force: true });
        if (!soon || !within) continue;
        told++;
        const background = idleGroupsUsable() ? 'autogroup0 idle group' : 'autogroup19';
        assert.equal(note, lowers ? background : hasAutogroup ? 'autogroup0' : 'no autogroup');
      }
    }
    // A miss just now counts whatever action servers do: the pool lags its demand.
    {
      await emptyPool();
      const before = new Set(fs.readdirSync(seen));
      const markers = [claimed(0, 'm'), claimed(0, 'u')];
      prewarm(binary, env);
      assert.equal(await nextBoot(before), hasAutogroup ? 'autogroup0' : 'no autogroup');
      for (const m of markers) fs.rmSync(m, { force: true });
    }
    // The claims stopped (the last one a second ago): an emptied pool is for the next burst,
    // at full weight. Whenever the top-up runs: its claim is quiet, or older than the demand
    // window and gone.
    await emptyPool();
    const before = new Set(fs.readdirSync(seen));
    const marker = claimed(1000);
    prewarm(binary, env);
    assert.equal(await nextBoot(before), hasAutogroup ? 'autogroup0' : 'no autogroup');
    fs.rmSync(marker, { force: true });
    // So does an older miss while fresh standbys are still claimed after the action servers (a
    // burst's starts: their daemons take fresh standbys). Last: the miss and the hit grow this
    // pool's target to 2 for an idle timeout, so the top-up boots two.
    await emptyPool();
    const later = new Set(fs.readdirSync(seen));
    const markers = [claimed(1000, 'm'), claimed(0, 'u'), claimed(0, 'd')];
    prewarm(binary, env);
    for (const until = Date.now() + 120_000; ;) {
      const notes = fs
        .readdirSync(seen)
        .filter((n) => !later.has(n))
        .map((n) => fs.readFileSync(path.join(seen, n), 'utf8'));
      if (notes.length > 0 && notes.every((n) => n !== '')) {
        assert.ok(notes.length <= 2, notes.join(' '));
        for (const n of notes) assert.equal(n, hasAutogroup ? 'autogroup0' : 'no autogroup');
        break;
      }
      if (Date.now() > until) throw new Error('no standby booted');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const m of markers) fs.rmSync(m, { force: true });
    await settled();
  });

  it('a boot left in the background by a burst is raised once its claims stop, with no top-up after them', async function () {
    // A boot that never gets the CPU (a preload script stops it): nothing becomes ready, so
    // no refill, and no claim follows: only the helper that lowered it can raise it.
    requireCondition(
      this,
      process.getuid!() === 0 && fs.existsSync('/proc/self/autogroup'),
      'root and CONFIG_SCHED_AUTOGROUP',
      'unprivileged or without autogroups, boots are never lowered (tested above)',
    );
    const probe = stoppingProbe(path.join(dir, 'burst-stop.js'));
    const root = path.join(dir, 'warm-raise');
    const env = {
      ...warmEnv,
      CONTAINERD_SHIM_WARM_DIR: root,
      CONTAINERD_SHIM_WARM_POOL: '1',
      NODE_OPTIONS: `--require ${probe}`,
    };
    const pool = prewarm(binary, env);
    try {
      // The boot once node ran the probe: stopped.
      let boot: number | undefined;
      for (const until = Date.now() + 60_000; boot === undefined;) {
        boot = standbyPids(root).find((pid) =>
          /^\d+ \(.*\) T /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')),
        );
        if (boot === undefined && Date.now() > until) throw new Error('no stopped boot');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // As a burst's top-up leaves it: in the background (SCHED_IDLE, in the idle cpu cgroup
      // where the kernel has one, else at autogroup nice 19).
      const idleGroup = idleGroupsUsable();
      if (idleGroup) {
        const group = path.join(cpuCgroupDir('self')!, BOOT_GROUP);
        fs.mkdirSync(group, { recursive: true });
        fs.writeFileSync(path.join(group, 'cgroup.procs'), String(boot));
        assert.ok(inBootGroup(boot));
      } else {
        fs.writeFileSync(`/proc/${boot}/autogroup`, '19');
      }
      // A claim just now, then a top-up: the pool is under half ready, claims still come, so
      // it stays in the background; no other top-up comes after.
      const ns = process.hrtime.bigint();
      fs.writeFileSync(
        path.join(pool, `d-${ns.toString(16).padStart(16, '0')}-${process.pid}`),
        '',
      );
      prewarm(binary, env);
      for (const until = Date.now() + 60_000; autogroupOf(boot) !== 0 || inBootGroup(boot);) {
        if (Date.now() > until) throw new Error(`boot ${boot} still in the background`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      for (const pid of standbyPids(root)) process.kill(pid, 'SIGKILL');
      assert.deepEqual(await waitNoStandbys(root, 30_000), []);
    }
  });

  it("a burst's boots are held back (1% CPU quota on the idle cpu cgroup) while its claims come, and run once they stop", async function () {
    requireCondition(
      this,
      idleGroupsUsable(),
      'a cpu cgroup where boots can wait in a cpu.idle child (root; cgroup v1 cpu, or v2 handing the cpu controller down)',
      'boots wait behind their autogroup instead, never held back',
    );
    const root = path.join(dir, 'warm-hold');
    // While the gate exists, a standby stops itself as node starts it: a boot that stays in
    // the group, so that what its quota becomes can be seen.
    const gate = path.join(dir, 'hold-gate');
    const probe = stoppingProbe(path.join(dir, 'hold-stop.js'), gate);
    const env = {
      ...warmEnv,
      CONTAINERD_SHIM_WARM_DIR: root,
      CONTAINERD_SHIM_WARM_POOL: '2',
      NODE_OPTIONS: `--require ${probe}`,
    };
    const pool = prewarm(binary, env);
    const group = path.join(cpuCgroupDir('self')!, BOOT_GROUP);
    // The group's quota: cpu.max on v2 ("1000 100000" held, "max 100000" not), else v1's.
    const held = (): boolean | undefined => {
      try {
        const v2 = path.join(group, 'cpu.max');
        if (fs.existsSync(v2)) return !fs.readFileSync(v2, 'utf8').startsWith('max');
        return fs.readFileSync(path.join(group, 'cpu.cfs_quota_us'), 'utf8').trim() !== '-1';
      } catch {
        return undefined; // no group: nothing held
      }
    };
    const markers: string[] = [];
    // A claim of a fresh standby `agoMs` before now (pool.h: d-<16 hex ns>-<pid>).
    const claim = (agoMs = 0): void => {
      const ns = process.hrtime.bigint() - BigInt(agoMs) * 1_000_000n;
      const file = path.join(pool, `d-${ns.toString(16).padStart(16, '0')}-${process.pid}`);
      fs.writeFileSync(file, '');
      markers.push(file);
    };
    try {
      await waitReady(pool, 2);
      // A burst took one of the two: 3 claims within 100 ms (pool.h kBurstClaims,
      // kBurstWindowMs), and more every 50 ms for a second. Half the pool is still ready, so its
      // replacement is for later (not raised to full weight when the claims stop).
      const [kept, taken] = readySockets(pool).map(socketPid);
      process.kill(taken!, 'SIGKILL');
      for (const until = Date.now() + 30_000; fs.existsSync(`/proc/${taken}`);) {
        if (Date.now() > until) throw new Error(`standby ${taken} was not reaped`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      fs.writeFileSync(gate, '');
      for (let i = 0; i < 3; i++) claim();
      const t0 = process.hrtime.bigint();
      prewarm(binary, env); // returns once its helper decided and forked the boot
      assert.equal(held(), true, 'the burst holds its boots back');
      const burst = setInterval(claim, 50);
      try {
        await new Promise((resolve) => setTimeout(resolve, 1000));
      } finally {
        clearInterval(burst);
      }
      // Still, while the claims came: unless this process was starved so long that the helper
      // gave up waiting (kDemandWindowMs, 2 s: a long burst lets its boots go).
      if (process.hrtime.bigint() - t0 < 1_700_000_000n) assert.equal(held(), true);
      assert.deepEqual(readySockets(pool).map(socketPid), [kept]);
      // The claims stopped: the helper that held the boots back lets them go (kQuietMs later).
      // The boot then runs (to the probe, which stops it) and is still in the group.
      for (const until = Date.now() + 60_000; held() !== false;) {
        if (Date.now() > until) throw new Error(`boots still held back: ${held()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Held back by a helper that died before it let go: the next top-up after the claims
      // stopped lets go.
      const v2 = fs.existsSync(path.join(group, 'cpu.max'));
      fs.writeFileSync(
        path.join(group, v2 ? 'cpu.max' : 'cpu.cfs_quota_us'),
        v2 ? '1000 100000' : '1000',
      );
      assert.equal(held(), true);
      prewarm(binary, env);
      assert.equal(held(), false);
      // One container after another: claims 60 ms apart are no burst, its boots are not held
      // back (the group, with the boot still inside, would be).
      for (const ago of [120, 60, 0]) claim(ago);
      prewarm(binary, env);
      assert.equal(held(), false, 'claims 60 ms apart hold nothing back');
    } finally {
      fs.rmSync(gate, { force: true });
      for (const m of markers) fs.rmSync(m, { force: true });
      for (const pid of standbyPids(root)) process.kill(pid, 'SIGKILL');
      assert.deepEqual(await waitNoStandbys(root, 30_000), []);
    }
  });

  it('boots that never get the CPU (stopped) cost nothing but the cold path: actions run, boots stay bounded', async () => {
    // A preload script stops every standby as node starts it: a boot starved forever.
    const probe = stoppingProbe(path.join(dir, 'boot-stop.js'));
    const root = path.join(dir, 'warm-starved');
    const env = {
      ...warmEnv,
      CONTAINERD_SHIM_WARM_DIR: root,
      CONTAINERD_SHIM_WARM_BOOTS: '2',
      NODE_OPTIONS: `--require ${probe}`,
    };
    const from = traceLines(warmEnv.CONTAINERD_SHIM_WARM_LOG!).length;
    try {
      for (let i = 0; i < 4; i++) {
        const r = run(['-v'], env);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^io\.containerd\.empty\.v1:/);
      }
      const lines = traceLines(warmEnv.CONTAINERD_SHIM_WARM_LOG!).slice(from);
      assert.equal(lines.filter((l) => /^flags cold: /.test(l)).length, 4, lines.join('\n'));
      // The stopped boots hold their markers: no more than CONTAINERD_SHIM_WARM_BOOTS boot.
      const [pool] = pools(root);
      const booting = fs.readdirSync(pool!).filter((n) => n.startsWith('b-'));
      assert.ok(booting.length >= 1 && booting.length <= 2, booting.join(' '));
      assert.ok(standbyPids(root).length <= 2);
    } finally {
      for (const pid of standbyPids(root)) process.kill(pid, 'SIGKILL');
      assert.deepEqual(await waitNoStandbys(root, 30_000), []);
    }
  });

  it("the pool's top-up helper, which outlives the launcher, does not show the shim's command line", async () => {
    const root = path.join(dir, 'warm-title');
    const env = { ...warmEnv, CONTAINERD_SHIM_WARM_DIR: root, CONTAINERD_SHIM_WARM_POOL: '1' };
    const pool = prewarm(binary, env);
    await waitReady(pool, 1);
    // The pool lock held: the helper forked by the next launcher waits on it, after the
    // launcher exited (flock(1) holds it for us, by pid; -o: its sleep does not hold it too).
    const holder = spawn('flock', ['-x', '-o', path.join(pool, 'lock'), 'sleep', '120'], {
      stdio: 'ignore',
    });
    const held = new Promise((resolve) => holder.on('exit', resolve));
    try {
      for (const until = Date.now() + 30_000; ;) {
        const locks = fs.readFileSync('/proc/locks', 'utf8');
        const ino = fs.statSync(path.join(pool, 'lock')).ino;
        if (locks.includes(`:${ino} `)) break;
        if (Date.now() > until) throw new Error('flock did not take the pool lock');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const before = new Set(fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)));
      const r = run(['-namespace', 'title', '-address', '/run/title.sock', '-v'], env);
      assert.equal(r.status, 0, r.stderr);
      // The launcher's exe, not node: the helper (the launcher itself has exited).
      const helpers = fs
        .readdirSync('/proc')
        .filter((n) => /^\d+$/.test(n) && !before.has(n))
        .filter((n) => {
          try {
            return fs.readlinkSync(`/proc/${n}/exe`) === binary;
          } catch {
            return false;
          }
        });
      assert.equal(helpers.length, 1, `the waiting helper: ${helpers.join(' ')}`);
      const argv = fs.readFileSync(`/proc/${helpers[0]}/cmdline`, 'utf8').split('\0');
      assert.equal(argv[0], 'containerd-shim-node-pool-top-up');
      assert.ok(!argv.includes('-address') && !argv.includes('/run/title.sock'), argv.join(' '));
    } finally {
      holder.kill('SIGKILL');
      await held;
      await waitReady(pool, 1);
      await killStandbys(root);
      assert.deepEqual(await waitNoStandbys(root, 30_000), []);
    }
  });

  it('a standby that died unreaped (a zombie under a subreaper that never reaps) is not counted: its replacement boots', async () => {
    const root = path.join(dir, 'warm-zombie');
    const env = { ...warmEnv, CONTAINERD_SHIM_WARM_DIR: root, CONTAINERD_SHIM_WARM_POOL: '1' };
    // A subreaper (as a container's pid 1 that is no init) that reaps only what it spawned: the
    // pool's boots are orphaned to it, and one killed stays a zombie until this holder exits.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(path.join(top, 'dist', 'lib', 'native'))}).linux.setSubreaper(true);
         const r = require('node:child_process').spawnSync(process.argv[1], ['--containerd-shim-prewarm'], { encoding: 'utf8' });
         process.stdout.write(r.status === 0 ? r.stdout : 'failed ' + r.stderr);
         process.stdin.resume();`,
        binary,
      ],
      { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    try {
      let out = '';
      holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
      for (const until = Date.now() + 60_000; !out.includes('\n');) {
        if (Date.now() > until) throw new Error(`no prewarm output: ${out}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.match(out, /^\//, out);
      const pool = out.trim();
      await waitReady(pool, 1);
      const [first] = readySockets(pool).map(socketPid);
      assert.equal(fs.readFileSync(`/proc/${first}/stat`, 'utf8').split(') ')[1]![0] !== 'Z', true);
      assert.equal(
        Number(fs.readFileSync(`/proc/${first}/status`, 'utf8').match(/PPid:\s+(\d+)/)![1]),
        holder.pid,
        "the standby is the holder's orphan",
      );
      process.kill(first!, 'SIGKILL');
      for (const until = Date.now() + 60_000; ;) {
        const state = fs.readFileSync(`/proc/${first}/stat`, 'utf8').split(') ')[1]![0];
        if (state === 'Z') break; // dead, its socket still in the pool, nobody reaping it
        if (Date.now() > until) throw new Error(`standby ${first} did not die: ${state}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      prewarm(binary, env);
      await waitReady(pool, 1); // its socket is swept: only a new standby makes this true
      const [next] = readySockets(pool).map(socketPid);
      assert.notEqual(next, first);
    } finally {
      holder.stdin.end(); // the holder exits; init reaps the zombie
      await exited;
      await killStandbys(root);
      assert.deepEqual(await waitNoStandbys(root, 30_000), []);
    }
  });

  describe('stale pools of other builds and the idle cpu cgroup are removed', () => {
    const hour = 3600;
    const old = (): Date => new Date((Math.floor(Date.now() / 1000) - hour) * 1000);
    /** A pid nobody has: a process that ran and was reaped. */
    const deadPid = (): number => spawnSync('true').pid!;
    const hex = (ns: bigint): string => ns.toString(16).padStart(16, '0');
    /** A socket at `file` whose server is gone (a standby killed while waiting). */
    const deadSocket = (file: string): void => {
      const r = spawnSync(process.execPath, [
        '-e',
        `require('node:net').createServer().listen(process.argv[1], () => process.exit(0))`,
        file,
      ]);
      assert.equal(r.status, 0, String(r.stderr));
    };
    /** Sets the mtime (and atime) of `dir` and everything in it an hour back. */
    const age = (dir: string): void => {
      for (const n of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, n), old(), old());
      fs.utimesSync(dir, old(), old());
    };
    /**
     * A pool directory a build left behind: its lock, a boot cache, and the markers and
     * sockets of processes all dead (a boot, a claim, a standby, an action server, a claimed
     * one, one binding), none of them changed for an hour. `extra` runs before the aging.
     */
    const stalePool = (root: string, name: string, extra?: (pool: string) => void): string => {
      const pool = path.join(root, name);
      fs.mkdirSync(pool, { mode: 0o700 });
      const dead = deadPid();
      const t = hex(process.hrtime.bigint() - 10n ** 12n);
      fs.writeFileSync(path.join(pool, 'lock'), `   4 ${t}\n`, { mode: 0o600 });
      fs.writeFileSync(path.join(pool, 'boot-cache'), Buffer.alloc(350_000, 7), { mode: 0o600 });
      fs.writeFileSync(path.join(pool, `boot-cache.${dead}`), 'partial', { mode: 0o600 });
      fs.writeFileSync(path.join(pool, `b-${dead}-0`), `${dead}\n`, { mode: 0o600 });
      fs.writeFileSync(path.join(pool, `d-${t}-${dead}`), '', { mode: 0o600 });
      fs.writeFileSync(path.join(pool, `m-${t}-${dead}`), '', { mode: 0o600 });
      fs.writeFileSync(path.join(pool, `u-${t}-${dead}`), '', { mode: 0o600 });
      for (const s of [`s-${t}-${dead}`, `a-${t}-${dead}`, `c-${dead}-${dead}`, `t-${dead}`])
        deadSocket(path.join(pool, s));
      extra?.(pool);
      age(pool);
      return pool;
    };
    /** Waits until the sweep a top-up started (if any) is over: it holds the root's `swept`. */
    const swept = (root: string): void => {
      const r = spawnSync('flock', [path.join(root, 'swept'), 'true']);
      assert.equal(r.status, 0, String(r.stderr));
    };
    /** What is left of a directory ([] when it is gone). */
    const left = (p: string): string[] => (fs.existsSync(p) ? ['.', ...fs.readdirSync(p)] : []);
    const poolName = (i: number): string => `${i}`.repeat(32).slice(0, 32);
    /** flock(1) holding `file` locked, by pid, once /proc/locks shows it. */
    const lockHolder = async (file: string): Promise<ReturnType<typeof spawn>> => {
      const holder = spawn('flock', ['-x', '-o', file, 'sleep', '600'], { stdio: 'ignore' });
      const ino = fs.statSync(file).ino;
      for (const until = Date.now() + 30_000; ;) {
        if (fs.readFileSync('/proc/locks', 'utf8').includes(`:${ino} `)) return holder;
        if (Date.now() > until) throw new Error(`flock did not take ${file}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    /** Removes the test's private cpu cgroup (and the idle group in it), once emptied. */
    const removeCgroup = async (cgroup: string, group: string): Promise<void> => {
      for (const until = Date.now() + 30_000; fs.existsSync(cgroup);) {
        try {
          if (fs.existsSync(group)) fs.rmdirSync(group);
          fs.rmdirSync(cgroup);
        } catch (err) {
          if (Date.now() > until) throw err;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };

    it('the next top-up removes a dead, idle pool of another build; live, recent, foreign, other-mode and symlinked ones stay; the swept build boots its pool again', async () => {
      const root = path.join(dir, 'warm-sweep');
      fs.mkdirSync(root, { mode: 0o700 });
      // CONTAINERD_SHIM_WARM_IDLE_MS is 10 min (warmEnv): an hour without change is stale.
      const env = { ...warmEnv, CONTAINERD_SHIM_WARM_DIR: root, CONTAINERD_SHIM_WARM_POOL: '1' };
      // Another build of the shim (TZ is part of the build identity): its standby gone, its
      // pool left behind as it was.
      const otherEnv = { ...env, TZ: 'UTC' };
      const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
      const sleeperExit = new Promise((resolve) => sleeper.on('exit', resolve));
      const holders: ReturnType<typeof spawn>[] = [];
      try {
        const other = prewarm(binary, otherEnv);
        await waitReady(other, 1);
        const otherPids = standbyPids(other);
        for (const p of otherPids) process.kill(p, 'SIGKILL');
        assert.deepEqual(await waitNoStandbys(other, 30_000), []);
        age(other);
        const otherEntries = fs.readdirSync(other);
        assert.ok(otherEntries.includes('lock'), otherEntries.join(' '));

        const kept: string[] = [];
        const dead = stalePool(root, poolName(1));
        // A live standby (its pid runs) in an otherwise stale pool.
        kept.push(
          stalePool(root, poolName(2), (p) =>
            deadSocket(path.join(p, `s-${hex(process.hrtime.bigint())}-${sleeper.pid}`)),
          ),
        );
        // A boot under way: its marker locked (here by flock(1), as the booting process would).
        const booting = stalePool(root, poolName(10));
        const [marker] = fs.readdirSync(booting).filter((n) => n.startsWith('b-'));
        holders.push(await lockHolder(path.join(booting, marker!)));
        age(booting);
        kept.push(booting);
        // A recent change: one entry written just now.
        const recent = stalePool(root, poolName(3));
        fs.utimesSync(path.join(recent, 'boot-cache'), new Date(), new Date());
        kept.push(recent);
        // Something unexpected inside: a foreign file, a subdirectory.
        kept.push(stalePool(root, poolName(4), (p) => fs.writeFileSync(path.join(p, 'notes'), '')));
        kept.push(stalePool(root, poolName(5), (p) => fs.mkdirSync(path.join(p, 'sub'))));
        // Another mode.
        const open = stalePool(root, poolName(6));
        fs.chmodSync(open, 0o750);
        age(open);
        kept.push(open);
        // Not a pool name.
        kept.push(stalePool(root, 'f'.repeat(31)));
        // A symlink to a stale pool elsewhere.
        const target = stalePool(dir, 'sweep-target');
        fs.symlinkSync(target, path.join(root, poolName(7)));
        // A pool whose lock is held (in use): flock(1) holds it, by pid.
        const busy = stalePool(root, poolName(8));
        holders.push(await lockHolder(path.join(busy, 'lock')));
        age(busy);
        kept.push(busy);
        const contents = new Map(kept.map((p) => [p, fs.readdirSync(p).sort()]));

        // This build's launcher tops up its own pool; its helper sweeps the others (the other
        // build's top-up above swept the root last: its stamp aged, a sweep is due).
        swept(root);
        fs.utimesSync(path.join(root, 'swept'), old(), old());
        const own = prewarm(binary, env);
        swept(root);
        assert.deepEqual(left(other), [], `${other} left`);
        assert.deepEqual(left(dead), [], `${dead} left`);
        for (const p of kept) assert.deepEqual(fs.readdirSync(p).sort(), contents.get(p), p);
        assert.ok(fs.lstatSync(path.join(root, poolName(7))).isSymbolicLink());
        assert.ok(fs.existsSync(path.join(target, 'boot-cache')));
        assert.ok(fs.existsSync(path.join(own, 'lock')));

        // At most one sweep per idle timeout (the root's `swept` stamp): a pool gone stale
        // now waits for the next one.
        const later = stalePool(root, poolName(9));
        prewarm(binary, env);
        swept(root);
        assert.ok(fs.existsSync(later));
        fs.utimesSync(path.join(root, 'swept'), old(), old());
        prewarm(binary, env);
        swept(root);
        assert.deepEqual(left(later), [], `${later} left`);

        // The swept build's launcher makes its pool again (0700) and boots it.
        assert.equal(prewarm(binary, otherEnv), other);
        assert.equal(fs.statSync(other).mode & 0o7777, 0o700);
        await waitReady(other, 1);
      } finally {
        for (const h of holders) h.kill('SIGKILL');
        sleeper.kill('SIGKILL');
        await sleeperExit;
        await killStandbys(root);
        assert.deepEqual(await waitNoStandbys(root, 30_000), []);
      }
    });

    it('a top-up whose pool was removed while it waited for the lock makes the pool again', async () => {
      const root = path.join(dir, 'warm-sweep-race');
      fs.mkdirSync(root, { mode: 0o700 });
      const env = { ...warmEnv, CONTAINERD_SHIM_WARM_DIR: root, CONTAINERD_SHIM_WARM_POOL: '1' };
      const pool = prewarm(binary, env);
      await waitReady(pool, 1);
      for (const p of standbyPids(root)) process.kill(p, 'SIGKILL');
      assert.deepEqual(await waitNoStandbys(root, 30_000), []);
      const lock = path.join(pool, 'lock');
      const ino = fs.statSync(lock).ino;
      const holder = await lockHolder(lock);
      const held = new Promise((resolve) => holder.on('exit', resolve));
      try {
        // A launcher's top-up helper waits for the lock (a blocked flock: "->" in /proc/locks).
        const launcher = spawn(binary, ['--containerd-shim-prewarm'], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        launcher.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        const done = new Promise((resolve) => launcher.on('exit', resolve));
        for (const until = Date.now() + 30_000; ;) {
          const waiting = fs
            .readFileSync('/proc/locks', 'utf8')
            .split('\n')
            .some((l) => l.includes('->') && l.includes(`:${ino} `));
          if (waiting) break;
          if (Date.now() > until) throw new Error('no top-up waits for the pool lock');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        // Meanwhile a sweep removes the pool as it does: entries, the lock file last, the
        // directory; then the lock is released.
        for (const n of fs.readdirSync(pool)) if (n !== 'lock') fs.rmSync(path.join(pool, n));
        fs.rmSync(lock);
        fs.rmdirSync(pool);
        holder.kill('SIGKILL');
        await held;
        assert.equal(await done, 0);
        assert.equal(out.trim(), pool);
        assert.equal(fs.statSync(pool).mode & 0o7777, 0o700);
        await waitReady(pool, 1);
        assert.ok(fs.statSync(path.join(pool, 'lock')).nlink === 1);
      } finally {
        holder.kill('SIGKILL');
        await killStandbys(root);
        assert.deepEqual(await waitNoStandbys(root, 30_000), []);
      }
    });

    it('a boot killed inside the idle cpu cgroup leaves no group behind after the next top-up', async function () {
      requireCondition(
        this,
        idleGroupsUsable(),
        'a cpu cgroup where boots can wait in a cpu.idle child (root; cgroup v1 cpu, or v2 handing the cpu controller down)',
        'boots wait behind their autogroup instead: no idle group to leave behind',
      );
      // The launcher in a cpu cgroup of its own (v1), so that no other boot on the machine
      // shares the idle group; on v2 a cgroup with processes hands no controller down: there
      // the test's own.
      const self = cpuCgroupDir('self')!;
      const v2 = fs.existsSync(path.join(self, 'cgroup.subtree_control'));
      const cgroup = v2 ? self : path.join(self, `csn-sweep-${process.pid}`);
      if (!v2) fs.mkdirSync(cgroup);
      const group = path.join(cgroup, BOOT_GROUP);
      const gate = path.join(dir, 'sweep-gate');
      // Stops a standby as node starts it, while the gate exists: a boot that never gets ready.
      const probe = stoppingProbe(path.join(dir, 'sweep-stop.js'), gate);
      const root = path.join(dir, 'warm-sweep-cgroup');
      const env = {
        ...warmEnv,
        CONTAINERD_SHIM_WARM_DIR: root,
        NODE_OPTIONS: `--require ${probe}`,
      };
      const topUp = (size: number): string => {
        const r = spawnSync(
          '/bin/sh',
          [
            '-c',
            'echo $$ > "$1/cgroup.procs" && exec "$2" --containerd-shim-prewarm',
            'sh',
            cgroup,
            binary,
          ],
          {
            env: { ...process.env, ...env, CONTAINERD_SHIM_WARM_POOL: String(size) },
            encoding: 'utf8',
          },
        );
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
      };
      const stoppedBoot = async (pool: string): Promise<number> => {
        for (const until = Date.now() + 60_000; ;) {
          for (const n of fs.readdirSync(pool).filter((m) => m.startsWith('b-'))) {
            const p = Number(fs.readFileSync(path.join(pool, n), 'utf8'));
            try {
              if (p > 0 && /^\d+ \(.*\) T /.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8')))
                return p;
            } catch {
              // not yet
            }
          }
          if (Date.now() > until) throw new Error('no stopped boot');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const kill = async (p: number): Promise<void> => {
        process.kill(p, 'SIGKILL');
        for (const until = Date.now() + 60_000; fs.existsSync(`/proc/${p}`);) {
          if (Date.now() > until) throw new Error(`boot ${p} was not reaped`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      try {
        // One ready standby (booted at full weight: nothing ready yet).
        const pool = topUp(1);
        await waitReady(pool, 1);
        fs.writeFileSync(gate, '');
        for (let round = 0; round < 2; round++) {
          // A pool of 2 with 1 ready: the next boot waits in the background, in the idle group
          // (made again in the second round, after the sweep removed it), and is killed there.
          topUp(2);
          const boot = await stoppedBoot(pool);
          assert.equal(cpuCgroupDir(boot), group);
          await kill(boot);
          assert.ok(fs.existsSync(group), 'the killed boot never left the group');
          // The next top-up (a pool of 1: nothing to boot) sweeps the dead boot's marker and
          // removes the empty group with it.
          assert.equal(topUp(1), pool);
          assert.ok(!fs.readdirSync(pool).some((n) => n.startsWith('b-')));
          assert.ok(!fs.existsSync(group), `${group} left behind`);
        }
      } finally {
        fs.rmSync(gate, { force: true });
        await killStandbys(root);
        assert.deepEqual(await waitNoStandbys(root, 30_000), []);
        if (!v2) await removeCgroup(cgroup, group);
      }
    });
  });

  it('claims that miss grow the pool to the burst (capped); it idles back to nothing', async function () {
    this.timeout(400_000);
    const root = path.join(dir, 'warm-burst');
    const env = {
      ...warmEnv,
      CONTAINERD_SHIM_WARM_DIR: root,
      CONTAINERD_SHIM_WARM_POOL: '1',
      CONTAINERD_SHIM_WARM_MAX: '5',
      CONTAINERD_SHIM_WARM_IDLE_MS: '60000',
    };
    const burst = await Promise.all(
      Array.from({ length: 8 }, () => {
        const child = spawn(binary, ['-v'], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        return new Promise<number | null>((resolve) => child.on('exit', resolve));
      }),
    );
    assert.deepEqual(burst, Array(8).fill(0));
    const [pool] = pools(root);
    assert.ok(pool, `a pool under ${root}`);
    // Liveness bounds only: boots run at SCHED_IDLE, refilling the pool one after another.
    await waitReady(pool, 5);
    const booting = (): string[] => fs.readdirSync(pool).filter((n) => n.startsWith('b-'));
    const until = Date.now() + 120_000;
    while (booting().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(booting(), []);
    assert.equal(readySockets(pool).length, 5, 'grown to the cap, no further');
    // A `-v` of the burst that found a standby already booted made it an action server (a-...,
    // as many kept as the demand, capped too): those are the only other processes of the pool.
    const servers = serverSockets(pool);
    assert.ok(servers.length <= 5, `at most 5 action servers: ${servers.join(' ')}`);
    assert.equal(standbyPids(root).length, 5 + servers.length);
    const demand = fs.readdirSync(pool).filter((n) => /^[dm]-/.test(n));
    assert.ok(demand.length <= 6, `demand markers stay bounded: ${demand.join(' ')}`);
    // The grown pool is not kept: its standbys idle out, and nothing boots them again.
    assert.deepEqual(await waitNoStandbys(root, 200_000), []);
    assert.deepEqual(readySockets(pool), []);
  });

  it('a claim past the demand cap still records its time: the oldest hit gives way to it', async () => {
    const root = path.join(dir, 'warm-cap');
    const log = path.join(dir, 'warm-cap.log');
    const env = {
      ...onePoolEnv(root, log),
      CONTAINERD_SHIM_WARM_MAX: '2',
    };
    const pool = prewarm(binary, env);
    await waitReady(pool, 1);
    // Two recent hits (pool.h: d-<16 hex CLOCK_MONOTONIC ns>-<pid>): the cap is reached.
    const now = process.hrtime.bigint();
    const planted = [20n, 10n].map((ago) => {
      const name = `d-${(now - ago * 1_000_000n).toString(16).padStart(16, '0')}-${process.pid}`;
      fs.writeFileSync(path.join(pool, name), '');
      return name;
    });
    const r = spawnSync(binary, ['-v'], { env: { ...process.env, ...env } });
    assert.equal(r.status, 0, String(r.stderr));
    assert.match(traceLines(log).join('\n'), /^flags warm standby=/m);
    const demand = fs.readdirSync(pool).filter((n) => /^[dm]-/.test(n));
    const time = (n: string): bigint => BigInt(`0x${n.slice(2, 18)}`);
    // Still no more than the cap, and the claim is the newest (the planted ones may also have
    // left the 2 s window on a slow machine: then it was recorded as any claim is).
    assert.ok(demand.length <= 2, `demand markers beyond the cap: ${demand.join(' ')}`);
    assert.ok(
      demand.some((n) => n.startsWith('d-') && time(n) > now),
      demand.join(' '),
    );
    assert.ok(!demand.includes(planted[0]!), `the oldest hit stays: ${demand.join(' ')}`);
  });

  it("an action server's claim leaves one use marker (u-...), no demand; stale ones are swept", async () => {
    const root = path.join(dir, 'warm-use');
    const log = path.join(dir, 'warm-use.log');
    const env = onePoolEnv(root, log);
    const pool = prewarm(binary, env);
    await waitReady(pool, 1);
    const hex = (ns: bigint): string => ns.toString(16).padStart(16, '0');
    const time = (n: string): bigint => BigInt(`0x${n.slice(2, 18)}`);
    // Older than pool.h's kDemandWindowMs (2 s) by CLOCK_MONOTONIC, as pool.cc reads it: two,
    // as racing launchers may leave.
    const planted = [3_000n, 5_000n].map((ago) => {
      const name = `u-${hex(process.hrtime.bigint() - ago * 1_000_000n)}-${process.pid}`;
      fs.writeFileSync(path.join(pool, name), '');
      return name;
    });
    const from = traceLines(log).length;
    const t0 = process.hrtime.bigint();
    // The first `-v` takes the fresh standby, which goes back to waiting as an action server
    // before it answers; the next ones claim that action server.
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(binary, ['-v'], { env: { ...process.env, ...env } });
      assert.equal(r.status, 0, String(r.stderr));
    }
    const lines = traceLines(log).slice(from);
    const served = lines.filter((l) =>
      /^flags warm standby=\d+ status=0 \(action server\)/.test(l),
    );
    assert.ok(served.length >= 2, lines.join('\n'));
    const names = fs.readdirSync(pool);
    const uses = names.filter((n) => n.startsWith('u-'));
    assert.equal(uses.length, 1, `one use marker, renamed by each claim: ${names.join(' ')}`);
    assert.ok(time(uses[0]!) > t0, uses[0]);
    for (const p of planted) assert.ok(!names.includes(p), `stale ${p} swept: ${names.join(' ')}`);
    // Not demand: only the claims of fresh standbys (or misses) left d-/m- markers.
    const demand = names.filter((n) => /^[dm]-/.test(n) && time(n) > t0);
    const others = lines.filter(
      (l) => /^flags (warm|cold)/.test(l) && !l.includes('(action server)'),
    );
    assert.equal(demand.length, others.length, `${names.join(' ')}\n${lines.join('\n')}`);
  });

  it("a standby rehearses the serving path and the shim's warmup before it is ready, leaving nothing open", async () => {
    // A shim of its own whose Config.warmup notes what is open at that point (after the SDK's
    // loopback exchange) or, with WARMUP_FAIL set, throws.
    const entry = path.join(dir, 'warmup-shim.js');
    const notes = path.join(dir, 'warmup-notes');
    fs.mkdirSync(notes);
    fs.writeFileSync(
      entry,
      `const fs = require('fs');
      const { run } = require(${JSON.stringify(path.join(top, 'dist', 'lib'))});
      class Shim {
        startShim() { throw new Error('not in this test'); }
        deleteShim() { return {}; }
        wait() { return new Promise(() => undefined); }
        createTaskService() { return {}; }
      }
      void run('io.containerd.warmup.v1', Shim, {
        warmup: async () => {
          if (process.env.WARMUP_FAIL) throw new Error('warmup failed on purpose');
          await new Promise((r) => setImmediate(r));
          const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
          fs.writeFileSync(${JSON.stringify(notes)} + '/' + process.pid, JSON.stringify(open));
        },
      });`,
    );
    const shim = path.join(dir, 'containerd-shim-warmup-v1');
    packageShim({ entry, output: shim });
    const log = warmEnv.CONTAINERD_SHIM_WARM_LOG!;

    // A failing warm-up: the standby says why and exits; nothing is left in the pool.
    const from = traceLines(log).length;
    const rehearsing = { ...warmEnv, CONTAINERD_SHIM_WARM_WARMUP: '1' };
    const failing = prewarm(shim, { ...rehearsing, WARMUP_FAIL: '1' });
    const said = (): string => traceLines(log).slice(from).join('\n');
    const until = Date.now() + 120_000; // liveness only: the boot runs at SCHED_IDLE
    while (!said().includes('standby could not start') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(said(), /^standby could not start: warmup failed on purpose$/m);
    assert.deepEqual(await waitNoStandbys(failing, 120_000), []);
    assert.deepEqual(readySockets(failing), []);

    const pool = prewarm(shim, rehearsing);
    assert.equal(pool, failing);
    await waitReady(pool, 1);
    const pid = socketPid(readySockets(pool)[0]!);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(notes, String(pid)), 'utf8')), []);
    const r = spawnSync(shim, ['-v'], { env: { ...process.env, ...rehearsing }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^io\.containerd\.warmup\.v1:/);
    assert.match(
      traceLines(log).join('\n'),
      new RegExp(`^flags warm standby=${pid} status=0`, 'm'),
    );
  });

  it('a launcher without a configuration, and bad package command lines, fail clearly', () => {
    const bare = [
      path.join(top, 'build', 'Release', 'containerd-shim-launcher'),
      path.join(top, 'prebuilds', `linux-${process.arch}`, 'containerd-shim-launcher'),
    ].find((f) => fs.existsSync(f))!;
    const r = spawnSync(bare, ['-v'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /carries no shim configuration: write a shim binary with `containerd-shim package/,
    );

    const cli = (args: string[]): Result => {
      const c = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      return { status: c.status, stdout: c.stdout, stderr: c.stderr };
    };
    assert.equal(cli([]).status, 2);
    assert.match(cli(['package', 'x.js']).stderr, /need <entry\.js> and -o <binary>/);
    assert.equal(cli(['package', 'x.js', '--nope']).status, 2);
    const missing = cli(['package', path.join(dir, 'missing.js'), '-o', path.join(dir, 'out')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /entry script .*missing\.js is not a file \(ENOENT\)/);
    assert.ok(!fs.existsSync(path.join(dir, 'out')));
    // A packaged binary is no launcher to package again (it would carry two trailers).
    assert.throws(
      () =>
        packageShim({
          entry: path.join(top, 'dist', 'examples', 'skeleton', 'main.js'),
          output: path.join(dir, 'twice'),
          launcher: binary,
        }),
      { code: 'ERR_INVALID_ARG_VALUE', message: /is already a packaged shim/ },
    );
  });
});

/** Connect + Shutdown on the address `start` printed (a BootstrapResult), until it is gone. */
async function stop(output: string): Promise<void> {
  const address = protos.bootstrap.BootstrapResult.decode(Buffer.from(output, 'latin1')).address;
  const client = await Client.connect(address);
  const task = new TaskClient(client);
  await task.connect({ id: 'launcher-test' });
  await task.shutdown({ id: 'launcher-test' }).catch(() => undefined);
  await client.closedPromise;
  const file = address.replace('unix://', '');
  const until = Date.now() + 20_000;
  while (fs.existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}
