// The runc shim's output FIFOs with real containerd and runc, but with FIFOs the test creates and
// hands to the shim itself (as containerd's client would), so the test decides when a reader
// opens and how fast it reads. Without a terminal the process writes into the FIFO directly: the
// bytes it leaves there must survive its exit until a reader took them, and its exit is reported
// only once they were read (or the drain bound passed).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { TaskClient, TaskV3Client } from '../lib';
import { DRAIN_TIMEOUT_MS } from '../examples/runc-shim/stdio';
import { requireEnvironment } from './helpers/env';
import { requireContainerd } from './helpers/peers';
import { shimTask } from './helpers/shim-task';
import { Testbed } from './helpers/testbed';

const top = path.resolve(__dirname, '..', '..');
const OURS = path.join(top, 'examples', 'runc-shim', 'containerd-shim-runcts-v2');
const { O_RDONLY, O_NONBLOCK } = fs.constants;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What `yes <word> | head -c <n>` writes. */
const yes = (word: string, n: number): string =>
  `${word}\n`.repeat(Math.ceil(n / (word.length + 1))).slice(0, n);

/** Reads what a non-blocking fd has now: the bytes, and whether it reached EOF. */
function readNow(fd: number, max = 1 << 20): { data: Buffer; eof: boolean } {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const buf = Buffer.alloc(Math.min(64 * 1024, max - size));
    if (buf.length === 0) return { data: Buffer.concat(chunks), eof: false };
    let n: number;
    try {
      n = fs.readSync(fd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN')
        return { data: Buffer.concat(chunks), eof: false };
      throw err;
    }
    if (n === 0) return { data: Buffer.concat(chunks), eof: true };
    chunks.push(buf.subarray(0, n));
    size += n;
  }
}

