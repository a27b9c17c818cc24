// The TypeScript runc shim against containerd-shim-runc-v2, scenario by scenario, under the same
// private containerd, for every containerd generation (1.6, 1.7, 2.1: each with its own runc-v2 as
// the reference), plus a "loaded" pass beside two CPU-bound loops: each scenario runs under both
// runtimes and the observable results (output, exit codes, task status, event topics in order,
// error codes and messages) must match. Every generation runs warm (each start, daemon and delete
// of ours taken by a standby, checked in the launcher's trace); 1.6 also runs with
// CONTAINERD_SHIM_WARM=0 (everything cold); the loaded pass takes whatever the pool has.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { TtrpcError } from '../lib';
import { task as taskProtos } from '../lib/protos/task';
import { SERVING_V8_FLAGS, daemonEnv, daemonNodeOptions } from '../lib/shim/daemon-runtime';
import { requireEnvironment } from './helpers/env';
import { underLoad } from './helpers/load';
import { containerdGenerations, requireContainerd } from './helpers/peers';
import { shimTask } from './helpers/shim-task';
import type { ContainerdGeneration } from './helpers/peers';
import { SHIM_SOCKET_DIR, Testbed } from './helpers/testbed';
import { prewarm, traceLines, waitReady } from './helpers/warm';

const top = path.resolve(__dirname, '..', '..');
const OURS = path.join(top, 'examples', 'runc-shim', 'containerd-shim-runcts-v2');
/** The script that binary (`containerd-shim package`) runs in node. */
const ENTRY = path.join(top, 'dist', 'examples', 'runc-shim', 'main.js');
const RUNTIMES: [string, string][] = [
  ['runc-v2', 'io.containerd.runc.v2'],
  ['runcts', OURS],
];

