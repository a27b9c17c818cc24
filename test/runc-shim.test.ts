// The TypeScript runc shim against containerd-shim-runc-v2, scenario by scenario, under the same
// private containerd 1.6: each scenario runs under both runtimes and the observable results
// (output, exit codes, task status, event topics in order) must match. The whole suite runs
// twice: with warm start (every start, daemon and delete of ours handed to a standby, checked in
// the launcher's trace) and with CONTAINERD_SHIM_WARM=0 (everything cold).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { requireEnvironment } from './helpers/env';
import { Testbed } from './helpers/testbed';
import { prewarm, traceLines, waitReady } from './helpers/warm';

const top = path.resolve(__dirname, '..', '..');
const OURS = path.join(top, 'examples', 'runc-shim', 'containerd-shim-runcts-v2');
const RUNTIMES: [string, string][] = [
  ['runc-v2', 'io.containerd.runc.v2'],
  ['runcts', OURS],
];

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
    this.child = spawn('ctr', ['-a', tb.address, 'events'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.child.stdout.on('data', (d: Buffer) =>
      this.lines.push(...d.toString().split('\n').filter(Boolean)),
    );
  }
  static async open(tb: Testbed): Promise<EventLog> {
    const log = new EventLog(tb);
    await new Promise((r) => setTimeout(r, 300)); // ctr events subscribes asynchronously
    return log;
  }
  topics(id: string): string[] {
    return this.lines
      .filter((l) => l.includes(`"${id}"`) && / \/tasks\//.test(l))
      .map((l) => /(\/tasks\/[a-z-]+)/.exec(l)![1]!);
  }
  close(): void {
    if (this.child.pid) process.kill(this.child.pid, 'SIGKILL');
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

/** Standbys kept ready in the warm run: the most one scenario uses (2 starts, 1 daemon, 2 deletes). */
const POOL = 6;

const MODES = {
  warm: { CONTAINERD_SHIM_WARM_POOL: String(POOL), CONTAINERD_SHIM_WARM_IDLE_MS: '600000' },
  cold: { CONTAINERD_SHIM_WARM: '0' },
} as const;

for (const [mode, env] of Object.entries(MODES))
  describe(`runc shim in TypeScript vs containerd-shim-runc-v2 (${mode} start)`, function () {
    this.timeout(180_000);
    let tb: Testbed;
    let rootfsDir: string;
    let traced = 0;

    before(async function () {
      requireEnvironment(
        this,
        {
          commands: ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2', 'script'],
          root: true,
          files: ['/bin/busybox'],
        },
        'apt-get install containerd runc busybox-static bsdutils; run as root',
      );
      tb = await Testbed.start({ env });
      rootfsDir = path.join(tb.dir, 'rootfs-plain');
      fs.mkdirSync(path.join(rootfsDir, 'bin'), { recursive: true });
      for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfsDir, d));
      fs.copyFileSync('/bin/busybox', path.join(rootfsDir, 'bin', 'busybox'));
      fs.chmodSync(path.join(rootfsDir, 'bin', 'busybox'), 0o755);
      for (const applet of ['sh', 'echo', 'true', 'cat', 'sleep'])
        fs.symlinkSync('busybox', path.join(rootfsDir, 'bin', applet));
    });

    after(async () => {
      await tb?.destroy();
    });

    beforeEach(async () => {
      if (!tb) return;
      if (mode === 'warm') {
        // Every action of ours in the scenario finds a standby: deterministic, not timing-bound.
        await waitReady(prewarm(OURS, tb.env), POOL);
      }
      traced = traceLines(tb.warmLog).length;
    });

    afterEach(async () => {
      if (!tb) return;
      await settle(tb);
      const lines = traceLines(tb.warmLog)
        .slice(traced)
        .filter((l) => /^(start|delete|daemon) /.test(l));
      assert.ok(
        lines.some((l) => l.startsWith('start ')),
        'our shim was started',
      );
      const expected = mode === 'warm' ? /^(start|delete|daemon) warm / : /^(start|delete) cold: /;
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
        await new Promise((res) => setTimeout(res, 300));
        events.close();
        return { code: r.code, stdout: r.stdout, topics: events.topics(id) };
      });
      assert.deepEqual(go, {
        code: 0,
        stdout: 'hello\n',
        topics: ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'],
      });
      assert.deepEqual(ts, go);
    });

    it('OOM: the /tasks/oom event before the exit, status 137', async () => {
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
        await new Promise((res) => setTimeout(res, 300));
        events.close();
        return { code: r.code, topics: events.topics(id) };
      });
      assert.deepEqual(go, {
        code: 137,
        topics: ['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit', '/tasks/delete'],
      });
      assert.deepEqual(ts, go);
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
        return {
          code: r.code,
          length: r.stdout.length,
          sha: createHash('sha256').update(r.stdout).digest('hex'),
        };
      });
      assert.equal(go.length, 1048576);
      assert.deepEqual(ts, go);
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
      assert.deepEqual(go, { code: 3, stdout: 'plain rootfs\n', stderr: '' });
      assert.deepEqual(ts, go);
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
          'trap "exit 143" TERM; while true; do sleep 0.1; done',
        ]);
        assert.equal(run.code, 0, run.stderr);
        await waitStatus(tb, id, 'RUNNING');
        const kill = await tb.ctr(['task', 'kill', id]);
        await waitStatus(tb, id, 'STOPPED');
        const del = await tb.ctr(['task', 'delete', id]);
        await tb.ctr(['container', 'delete', id]);
        return { kill: kill.code, delete: del.code, output: del.stdout.replace(id, 'ID') };
      });
      assert.equal(go.kill, 0);
      assert.deepEqual(ts, go);
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
      assert.deepEqual(go.one, [3, 'from exec\n']);
      assert.equal(go.quick, 0);
      assert.deepEqual(ts, go);
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
        return { shims };
      });
      assert.deepEqual(go, { shims: 1 });
      assert.deepEqual(ts, go);
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
        const cmd = `ctr -a ${tb.address} -n ${tb.namespace} run -t --rm --fifo-dir ${tb.fifoDir} --runtime ${runtime} ${tb.image} ${id} sh`;
        const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const until = Date.now() + 20_000;
        while (!/# /.test(out) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        child.stdin.write('tty; echo "sum=$((6*7))"; exit 5\n');
        const code = await new Promise<number | null>((resolve) =>
          child.on('exit', (c) => resolve(c)),
        );
        return { code, tty: /\/dev\/pts\/\d+/.test(out), typed: /^sum=42\r?\r?$/m.test(out) };
      });
      assert.deepEqual(go, { code: 5, tty: true, typed: true });
      assert.deepEqual(ts, go);
    });
  });