describe('runc shim: output FIFOs keep what the process wrote until it is read', function () {
  this.timeout(120_000);
  let tb: Testbed;
  let dir: string;
  let id: string;
  let shim: { task: TaskClient | TaskV3Client; close(): void } | undefined;
  let processSpec: object;
  let seq = 0;
  const opts = () => ({
    metadata: { 'containerd-namespace-ttrpc': tb.namespace },
    timeoutMs: 30_000,
  });

  before(async function () {
    this.timeout(120_000);
    requireEnvironment(
      this,
      { commands: ['runc', 'mkfifo'], root: true, files: ['/bin/busybox'] },
      'apt-get install runc busybox-static; run as root',
    );
    requireContainerd(this, '1.6');
    tb = await Testbed.start({ env: { CONTAINERD_SHIM_WARM: '0' } });
    dir = fs.mkdtempSync(path.join(tb.dir, 'fifos-'));
    id = `stdio-${process.pid}`;
    const run = await tb.ctr(['run', '-d', '--runtime', OURS, tb.image, id, 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    shim = await shimTask(tb, id);
    const config = path.join(tb.bundleRoot, id, 'config.json');
    processSpec = (JSON.parse(fs.readFileSync(config, 'utf8')) as { process: object }).process;
  });

  after(async function () {
    this.timeout(120_000);
    shim?.close();
    await tb?.destroy();
  });

  /** A FIFO of our own, as containerd's client creates them. */
  function fifo(): string {
    const p = path.join(dir, `out-${++seq}`);
    execFileSync('mkfifo', [p]);
    return p;
  }

  /** Adds and starts an exec running `sh -c script` with `stdout` as its stdout. */
  async function exec(execId: string, stdout: string, script: string): Promise<void> {
    await shim!.task.exec(
      {
        id,
        execId,
        stdout,
        spec: {
          type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
          value: Buffer.from(JSON.stringify({ ...processSpec, args: ['sh', '-c', script] })),
        },
      },
      opts(),
    );
    await shim!.task.start({ id, execId }, opts());
  }

  /** Which fds of this testbed's shims are open on `file`, as `pid/fd`. */
  function holders(file: string): string[] {
    const { dev, ino } = fs.statSync(file);
    const found: string[] = [];
    for (const pid of tb.findShims()) {
      let fds: string[];
      try {
        fds = fs.readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          const st = fs.statSync(`/proc/${pid}/fd/${fd}`);
          if (st.dev === dev && st.ino === ino) found.push(`${pid}/${fd}`);
        } catch {
          // closed meanwhile
        }
      }
    }
    return found;
  }

  it('a reader that opens only after the exit was reported still gets everything; EOF at Delete', async () => {
    const out = fifo();
    const expected = yes('late-reader', 30_000); // fits in the FIFO: the process never blocks
    await exec('late', out, 'yes late-reader | head -c 30000');
    const wait = await shim!.task.wait({ id, execId: 'late' }, opts());
    assert.equal(wait.exitStatus, 0);
    // The exit is reported; nobody ever had the FIFO open for reading until now.
    const reader = fs.openSync(out, O_RDONLY | O_NONBLOCK);
    try {
      const got = readNow(reader);
      assert.equal(got.data.length, expected.length, 'bytes the late reader got');
      assert.ok(got.data.toString() === expected, 'what the process wrote');
      assert.equal(got.eof, false, 'the shim holds the FIFO (EOF comes at Delete)');
      await shim!.task.delete({ id, execId: 'late' }, opts());
      assert.deepEqual(holders(out), [], 'Delete released the FIFO');
      assert.deepEqual(readNow(reader), { data: Buffer.alloc(0), eof: true });
    } finally {
      fs.closeSync(reader);
    }
  });

  it('a slow reader: the exit is reported once the FIFO was read empty (or the bound passed), then EOF', async () => {
    const out = fifo();
    const total = 48_000;
    const reader = fs.openSync(out, O_RDONLY | O_NONBLOCK);
    try {
      const since = Date.now();
      await exec('slow', out, `yes slow-reader | head -c ${total}`);
      let read = 0;
      const waited = shim!.task
        .wait({ id, execId: 'slow' }, opts())
        .then((w) => ({ status: w.exitStatus, read, after: Date.now() - since }));
      // 4 KiB every 20 ms: the exit happens long before this reader is done.
      const chunks: Buffer[] = [];
      const until = Date.now() + 30_000; // liveness only
      for (;;) {
        const got = readNow(reader, 4096);
        chunks.push(got.data);
        read += got.data.length;
        if (got.eof) break;
        assert.ok(Date.now() < until, `no EOF after ${read} bytes`);
        await sleep(20);
      }
      assert.equal(read, total, 'bytes the slow reader got');
      assert.ok(Buffer.concat(chunks).toString() === yes('slow-reader', total));
      const w = await waited;
      assert.equal(w.status, 0);
      assert.ok(
        w.read === total || w.after >= DRAIN_TIMEOUT_MS,
        `exit reported ${w.after} ms after start with ${total - w.read} bytes unread`,
      );
      assert.deepEqual(holders(out), [], 'the shim let the FIFO go once it was drained');
      await shim!.task.delete({ id, execId: 'slow' }, opts());
    } finally {
      fs.closeSync(reader);
    }
  });

  it('no reader ever: the output is held until Delete, which leaves no fd on the FIFO', async () => {
    const out = fifo();
    await exec('none', out, 'echo nobody reads this');
    const wait = await shim!.task.wait({ id, execId: 'none' }, opts());
    assert.equal(wait.exitStatus, 0);
    assert.equal(holders(out).length, 1, 'one fd holds the unread output');
    await shim!.task.delete({ id, execId: 'none' }, opts());
    assert.deepEqual(holders(out), []);
  });

  it('nothing written: the FIFO is let go with the exit, not at Delete', async () => {
    const out = fifo();
    await exec('quiet', out, 'true');
    const wait = await shim!.task.wait({ id, execId: 'quiet' }, opts());
    assert.equal(wait.exitStatus, 0);
    assert.deepEqual(holders(out), []);
    await shim!.task.delete({ id, execId: 'quiet' }, opts());
  });
});
