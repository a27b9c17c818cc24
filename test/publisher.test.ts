// RemotePublisher: ordering, envelope contents, retry across outages, rejection, validation and
// back-pressure against an in-process Events server; then delivery to a real containerd 1.6,
// observed with `ctr events`, including the 10 s outage acceptance test.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { containerd } from '../lib/generated/events';
import { registerEventsService } from '../lib/generated/events-service';
import { NAMESPACE_METADATA_KEY, RemotePublisher } from '../lib/shim/publisher';
import type { RemotePublisherOptions } from '../lib/shim/publisher';
import { TOPICS, fromAny, timestampToDate, toAny } from '../lib/shim/util';
import { Code, Server, TtrpcError } from '../lib/ttrpc';
import type { CallContext, Logger } from '../lib/ttrpc';
import { requireEnvironment } from './helpers/env';
import { Testbed } from './helpers/testbed';

type ForwardRequest = containerd.services.events.ttrpc.v1.ForwardRequest;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Settles to 'pending' if `promise` has not settled within `ms`. */
function stateAfter(promise: Promise<unknown>, ms: number): Promise<string> {
  return Promise.race([
    promise.then(
      () => 'resolved',
      () => 'rejected',
    ),
    sleep(ms).then(() => 'pending'),
  ]);
}

function oom(containerId: string) {
  return toAny(containerd.events.TaskOOM, { containerId });
}