const deleteResponse = taskProtos.DeleteResponse;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A process's argv, [] once it is gone. */
function readArgv(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

let seq = 0;
const name = (label: string): string => `${label}-${process.pid}-${++seq}`;

async function settle(tb: Testbed): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    const left = await tb.leftovers();
    if (left.shims.length + left.mounts.length + left.sockets.length + left.bundles.length === 0)
      return;
    if (Date.now() > until) assert.fail(`leftovers: ${JSON.stringify(left)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Task topics containerd published for one container, in order, from `ctr events`. */
class EventLog {
  private lines: string[] = [];
  private readonly child;
  private constructor(tb: Testbed) {
    this.child = spawn(tb.ctrPath, ['-a', tb.address, 'events'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // A chunk may end inside a line (it does when ctr is descheduled mid-write under load).
    let partial = '';
    this.child.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      this.lines.push(...lines.filter(Boolean));
    });
  }

  /** Opens the log once `ctr events` is provably subscribed (it sees an event we cause). */
  static async open(tb: Testbed): Promise<EventLog> {
    const log = new EventLog(tb);
    const until = Date.now() + 20_000;
    for (let n = 1; ; n++) {
      const probe = `probe=${process.pid}-${++seq}`;
      await tb.ctr(['namespaces', 'label', tb.namespace, probe]);
      if (log.lines.some((l) => l.includes('/namespaces/update') && l.includes(probe.slice(6))))
        break;
      if (Date.now() > until) assert.fail('ctr events never reported a namespace update');
      await sleep(20 * Math.min(n, 10));
    }
    return log;
  }

  topics(id: string): string[] {
    return this.lines
      .filter((l) => l.includes(`"${id}"`) && / \/tasks\//.test(l))
      .map((l) => /(\/tasks\/[a-z-]+)/.exec(l)![1]!);
  }

  /** Waits (bounded) until `topic` was published for `id`, then closes the log. */
  async closeAfter(id: string, topic: string): Promise<void> {
    const until = Date.now() + 20_000;
    while (!this.topics(id).includes(topic) && Date.now() < until) await sleep(20);
    this.close();
  }

  close(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A call's outcome as comparable data: ok, or the error's code name and message. */
async function outcome(
  call: Promise<unknown>,
): Promise<{ ok: true } | { code: string; message: string }> {
  try {
    await call;
    return { ok: true };
  } catch (err) {
    if (!(err instanceof TtrpcError)) throw err;
    return { code: err.codeName, message: err.message };
  }
}

async function waitStatus(tb: Testbed, id: string, status: string): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    const r = await tb.ctr(['task', 'ls']);
    if (new RegExp(`^${id}\\s+\\d+\\s+${status}`, 'm').test(r.stdout)) return;
    if (Date.now() > until) assert.fail(`task ${id} never became ${status}: ${r.stdout}`);
    await new Promise((r2) => setTimeout(r2, 100));
  }
}

/** Waits (bounded: liveness only) until the container's init created /trap-set in its rootfs. */
async function waitTrapSet(tb: Testbed, id: string): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    const r = await tb.ctr(['task', 'ls']);
    const pid = new RegExp(`^${id}\\s+(\\d+)\\s`, 'm').exec(r.stdout)?.[1];
    if (pid !== undefined && fs.existsSync(`/proc/${pid}/root/trap-set`)) return;
    if (Date.now() > until) assert.fail(`task ${id} never set its TERM trap: ${r.stdout}`);
    await new Promise((r2) => setTimeout(r2, 50));
  }
}

/** Standbys kept ready in a warm pass: the most one scenario uses (2 starts, 1 daemon, 2 deletes). */
const POOL = 6;

/**
 * warm: every action of ours must be taken by a standby (the pool is full before each
 * scenario); cold: none may be (CONTAINERD_SHIM_WARM=0); mixed: whatever the pool has (under
 * load standbys boot slowly at nice 19), both paths being correct.
 */
type Mode = 'warm' | 'cold' | 'mixed';

const MODE_ENV: Record<Mode, Record<string, string>> = {
  warm: { CONTAINERD_SHIM_WARM_POOL: String(POOL), CONTAINERD_SHIM_WARM_IDLE_MS: '600000' },
  cold: { CONTAINERD_SHIM_WARM: '0' },
  mixed: {},
};

function paritySuite(generation: ContainerdGeneration, loaded: boolean, mode: Mode): void {
  const title = `runc shim in TypeScript vs containerd-shim-runc-v2 (containerd ${generation}, ${mode} start${loaded ? ', loaded: two busy loops beside it' : ''})`;
  describe(title, function () {
    this.timeout(180_000);
    let tb: Testbed;
    let rootfsDir: string;
    let traced = 0;

    before(async function () {
      this.timeout(120_000);
      requireEnvironment(
        this,
        { commands: ['runc', 'script'], root: true, files: ['/bin/busybox'] },
        'apt-get install runc busybox-static bsdutils; run as root',
      );
      requireContainerd(this, generation);
      tb = await Testbed.start({ generation, env: MODE_ENV[mode] });
      rootfsDir = path.join(tb.dir, 'rootfs-plain');
      fs.mkdirSync(path.join(rootfsDir, 'bin'), { recursive: true });
      for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfsDir, d));
      fs.copyFileSync('/bin/busybox', path.join(rootfsDir, 'bin', 'busybox'));
      fs.chmodSync(path.join(rootfsDir, 'bin', 'busybox'), 0o755);
      for (const applet of ['sh', 'echo', 'true', 'cat', 'sleep'])
        fs.symlinkSync('busybox', path.join(rootfsDir, 'bin', applet));
    });

    if (loaded) underLoad(2);

    after(async function () {
      this.timeout(120_000);
      await tb?.destroy();
    });

    beforeEach(async function () {
      if (!tb) return;
      if (mode === 'warm') {
        // Every action of ours in the scenario finds a standby: deterministic, not timing-bound.
        this.timeout(180_000);
        await waitReady(prewarm(OURS, tb.env), POOL, 120_000, true);
      }
      traced = traceLines(tb.warmLog).length;
    });

    afterEach(async () => {
      if (!tb) return;
      await settle(tb);
      const lines = traceLines(tb.warmLog)
        .slice(traced)
        .filter((l) => /^(start|delete|daemon) /.test(l));
      if (mode === 'mixed') return;
      // (warm, a delete after the daemon's clean Delete is answered from its receipt)
      const expected =
        mode === 'warm'
          ? /^(start|delete|daemon) warm |^delete receipt: answered without node$/
          : /^(start|delete) cold: /;
      assert.deepEqual(
        lines.filter((l) => !expected.test(l)),
        [],
        `every action of ours ran ${mode}`,
      );
      if (mode === 'cold') assert.deepEqual(tb.standbys(), [], 'no standby when forced cold');
    });

    const both = async <T>(
      scenario: (runtime: string, label: string) => Promise<T>,
    ): Promise<[T, T]> => {
      const results: T[] = [];
      for (const [label, runtime] of RUNTIMES) results.push(await scenario(runtime, label));
      return [results[0]!, results[1]!];
    };

    it('ctr run --rm: echo output and events in order', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const events = await EventLog.open(tb);
        const id = name(label);
        const r = await tb.ctr([
          'run',
          '--rm',
          '--runtime',
          runtime,
          tb.image,
          id,
          'echo',
          'hello',
        ]);
        await events.closeAfter(id, '/tasks/delete');
        return { code: r.code, stdout: r.stdout, topics: events.topics(id) };
      });
      const topics = ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'];
      assert.deepEqual(ts, { code: 0, stdout: 'hello\n', topics }, 'runcts');
      // runc-v2 under containerd 2.1 on a loaded machine sometimes exits before forwarding its
      // /tasks/delete (seen here): the reference may lack that last event, nothing else.
      assert.deepEqual(
        { ...go, topics: go.topics.filter((t) => t !== '/tasks/delete') },
        { code: 0, stdout: 'hello\n', topics: topics.slice(0, 3) },
        'runc-v2',
      );
    });

    // runc-v2 publishes /tasks/oom 2 to 11 times per OOM kill (one per cgroup event it sees), ours
    // 2 to 6: what is compared is what a client relies on, never the count.
    it('OOM: a /tasks/oom event before the exit, status 137', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const events = await EventLog.open(tb);
        const id = name(label);
        const r = await tb.ctr([
          'run',
          '--rm',
          '--runtime',
          runtime,
          '--memory-limit',
          String(16 << 20),
          tb.image,
          id,
          'sh',
          '-c',
          'dd if=/dev/zero of=/dev/null bs=64M count=1',
        ]);
        await events.closeAfter(id, '/tasks/delete');
        const topics = events.topics(id);
        const exitAt = topics.indexOf('/tasks/exit');
        return {
          code: r.code,
          oom: topics.includes('/tasks/oom'),
          oomBeforeExit: exitAt > 0 && topics.slice(0, exitAt).includes('/tasks/oom'),
          others: topics.filter((t) => t !== '/tasks/oom'),
        };
      });
      const others = ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'];
      // Ours always reports the OOM before the exit it caused, then the delete. runc-v2 is less
      // steady (seen here): its /tasks/oom can follow the exit or, under containerd 2.1, be
      // missing (its cgroup v1 watcher loses the race with the exit); its /tasks/delete can be
      // missing too. What they share is the status.
      assert.deepEqual(ts, { code: 137, oom: true, oomBeforeExit: true, others }, 'runcts');
      assert.equal(go.code, 137, `runc-v2: ${JSON.stringify(go)}`);
      if (!go.oom)
        process.stderr.write(`      (runc-v2 published no /tasks/oom: ${JSON.stringify(go)})\n`);
    });

    it("sh -c 'exit 7': the exit status", async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const r = await tb.ctr([
          'run',
          '--rm',
          '--runtime',
          runtime,
          tb.image,
          name(label),
          'sh',
          '-c',
          'exit 7',
        ]);
        return r.code;
      });
      assert.equal(go, 7);
      assert.equal(ts, go);
    });

    it('1 MiB of stdout arrives intact', async () => {
      const line = 'abcdefghijklmnopqrstuvwxyz012345678\n';
      const expected = line.repeat(Math.ceil(1048576 / line.length)).slice(0, 1048576);
      const [go, ts] = await both(async (runtime, label) => {
        const r = await tb.ctr([
          'run',
          '--rm',
          '--runtime',
          runtime,
          tb.image,
          name(label),
          'sh',
          '-c',
          'yes abcdefghijklmnopqrstuvwxyz012345678 | head -c 1048576',
        ]);
        return { code: r.code, stdout: r.stdout };
      });
      assert.equal(ts.code, go.code);
      assert.ok(ts.stdout === expected, `ours: ${ts.stdout.length} bytes, not the 1 MiB written`);
      // The reference itself can lose the tail on a busy machine (seen once: runc-v2 under
      // containerd 2.1 delivered 983040 bytes, the last 64 KiB cut). Ours must be complete;
      // what runc-v2 delivered must still be a prefix of what was written.
      assert.ok(expected.startsWith(go.stdout), 'runc-v2 delivered other bytes than were written');
      if (go.stdout.length !== expected.length)
        console.log(`      (runc-v2 delivered ${go.stdout.length} of 1048576 bytes)`);
    });

    it('--rootfs (no snapshot mounts)', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const r = await tb.ctr([
          'run',
          '--rm',
          '--runtime',
          runtime,
          '--rootfs',
          rootfsDir,
          name(label),
          '/bin/sh',
          '-c',
          'echo plain rootfs; exit 3',
        ]);
        return { code: r.code, stdout: r.stdout, stderr: r.stderr };
      });
      const expected = { code: 3, stdout: 'plain rootfs\n', stderr: '' };
      assert.deepEqual(ts, expected, 'runcts');
      // runc-v2 under containerd 2.1 beside two busy loops once lost this output of a process
      // that exits at once (seen here, in the loaded pass): the reference may lack it, nothing
      // else.
      assert.deepEqual({ ...go, stdout: go.stdout || expected.stdout }, expected, 'runc-v2');
    });

    it('detached: RUNNING, kill SIGTERM, exit status, delete', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        const run = await tb.ctr([
          'run',
          '-d',
          '--runtime',
          runtime,
          tb.image,
          id,
          'sh',
          '-c',
          'trap "exit 143" TERM; touch /trap-set; while true; do sleep 0.1; done',
        ]);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        // A TERM before the shell's trap is set is ignored (it is pid 1): wait for the trap.
        await waitTrapSet(tb, id);
        const kill = await tb.ctr(['task', 'kill', id]);
        await waitStatus(tb, id, 'STOPPED');
        const del = await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        return { kill: kill.code, delete: del.code, output: del.stdout.replace(id, 'ID') };
      });
      assert.equal(go.kill, 0);
      assert.deepEqual(ts, go);
    });

    // Ours sends the create and start events after the answers they follow (while runc start
    // runs; once Start's answer is out): a container that keeps running, whose exit cannot flush
    // them, still has both published, in order.
    it('detached: /tasks/create and /tasks/start published while the container runs', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const events = await EventLog.open(tb);
        const id = name(label);
        try {
          const run = await tb.ctr([
            'run',
            '-d',
            '--runtime',
            runtime,
            tb.image,
            id,
            'sleep',
            '300',
          ]);
          assert.equal(run.code, 0, run.stderr);
          await events.closeAfter(id, '/tasks/start');
          return events.topics(id);
        } finally {
          events.close();
          await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
          await waitStatus(tb, id, 'STOPPED').catch(() => undefined);
          await tb.ctr(['task', 'delete', id]);
          await tb.ctr(['container', 'delete', id]);
        }
      });
      assert.deepEqual(ts, ['/tasks/create', '/tasks/start'], 'runcts');
      assert.deepEqual(go, ts, 'runc-v2');
    });

    it('exec: output and exit code, an exec that exits before Start returns, 20 in parallel', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        const run = await tb.ctr(['run', '-d', '--runtime', runtime, tb.image, id, 'sleep', '300']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        const one = await tb.ctr([
          'task',
          'exec',
          '--exec-id',
          'one',
          id,
          'sh',
          '-c',
          'echo from exec; exit 3',
        ]);
        const quick = await tb.ctr(['task', 'exec', '--exec-id', 'quick', id, 'true']);
        const parallel = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            tb.ctr([
              'task',
              'exec',
              '--exec-id',
              `p${i}`,
              id,
              'sh',
              '-c',
              `echo ${i}; exit ${i % 4}`,
            ]),
          ),
        );
        await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitStatus(tb, id, 'STOPPED');
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        return {
          one: [one.code, one.stdout],
          quick: quick.code,
          parallel: parallel.map((p) => [p.code, p.stdout]),
        };
      });
      const expected = {
        one: [3, 'from exec\n'],
        quick: 0,
        parallel: Array.from({ length: 20 }, (_, i) => [i % 4, `${i}\n`]),
      };
      assert.deepEqual(ts, expected, 'runcts');
      // Under containerd 1.6 on a loaded machine runc-v2's execs sometimes reach ctr without
      // their output (seen here: 2 of 20 parallel ones, another time the single one, exit codes
      // right): the reference may lose an exec's output, nothing else.
      assert.deepEqual(
        {
          ...go,
          one: [go.one[0], go.one[1] === '' ? 'from exec\n' : go.one[1]],
          parallel: go.parallel.map(([code, out], i) => [code, out === '' ? `${i}\n` : out]),
        },
        expected,
        'runc-v2',
      );
    });

    it('two containers grouped into one shim; nothing is left once both are deleted', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const group = name(`group-${label}`);
        const ids = [name(label), name(label)];
        for (const id of ids) {
          const run = await tb.ctr([
            'run',
            '-d',
            '--runtime',
            runtime,
            '--annotation',
            `io.containerd.runc.v2.group=${group}`,
            tb.image,
            id,
            'sleep',
            '300',
          ]);
          assert.equal(run.code, 0, run.stderr);
          await waitStatus(tb, id, 'RUNNING');
        }
        const shims = tb.findShims().length;
        for (const id of ids) {
          await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
          await waitStatus(tb, id, 'STOPPED');
          await tb.ctr(['task', 'delete', id]);
          await tb.ctr(['container', 'delete', id]);
        }
        // The group's socket, once its shim is gone (bounded wait).
        const socket = path.join(
          SHIM_SOCKET_DIR,
          createHash('sha256')
            .update(path.join(tb.address, tb.namespace, group))
            .digest('hex'),
        );
        const until = Date.now() + 10_000;
        while ((tb.findShims().length > 0 || fs.existsSync(socket)) && Date.now() < until)
          await sleep(50);
        const socketLeft = fs.existsSync(socket);
        // runc-v2 2.x leaves it: its shim looks for the address file in the bundle of the
        // container that started it, which containerd has removed by then. Not ours to keep.
        if (socketLeft) fs.rmSync(socket, { force: true });
        return { shims, socketLeft };
      });
      assert.deepEqual(ts, { shims: 1, socketLeft: false });
      assert.equal(go.shims, 1);
      if (generation !== '2.1') assert.equal(go.socketLeft, false);
    });

    it('RUNCTS_SHIM_GROUP=namespace: one shim serves the namespace; nothing is left after', async () => {
      // containerd passes its environment to `start`: a wrapper stands in for a containerd
      // started with the variable set.
      const grouped = path.join(tb.dir, 'containerd-shim-runcts-grouped');
      fs.writeFileSync(grouped, `#!/bin/sh\nRUNCTS_SHIM_GROUP=namespace exec ${OURS} "$@"\n`, {
        mode: 0o755,
      });
      const ids = [name('ns-group'), name('ns-group'), name('ns-group')];
      for (const id of ids) {
        const run = await tb.ctr(['run', '-d', '--runtime', grouped, tb.image, id, 'sleep', '300']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
      }
      const shims = tb.findShims();
      for (const id of ids) {
        await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitStatus(tb, id, 'STOPPED');
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
      }
      assert.equal(shims.length, 1, `one shim for the namespace: ${shims.join(' ')}`);
      // afterEach's settle(): no shim, mount, socket or bundle is left
    });

    it('the daemon runs with the daemon runtime settings (node options, environment)', async () => {
      const id = name('settings');
      // The daemon logs its V8 flags at debug: a wrapper stands in for containerd at level debug,
      // which passes -debug to `start` (and so to the daemon).
      const debug = path.join(tb.dir, 'containerd-shim-runcts-debug');
      fs.writeFileSync(debug, `#!/bin/sh\nexec ${OURS} -debug "$@"\n`, { mode: 0o755 });
      const run = await tb.ctr(['run', '-d', '--runtime', debug, tb.image, id, 'sleep', '300']);
      assert.equal(run.code, 0, run.stderr);
      try {
        await waitStatus(tb, id, 'RUNNING');
        const pid = tb.findShims().find((p) => readArgv(p).includes(id));
        assert.ok(pid !== undefined, 'the shim daemon of the container');
        const argv = readArgv(pid);
        const options = daemonNodeOptions();
        assert.equal(argv[0], process.execPath);
        assert.deepEqual(argv.slice(1, 1 + options.length), options);
        // the entry script the packaged binary runs (examples/runc-shim/main.ts), run to serve
        assert.equal(argv[1 + options.length], ENTRY);
        const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        // containerd's own variables are still there, next to the daemon's settings
        assert.ok(environ.includes(`TTRPC_ADDRESS=${tb.ttrpcAddress}`), 'TTRPC_ADDRESS');
        for (const [key, value] of Object.entries(daemonEnv({}))) {
          const expected = process.env[key] ?? value; // an operator's setting wins
          assert.ok(environ.includes(`${key}=${expected}`), `${key}=${expected} in the environ`);
        }
        // The V8 flags it sets on itself once start-up is over (cold and adopted alike), at its
        // first memory release 10 s after it serves, as it logged them: `level=debug
        // msg="start-up over" … id=<id> v8Flags="[…]"` in the log containerd copies.
        const startUpOver = (): string | undefined =>
          fs
            .readFileSync(tb.logPath, 'utf8')
            .split('\n')
            .find((l) => l.includes('level=debug msg="start-up over"') && l.includes(`id=${id} `));
        const deadline = Date.now() + 40_000;
        while (startUpOver() === undefined && Date.now() < deadline) await sleep(100);
        const line = startUpOver();
        assert.ok(line !== undefined, `no "start-up over" line for ${id}\n${tb.logTail()}`);
        const flags = / v8Flags=("(?:[^"\\]|\\.)*")/.exec(line);
        assert.ok(flags, line);
        assert.deepEqual(JSON.parse(JSON.parse(flags[1]!) as string), SERVING_V8_FLAGS);
      } finally {
        await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitStatus(tb, id, 'STOPPED');
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
      }
    });

    it('pause/resume, ps, metrics', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        const run = await tb.ctr(['run', '-d', '--runtime', runtime, tb.image, id, 'sleep', '300']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        await tb.ctr(['task', 'pause', id]);
        const paused = /PAUSED/.test((await tb.ctr(['task', 'ls'])).stdout);
        await tb.ctr(['task', 'resume', id]);
        const resumed = new RegExp(`${id}\\s+\\d+\\s+RUNNING`).test(
          (await tb.ctr(['task', 'ls'])).stdout,
        );
        const ps = await tb.ctr(['task', 'ps', id]);
        const metrics = await tb.ctr(['task', 'metrics', id]);
        await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitStatus(tb, id, 'STOPPED');
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        const psLines = ps.stdout.trim().split('\n');
        return {
          paused,
          resumed,
          psHeader: psLines[0]!.trim().split(/\s+/),
          psCount: psLines.length - 1,
          metricsCode: metrics.code,
          memory:
            /memory\.usage_in_bytes\s+\d+/.test(metrics.stdout) ||
            /memory\.usage\s+\d+/.test(metrics.stdout),
          cpu:
            /cpuacct\.usage\s+\d+/.test(metrics.stdout) ||
            /cpu\.usage_usec\s+\d+/.test(metrics.stdout),
        };
      });
      assert.deepEqual(go, {
        paused: true,
        resumed: true,
        psHeader: ['PID', 'INFO'],
        psCount: 1,
        metricsCode: 0,
        memory: true,
        cpu: true,
      });
      assert.deepEqual(ts, go);
    });

    it('a terminal container (-t), driven through a pty', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        tb.noteId(id);
        const cmd = `${tb.ctrPath} -a ${tb.address} -n ${tb.namespace} run -t --rm --fifo-dir ${tb.fifoDir} --runtime ${runtime} ${tb.image} ${id} sh`;
        const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const until = Date.now() + 20_000;
        while (!/# /.test(out) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        // The result is read before the shell exits: output a session leader writes right before
        // its exit can be lost in the pty's hangup under CPU load (seen for ours; cause unproven), for
        // either shim; this test is about the terminal, not that race.
        child.stdin.write('tty; echo "sum=$((6*7))"\n');
        while (!/sum=42/.test(out) && Date.now() < until)
          await new Promise((r) => setTimeout(r, 50));
        child.stdin.write('exit 5\n');
        const code = await new Promise<number | null>((resolve) =>
          child.on('exit', (c) => resolve(c)),
        );
        // The shell's result (the typed line holds `$((6*7))`, never `42`), wherever the pty's
        // echo of input typed ahead of the prompt put it.
        return { code, tty: /\/dev\/pts\/\d+/.test(out), typed: /sum=42/.test(out), out };
      });
      const { out: goOut, ...goResult } = go;
      const { out: tsOut, ...tsResult } = ts;
      assert.deepEqual(goResult, { code: 5, tty: true, typed: true }, goOut);
      assert.deepEqual(tsResult, goResult, tsOut);
    });

    /** Runs `command` under script(1): a pty of `cols`x`rows` for ctr's console. */
    const inPty = (command: string, cols = 91, rows = 33) => {
      const child = spawn(
        'script',
        ['-qefc', `stty cols ${cols} rows ${rows}; ${command}`, '/dev/null'],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      return { child, output: () => out, exited };
    };

    const ctrCmd = (args: string): string =>
      `${tb.ctrPath} -a ${tb.address} -n ${tb.namespace} ${args}`;

    it('ResizePty: the window size reaches the shell; after the init exited ResizePty still succeeds', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        // Interactive: the first command typed at the prompt sees ctr's window size.
        const id = name(label);
        const sh = inPty(
          ctrCmd(`run -t --rm --fifo-dir ${tb.fifoDir} --runtime ${runtime} ${tb.image} ${id} sh`),
        );
        const until = Date.now() + 20_000;
        while (!/# /.test(sh.output()) && Date.now() < until) await sleep(50);
        // ctr resizes only after Start returns: ask until the size arrived (bounded).
        for (let n = 0; !/^33 91\r?$/m.test(sh.output()) && Date.now() < until; n++) {
          sh.child.stdin.write('stty size\n');
          await sleep(100 * Math.min(n + 1, 5));
        }
        sh.child.stdin.write('exit 5\n');
        const code = await sh.exited;
        // A command that is gone before ctr's initial ResizePty arrives: ctr must log no error.
        const quick = inPty(
          ctrCmd(
            `run -t --rm --fifo-dir ${tb.fifoDir} --runtime ${runtime} ${tb.image} ${name(label)} true`,
          ),
        );
        const quickCode = await quick.exited;
        // Deterministically after the exit: a stopped terminal task, resized before Delete.
        const stoppedId = name(label);
        const detached = inPty(
          ctrCmd(
            `run -d -t --fifo-dir ${tb.fifoDir} --runtime ${runtime} ${tb.image} ${stoppedId} true`,
          ),
        );
        assert.equal(await detached.exited, 0, detached.output());
        await waitStatus(tb, stoppedId, 'STOPPED');
        const shim = await shimTask(tb, stoppedId);
        const afterExit = await outcome(
          shim.task.resizePty({ id: stoppedId, execId: '', width: 100, height: 40 }),
        );
        shim.close();
        await tb.ctr(['task', 'delete', stoppedId]);
        await tb.ctr(['container', 'delete', stoppedId]);
        return {
          code,
          size: /^33 91\r?$/m.test(sh.output()),
          resizeErrors: [sh.output(), quick.output()].filter((o) => /resize/i.test(o)).length,
          quickCode,
          afterExit,
        };
      });
      assert.deepEqual(go, {
        code: 5,
        size: true,
        resizeErrors: 0,
        quickCode: 0,
        afterExit: { ok: true },
      });
      assert.deepEqual(ts, go);
    });

    const LINUX_RESOURCES = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
    const resources = (value: object) => ({
      type_url: LINUX_RESOURCES,
      value: Buffer.from(JSON.stringify(value)),
    });

    it('Update on a stopped task: UNKNOWN "cannot update a stopped container"', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        const run = await tb.ctr(['run', '-d', '--runtime', runtime, tb.image, id, 'true']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'STOPPED');
        const shim = await shimTask(tb, id);
        const update = await outcome(
          shim.task.update({ id, resources: resources({ memory: { limit: 64 << 20 } }) }),
        );
        shim.close();
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        return update;
      });
      assert.deepEqual(go, { code: 'UNKNOWN', message: 'cannot update a stopped container' });
      assert.deepEqual(ts, go);
    });

    it("a failing runc command: go-runc's message, `runc did not terminate successfully: exit status 1: …`", async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        const run = await tb.ctr(['run', '-d', '--runtime', runtime, tb.image, id, 'sleep', '300']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        const shim = await shimTask(tb, id);
        const update = await outcome(
          shim.task.update({ id, resources: resources({ cpu: { cpus: '77' } }) }),
        );
        shim.close();
        await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitStatus(tb, id, 'STOPPED');
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        return 'message' in update
          ? { ...update, message: update.message.split(id).join('ID') }
          : update;
      });
      assert.equal((go as { code: string }).code, 'UNKNOWN');
      assert.match(
        (go as { message: string }).message,
        /^runc did not terminate successfully: exit status 1: \S/,
      );
      assert.deepEqual(ts, go);
    });

    it('Checkpoint: criu works in <bundle>/criu-work; a failure keeps criu-dump.log in the bundle and names it', async function () {
      requireEnvironment(this, { commands: ['criu'] }, 'apt-get install criu');
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        const bundle = path.join(tb.bundleRoot, id);
        const run = await tb.ctr(['run', '-d', '--runtime', runtime, tb.image, id, 'sleep', '300']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        const r = await tb.ctr(['containers', 'checkpoint', '--task', id, `checkpoint/${id}:1`]);
        const files = fs.readdirSync(bundle);
        await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitStatus(tb, id, 'STOPPED');
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        await tb.ctr(['images', 'rm', `checkpoint/${id}:1`]);
        return {
          code: r.code,
          stderr: r.stderr.split(bundle).join('BUNDLE').split(id).join('ID'),
          dumpLog: files.includes('criu-dump.log'),
          workLeft: files.includes('criu-work'),
        };
      });
      if (go.code !== 0) {
        assert.match(go.stderr, /path= BUNDLE\/criu-dump\.log/);
        assert.equal(go.dumpLog, true);
      }
      assert.equal(go.workLeft, false);
      assert.deepEqual(ts, go);
    });

    it("runc failures in runc-v2's words: create, exec, resume, kill and pause of a stopped task", async () => {
      const [go, ts] = await both(async (runtime, label) => {
        // ctr's own line; ours also shows runc's message on the container's stderr (README).
        const said = (r: { stderr: string }, id: string): string =>
          r.stderr
            .split('\n')
            .filter((l) => l.startsWith('ctr: '))
            .join('\n')
            .split(id)
            .join('ID');
        const missing = name(label);
        const create = await tb.ctr([
          'run',
          '--rm',
          '--runtime',
          runtime,
          tb.image,
          missing,
          '/nope',
        ]);
        const id = name(label);
        const run = await tb.ctr(['run', '-d', '--runtime', runtime, tb.image, id, 'sleep', '300']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        const exec = await tb.ctr(['task', 'exec', '--exec-id', 'x', id, '/nope']);
        const resume = await tb.ctr(['task', 'resume', id]);
        await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitStatus(tb, id, 'STOPPED');
        const kill = await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        const pause = await tb.ctr(['task', 'pause', id]);
        await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        return {
          create: [create.code, said(create, missing)],
          exec: [exec.code, said(exec, id)],
          resume: [resume.code, said(resume, id)],
          kill: [kill.code, said(kill, id)],
          pause: [pause.code, said(pause, id)],
        };
      });
      assert.equal(go.create[0], 1);
      assert.match(
        go.create[1] as string,
        /^ctr: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "\/nope": stat \/nope: no such file or directory(: unknown)?$/,
      );
      assert.match(go.exec[1] as string, /^ctr: OCI runtime exec failed: exec failed: .*"\/nope"/);
      assert.match(go.kill[1] as string, /^ctr: process already finished: not found/);
      assert.deepEqual(ts, go);
    });

    it('an exec that fails to start: Wait answers at once, Kill and Delete as runc-v2 answers', async () => {
      const [go, ts] = await both(async (runtime, label) => {
        const id = name(label);
        const run = await tb.ctr(['run', '-d', '--runtime', runtime, tb.image, id, 'sleep', '300']);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        // Talk to the shim as containerd does: add an exec of a missing command and start it.
        const spec = JSON.parse(
          fs.readFileSync(path.join(tb.bundleRoot, id, 'config.json'), 'utf8'),
        ) as { process: object };
        const shim = await shimTask(tb, id);
        const opts = {
          metadata: { 'containerd-namespace-ttrpc': tb.namespace },
          timeoutMs: 20_000,
        };
        try {
          await shim.task.exec(
            {
              id,
              execId: 'bad',
              spec: {
                type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
                value: Buffer.from(JSON.stringify({ ...spec.process, args: ['/nope'] })),
              },
            },
            opts,
          );
          const start = await outcome(shim.task.start({ id, execId: 'bad' }, opts));
          // Without an answer here containerd 1.6 waits a minute (ExecSync of a missing command).
          const wait = await shim.task.wait({ id, execId: 'bad' }, opts);
          const kill = await outcome(shim.task.kill({ id, execId: 'bad', signal: 9 }, opts));
          const del = await outcome(shim.task.delete({ id, execId: 'bad' }, opts));
          return {
            start:
              'code' in start
                ? [
                    start.code,
                    /^OCI runtime exec failed: exec failed: .*"\/nope"/.test(start.message),
                  ]
                : start,
            waitStatus: wait.exitStatus,
            kill,
            delete: del,
          };
        } finally {
          shim.close();
          await tb.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
          await waitStatus(tb, id, 'STOPPED');
          await tb.ctr(['task', 'delete', id]);
          await tb.ctr(['container', 'delete', id]);
        }
      });
      assert.deepEqual(go, {
        start: ['UNKNOWN', true],
        waitStatus: 0,
        kill: { code: 'FAILED_PRECONDITION', message: 'process not created: failed precondition' },
        delete: { ok: true },
      });
      assert.deepEqual(ts, go);
    });

    it('`delete` with a missing bundle exits 0 with a DeleteResponse (as runc-v2 2.x)', async () => {
      const work = fs.mkdtempSync(path.join(tb.dir, 'gone-'));
      const id = name('gone');
      const run = (binary: string) =>
        new Promise<{ code: number | null; response: object }>((resolve) => {
          const child = spawn(
            binary,
            [
              '-namespace',
              tb.namespace,
              '-address',
              tb.address,
              '-id',
              id,
              '-bundle',
              path.join(work, id),
              'delete',
            ],
            { cwd: work, stdio: ['ignore', 'pipe', 'ignore'], env: tb.containerdEnv },
          );
          const out: Buffer[] = [];
          child.stdout.on('data', (d: Buffer) => out.push(d));
          child.on('close', (code) => {
            const r = deleteResponse.decode(Buffer.concat(out));
            resolve({
              code,
              response: { pid: r.pid, exitStatus: r.exitStatus, exitedAt: r.exitedAt != null },
            });
          });
        });
      const go = await run(tb.peer.shimRuncV2);
      const ts = await run(OURS);
      fs.rmSync(work, { recursive: true, force: true });
      const expected = { code: 0, response: { pid: 4294967295, exitStatus: 137, exitedAt: true } };
      // 1.x's runc-v2 still fails here (it reads <bundle>/runtime); ours answers like 2.x's.
      if (generation === '2.1') assert.deepEqual(go, expected);
      assert.deepEqual(ts, expected);
    });
  });
}

for (const generation of containerdGenerations()) paritySuite(generation, false, 'warm');
// The cold path (no standby, or CONTAINERD_SHIM_WARM=0) does not depend on the generation.
paritySuite('1.6', false, 'cold');
// The loaded pass runs where users are: the newest generation (CONTAINERD_LOADED narrows or widens it).
for (const generation of containerdGenerations().filter((g) =>
  (process.env.CONTAINERD_LOADED ?? '2.1').split(',').includes(g),
))
  paritySuite(generation, true, 'mixed');