interface Warning {
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function recordingLogger(): Logger & { warnings: Warning[] } {
  const warnings: Warning[] = [];
  return {
    warnings,
    debug: () => undefined,
    warn: (obj: object | string, msg?: string) =>
      warnings.push(typeof obj === 'string' ? { obj: {}, msg: obj } : { obj: { ...obj }, msg }),
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('RemotePublisher', () => {
  describe('against an in-process Events server', () => {
    interface Received {
      envelope: containerd.types.Envelope.$Properties;
      metadataNamespace: string | undefined;
    }

    let dir: string;
    let address: string;
    let received: Received[];
    let servers: Server[];
    let publishers: RemotePublisher[];

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'publisher-'));
      address = path.join(dir, 'events.sock');
      received = [];
      servers = [];
      publishers = [];
    });

    afterEach(async () => {
      await Promise.all(publishers.map((p) => p.close(0)));
      await Promise.all(servers.map((s) => s.close()));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    /** An Events server on `address` recording what it accepts; `forward` may refuse first. */
    async function startServer(
      forward?: (request: ForwardRequest, context: CallContext) => Promise<void> | void,
    ): Promise<Server> {
      const server = new Server();
      registerEventsService(server, {
        forward: async (request, context) => {
          await forward?.(request, context);
          received.push({
            envelope: request.envelope!,
            metadataNamespace: context.metadata.first(NAMESPACE_METADATA_KEY),
          });
          return {};
        },
      });
      await server.listen(address);
      servers.push(server);
      return server;
    }

    function publisher(options: RemotePublisherOptions = {}): RemotePublisher {
      const p = new RemotePublisher(address, options);
      publishers.push(p);
      return p;
    }

    function receivedIds(): string[] {
      return received.map((r) => fromAny(containerd.events.TaskOOM, r.envelope.event).containerId);
    }

    const ids = (n: number, prefix = 'c'): string[] =>
      Array.from({ length: n }, (_, i) => `${prefix}${i}`);

    it('delivers events in order with the envelope containerd expects', async () => {
      await startServer();
      const p = publisher();
      const before = Date.now();
      for (let i = 0; i < 20; i++) {
        const event = toAny(containerd.events.TaskCreate, {
          containerId: `c${i}`,
          bundle: `/run/bundle/c${i}`,
          pid: 1000 + i,
        });
        await p.publish(TOPICS.TASK_CREATE, 'k8s.io', event);
      }
      await p.flush(5000);
      const after = Date.now();
      assert.equal(received.length, 20);
      received.forEach(({ envelope, metadataNamespace }, i) => {
        assert.equal(envelope.namespace, 'k8s.io');
        assert.equal(metadataNamespace, 'k8s.io');
        assert.equal(envelope.topic, '/tasks/create');
        assert.equal(envelope.event?.type_url, 'containerd.events.TaskCreate');
        const create = fromAny(containerd.events.TaskCreate, envelope.event);
        assert.equal(create.containerId, `c${i}`);
        assert.equal(create.bundle, `/run/bundle/c${i}`);
        assert.equal(create.pid, 1000 + i);
        const at = timestampToDate(envelope.timestamp).getTime();
        assert.ok(at >= before - 1 && at <= after, `timestamp ${at} not in [${before}, ${after}]`);
      });
      assert.equal(p.pending, 0);
    });

    it('does not connect before the first event', async () => {
      const server = await startServer();
      const p = publisher();
      await sleep(100);
      assert.equal(server.connectionCount, 0);
      await p.flush(1000); // nothing published: resolves at once
      await p.publish(TOPICS.TASK_OOM, 'default', oom('x'));
      await p.flush(5000);
      assert.equal(server.connectionCount, 1);
      // Constructing against a socket that does not exist is fine too.
      publisher();
      new RemotePublisher(path.join(dir, 'nothing-here.sock'));
    });

    it('prepare() connects ahead, once, and the events use that connection', async () => {
      const server = await startServer();
      const p = publisher();
      p.prepare();
      p.prepare(); // while the first one connects: no second connection
      await waitFor('the prepared connection', () => server.connectionCount === 1);
      await p.publish(TOPICS.TASK_OOM, 'default', oom('a'));
      await p.flush(5000);
      p.prepare(); // connected: nothing more
      await p.publish(TOPICS.TASK_OOM, 'default', oom('b'));
      await p.flush(5000);
      assert.deepEqual(receivedIds(), ['a', 'b']);
      assert.equal(server.connectionCount, 1);
      await p.close(1000);
      await waitFor('the connection to close', () => server.connectionCount === 0);
    });

    it('prepare() against no containerd warns of nothing; a close while it connects leaves nothing open', async () => {
      const logger = recordingLogger();
      const p = publisher({ logger });
      p.prepare();
      await sleep(50);
      assert.deepEqual(logger.warnings, []);
      const server = await startServer();
      p.prepare();
      await p.close(1000); // right away: the attempt in flight must close what it opened
      await sleep(100);
      assert.equal(server.connectionCount, 0);
      p.prepare(); // closed: does nothing
      await sleep(50);
      assert.equal(server.connectionCount, 0);
      assert.deepEqual(logger.warnings, []);
    });

    it('queues events while containerd is down and delivers them in order once it is up', async () => {
      const p = publisher();
      for (const id of ids(50)) await p.publish(TOPICS.TASK_OOM, 'default', oom(id));
      assert.equal(p.pending, 50);
      await sleep(300);
      assert.equal(received.length, 0);
      await startServer();
      await p.flush(5000);
      assert.deepEqual(receivedIds(), ids(50));
    });

    it('reconnects after the server went away and came back', async () => {
      const first = await startServer();
      const p = publisher({ maxBackoffMs: 50 });
      await p.publish(TOPICS.TASK_OOM, 'default', oom('a'));
      await p.flush(5000);
      await first.close();
      await p.publish(TOPICS.TASK_OOM, 'default', oom('b'));
      await p.publish(TOPICS.TASK_OOM, 'default', oom('c'));
      await sleep(200);
      await startServer();
      await p.flush(5000);
      assert.deepEqual(receivedIds(), ['a', 'b', 'c']);
    });

    it('drops an event containerd rejects, logs it and delivers the rest', async () => {
      await startServer((request) => {
        const id = fromAny(containerd.events.TaskOOM, request.envelope?.event).containerId;
        if (id === 'bad') throw new TtrpcError(Code.INVALID_ARGUMENT, 'envelope topic is bad');
      });
      const logger = recordingLogger();
      const p = publisher({ logger });
      for (const id of ['c0', 'c1', 'bad', 'c2', 'c3']) {
        await p.publish(TOPICS.TASK_OOM, 'default', oom(id));
      }
      await p.flush(5000);
      assert.deepEqual(receivedIds(), ['c0', 'c1', 'c2', 'c3']);
      assert.equal(logger.warnings.length, 1);
      assert.match(logger.warnings[0]!.msg ?? '', /rejected/);
      assert.equal(logger.warnings[0]!.obj.topic, '/tasks/oom');
      assert.equal((logger.warnings[0]!.obj.err as TtrpcError).code, Code.INVALID_ARGUMENT);
    });

    it('retries an event whose call timed out', async () => {
      let attempts = 0;
      await startServer(async (_request, context) => {
        if (++attempts > 1) return;
        // First attempt: never answer (until the call is abandoned).
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        throw new Error('abandoned');
      });
      const p = publisher({ callTimeoutMs: 200 });
      await p.publish(TOPICS.TASK_OOM, 'default', oom('slow'));
      await p.flush(5000);
      assert.equal(attempts, 2);
      assert.deepEqual(receivedIds(), ['slow']);
    });

    it('rejects invalid events with ERR_INVALID_EVENT and queues nothing', async () => {
      const p = publisher();
      const event = oom('x');
      await expectCode(p.publish('', 'default', event), 'ERR_INVALID_EVENT');
      await expectCode(p.publish('/', 'default', event), 'ERR_INVALID_EVENT');
      await expectCode(p.publish('tasks/oom', 'default', event), 'ERR_INVALID_EVENT');
      await expectCode(p.publish('/tasks/oom', '', event), 'ERR_INVALID_EVENT');
      await expectCode(p.publish('/tasks/oom', 'default', {}), 'ERR_INVALID_EVENT');
      await expectCode(p.publish('/tasks/oom', 'default', { type_url: '' }), 'ERR_INVALID_EVENT');
      const untyped = p.publish as (
        topic: unknown,
        namespace: unknown,
        event: unknown,
      ) => Promise<void>;
      await expectCode(untyped.call(p, '/tasks/oom', undefined, event), 'ERR_INVALID_EVENT');
      await expectCode(untyped.call(p, '/tasks/oom', 'default', null), 'ERR_INVALID_EVENT');
      assert.equal(p.pending, 0);
      assert.throws(() => new RemotePublisher('fd://3'), { code: 'ERR_INVALID_ADDRESS' });
      assert.throws(() => new RemotePublisher(''), { code: 'ERR_INVALID_ADDRESS' });
      assert.throws(() => new RemotePublisher(address, { queueSize: 0 }), RangeError);
    });

    it('makes publish wait for room when the queue is full instead of dropping', async () => {
      const p = publisher({ queueSize: 4 });
      for (const id of ids(4)) await p.publish(TOPICS.TASK_OOM, 'default', oom(id));
      const fifth = p.publish(TOPICS.TASK_OOM, 'default', oom('c4'));
      const sixth = p.publish(TOPICS.TASK_OOM, 'default', oom('c5'));
      assert.equal(await stateAfter(fifth, 300), 'pending');
      assert.equal(await stateAfter(sixth, 0), 'pending');
      assert.equal(p.pending, 6);
      await startServer();
      await fifth;
      await sixth;
      await p.flush(5000);
      assert.deepEqual(receivedIds(), ids(6));
    });

    it('flush rejects with ERR_PUBLISH_TIMEOUT while containerd stays unreachable', async () => {
      const p = publisher();
      await p.publish(TOPICS.TASK_OOM, 'default', oom('x'));
      await expectCode(p.flush(200), 'ERR_PUBLISH_TIMEOUT');
      assert.equal(p.pending, 1);
    });

    it('close delivers what is queued, then refuses new events', async () => {
      await startServer();
      const p = publisher();
      for (const id of ids(10)) await p.publish(TOPICS.TASK_OOM, 'default', oom(id));
      await p.close();
      assert.deepEqual(receivedIds(), ids(10));
      assert.equal(p.pending, 0);
      await expectCode(p.publish(TOPICS.TASK_OOM, 'default', oom('late')), 'ERR_PUBLISHER_CLOSED');
    });

    it('close logs the events it could not deliver as lost', async () => {
      const logger = recordingLogger();
      const p = publisher({ logger, queueSize: 2 });
      for (const id of ids(2)) await p.publish(TOPICS.TASK_OOM, 'default', oom(id));
      const blocked = p.publish(TOPICS.TASK_EXIT, 'default', oom('c2'));
      const started = Date.now();
      await p.close(200);
      assert.ok(Date.now() - started < 2000, 'close is bounded by its timeout');
      assert.equal(p.pending, 0);
      await expectCode(blocked, 'ERR_PUBLISHER_CLOSED');
      const lost = logger.warnings.find((w) => /lost/.test(w.msg ?? ''));
      assert.ok(lost, JSON.stringify(logger.warnings));
      assert.equal(lost.obj.lost, 3);
      assert.deepEqual(lost.obj.byTopic, { '/tasks/oom': 2, '/tasks/exit': 1 });
    });
  });

  describe('against containerd 1.6 (testbed)', function () {
    let tb: Testbed | undefined;

    before(async function () {
      this.timeout(120_000);
      requireEnvironment(
        this,
        { commands: ['containerd', 'ctr', 'runc'], root: true, files: ['/bin/busybox'] },
        'apt-get install containerd runc busybox-static; run as root',
      );
      tb = await Testbed.start();
    });

    after(async function () {
      this.timeout(60_000);
      await tb?.destroy();
    });

    function bed(): Testbed {
      assert.ok(tb, 'testbed not started');
      return tb;
    }

    it('an event published by examples/publish shows up in `ctr events`', async function () {
      this.timeout(60_000);
      const watcher = await CtrEvents.attach(bed());
      try {
        const id = `oom-${crypto.randomBytes(4).toString('hex')}`;
        const example = path.join(__dirname, '..', 'examples', 'publish', 'main.js');
        const run = await runNode([example, bed().ttrpcAddress, bed().namespace, id], 30_000);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, `published /tasks/oom for ${id} to ${bed().ttrpcAddress}\n`);
        const seen = await watcher.waitFor(
          `/tasks/oom for ${id}`,
          (e) => e.topic === '/tasks/oom' && e.event.container_id === id,
          10_000,
        );
        assert.equal(seen.namespace, bed().namespace);
      } finally {
        await watcher.stop();
      }
    });

    it('delivers all 500 events, in order, published while containerd is down for 10 s', async function () {
      this.timeout(120_000);
      const tb = bed();
      // The publisher reaches containerd through a symlink the test controls. Removing it while
      // containerd is down keeps the publisher from reconnecting the moment containerd is back,
      // before the new `ctr events` subscriber is attached (events are not stored: whatever
      // containerd forwards before the subscription is invisible to the test).
      const gate = path.join(tb.dir, 'pub.sock');
      fs.symlinkSync(tb.ttrpcAddress, gate);
      const logger = recordingLogger();
      const publisher = new RemotePublisher(gate, { logger, maxBackoffMs: 1000 });
      try {
        const before = await CtrEvents.attach(tb);
        await publisher.publish(TOPICS.TASK_OOM, tb.namespace, oom('warm-up'));
        await publisher.flush(10_000);
        await before.waitFor('the warm-up event', (e) => e.event.container_id === 'warm-up');
        await before.stop();

        fs.unlinkSync(gate);
        await tb.stop();
        const downAt = Date.now();
        for (let round = 0; round < 10; round++) {
          for (let i = round * 50; i < (round + 1) * 50; i++) {
            await publisher.publish(TOPICS.TASK_OOM, tb.namespace, oom(String(i)));
          }
          await sleep(downAt + (round + 1) * 1000 - Date.now());
        }
        assert.equal(publisher.pending, 500);
        assert.ok(
          logger.warnings.some((w) => /cannot reach containerd/.test(w.msg ?? '')),
          'the publisher noticed the outage',
        );

        await tb.restart();
        const after = await CtrEvents.attach(tb);
        try {
          fs.symlinkSync(tb.ttrpcAddress, gate);
          await publisher.flush(30_000);
          await after.waitFor('event 499', (e) => e.event.container_id === '499', 10_000);
          const seen = after.events
            .filter((e) => e.topic === '/tasks/oom' && e.namespace === tb.namespace)
            .map((e) => e.event.container_id);
          assert.deepEqual(
            seen,
            Array.from({ length: 500 }, (_, i) => String(i)),
          );
        } finally {
          await after.stop();
        }
      } finally {
        await publisher.close(0);
        fs.rmSync(gate, { force: true });
      }
    });
  });
});

interface CtrEvent {
  namespace: string;
  topic: string;
  event: Record<string, unknown>;
}

/**
 * `ctr events` as a child process. ctr prints one line per event:
 * `<time> <namespace> <topic> <event as JSON>`, for every namespace, and skips (with a warning on
 * stderr) events whose type it cannot decode. It prints nothing when it has subscribed, so
 * `attach` publishes probe events until one comes through.
 */
class CtrEvents {
  readonly events: CtrEvent[] = [];
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.parse(line);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  static async attach(tb: Testbed, timeoutMs = 15_000): Promise<CtrEvents> {
    const watcher = new CtrEvents(
      spawn('ctr', ['-a', tb.address, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    const probes = new RemotePublisher(tb.ttrpcAddress);
    const tag = `probe-${crypto.randomBytes(4).toString('hex')}`;
    const deadline = Date.now() + timeoutMs;
    try {
      for (let n = 0; ; n++) {
        const probe = toAny(containerd.events.TaskPaused, { containerId: `${tag}-${n}` });
        await probes.publish(TOPICS.TASK_PAUSED, tb.namespace, probe);
        await probes.flush(Math.max(deadline - Date.now(), 1));
        const seen = await watcher
          .waitFor('a probe', (e) => String(e.event.container_id).startsWith(tag), 200)
          .then(
            () => true,
            () => false,
          );
        if (seen) return watcher;
        if (Date.now() > deadline) throw new Error(`ctr events did not attach: ${watcher.stderr}`);
      }
    } catch (err) {
      await watcher.stop();
      throw err;
    } finally {
      await probes.close(0);
    }
  }

  private parse(line: string): void {
    const m = /^(.*?) (\S+) (\/\S*) (\{.*\})$/.exec(line);
    if (!m) return;
    this.events.push({
      namespace: m[2]!,
      topic: m[3]!,
      event: JSON.parse(m[4]!) as Record<string, unknown>,
    });
  }

  async waitFor(
    what: string,
    match: (e: CtrEvent) => boolean,
    timeoutMs = 5000,
  ): Promise<CtrEvent> {
    await waitFor(`ctr events to show ${what}`, () => this.events.some(match), timeoutMs);
    return this.events.find(match)!;
  }

  /** Kills our ctr child (by pid) and waits for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

function runNode(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
