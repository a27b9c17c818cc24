// Publishes shim events to containerd: `containerd.services.events.ttrpc.v1.Events/Forward` on
// TTRPC_ADDRESS, in publish order, across containerd restarts.
//
// Unlike Go's pkg/shim publisher (retry 5 times, then evict) and the Rust crate's (retry 5 times,
// then drop), events are only ever dropped when containerd itself rejects them or when the
// publisher is closed: containerd relies on Create < Start < Exit < Delete, and an exit event lost
// while containerd restarts leaves a task "running" forever.
import { codedError } from '../error-codes';
import { Client } from '../ttrpc/client';
import { Code, TtrpcError } from '../ttrpc/errors';
import { parseAddress } from '../ttrpc/address';
import type { Address } from '../ttrpc/address';
import { silentLogger } from '../ttrpc/log';
import type { Logger } from '../ttrpc/log';
import { EventsClient } from '../generated/events-service';
import type { containerd } from '../generated/events';
import { timestamp } from './util';
import type { Any } from './util';

export interface RemotePublisherOptions {
  /** Events held before `publish` starts waiting for room; default 2048 (as Go's publisher). */
  queueSize?: number;
  logger?: Logger;
  /** Deadline of one Forward call (and of connecting); default 5000 ms (as Go's publisher). */
  callTimeoutMs?: number;
  /** Ceiling of the reconnect backoff, which starts at 10 ms and doubles; default 1000 ms. */
  maxBackoffMs?: number;
}

/** The ttrpc metadata key containerd takes the namespace from (pkg/namespaces/ttrpc.go). */
export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';

const MIN_BACKOFF_MS = 10;

type Envelope = containerd.types.Envelope.$Properties;

interface QueuedEvent {
  envelope: Envelope;
  /** Set while the event waits beyond `queueSize`: settles its `publish` call. */
  admission?: { resolve(): void; reject(err: Error): void };
}

interface FlushWaiter {
  /** Resolved once this many events have left the queue. */
  target: number;
  resolve(): void;
}

/**
 * Sends events to containerd's ttrpc Events service, one at a time and in order. It connects on
 * the first event (a shim must start even when containerd is unreachable) and, while containerd
 * is unreachable, keeps the events queued and retries the oldest with a capped exponential
 * backoff. Pending events keep the process alive; an idle publisher does not. Call `close()`
 * before exiting.
 *
 * Delivery is at least once: an event whose call timed out is sent again, even though containerd
 * may have taken it and merely answered late.
 */
export class RemotePublisher {
  private readonly address: Address;
  private readonly queueSize: number;
  private readonly logger: Logger;
  private readonly callTimeoutMs: number;
  private readonly maxBackoffMs: number;

  private readonly queue: QueuedEvent[] = [];
  private accepted = 0; // events ever queued
  private settled = 0; // events that left the queue: delivered, rejected or lost at close
  private readonly flushWaiters = new Set<FlushWaiter>();
  private events: EventsClient | undefined;
  private connecting: Promise<EventsClient> | undefined;
  private failures = 0; // consecutive transport failures: drives the backoff and the logging
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  // Set by close(): the sender stops. A plain flag, not an AbortController: closing runs on
  // containerd's clock at the shim's teardown, where every function is compiled afresh.
  private stopped = false;
  private cancelBackoff: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  /** `address` is TTRPC_ADDRESS: `unix:///path`, a path or `@abstract`. Nothing connects yet. */
  constructor(address: string, options: RemotePublisherOptions = {}) {
    this.address = parseAddress(address);
    if (this.address.kind === 'fd') {
      throw codedError('ERR_INVALID_ADDRESS', `cannot connect to a listening fd (${address})`);
    }
    this.queueSize = positiveInteger('queueSize', options.queueSize, 2048);
    this.logger = options.logger ?? silentLogger;
    this.callTimeoutMs = positiveInteger('callTimeoutMs', options.callTimeoutMs, 5000);
    this.maxBackoffMs = positiveInteger('maxBackoffMs', options.maxBackoffMs, 1000);
  }

  /** Events published but not yet delivered (including those waiting for room). */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Queues `event` (an Any, see `toAny`) for `topic` in `namespace`, stamped with the current
   * time. Resolves once queued; when the queue is full, waits for room rather than dropping.
   */
  async publish(topic: string, namespace: string, event: Any): Promise<void> {
    validateEvent(topic, namespace, event);
    if (this.closed) throw codedError('ERR_PUBLISHER_CLOSED', 'the publisher is closed');
    const item: QueuedEvent = {
      envelope: {
        timestamp: timestamp(),
        namespace,
        topic,
        event,
      },
    };
    this.queue.push(item);
    this.accepted++;
    this.loop ??= this.run();
    this.wake?.();
    if (this.queue.length <= this.queueSize) return;
    await new Promise<void>((resolve, reject) => (item.admission = { resolve, reject }));
  }

  /**
   * Connects to containerd now, in the background, unless connected: a shim calls it once it is
   * serving (while runc works, say), so the first event does not wait for the connection. A
   * failure is left to the first event, which retries as usual.
   */
  prepare(): void {
    if (this.closed || this.stopped) return;
    this.connect().catch(() => {
      // the first publish connects again and reports what fails
    });
  }

  /**
   * Resolves when every event published so far has been delivered (or rejected by containerd);
   * rejects with ERR_PUBLISH_TIMEOUT after `timeoutMs` if given.
   */
  flush(timeoutMs?: number): Promise<void> {
    const target = this.accepted;
    if (this.settled >= target) return Promise.resolve();
    const delivered = new Promise<void>((resolve) => this.flushWaiters.add({ target, resolve }));
    return timeoutMs === undefined ? delivered : this.withTimeout(delivered, target, timeoutMs);
  }

  private withTimeout(delivered: Promise<void>, target: number, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const left = target - this.settled;
        const message = `${left} event(s) not delivered to ${this.addressText} within ${timeoutMs} ms`;
        reject(codedError('ERR_PUBLISH_TIMEOUT', message));
      }, timeoutMs);
    });
    return Promise.race([delivered, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Delivers what is queued (for at most `timeoutMs`), then disconnects. Events still queued
   * then are logged as lost; later `publish` calls fail with ERR_PUBLISHER_CLOSED.
   */
  close(timeoutMs = 5000): Promise<void> {
    this.closed ??= this.shutdown(timeoutMs);
    return this.closed;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    try {
      await this.flush(timeoutMs);
    } catch {
      // what could not be delivered is reported by dropRemaining
    }
    this.stopped = true;
    this.cancelBackoff?.();
    this.wake?.();
    this.events?.client.close(); // fails an in-flight Forward so the loop stops now
    await this.loop;
    await this.connecting?.catch(() => undefined); // a prepare() still connecting closes its client
    this.dropRemaining();
  }

  private get addressText(): string {
    const a = this.address;
    return a.kind === 'abstract' ? `@${a.name}` : 'path' in a ? a.path : '';
  }

  // The only sender: one event in flight at a time is what keeps events in order. Woken by
  // publish(), it first lets the caller's turn of the event loop finish: a shim that publishes
  // while answering containerd (Create, Start, Delete) sends its answer before the event is
  // encoded and sent, as Go's shims queue events for a sender of their own.
  private async run(): Promise<void> {
    await nextTurn();
    while (!this.stopped) {
      const item = this.queue[0];
      if (item === undefined) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        await nextTurn();
      } else if (await this.deliver(item.envelope)) {
        this.settleHead();
      } else {
        await this.backoff();
      }
    }
    this.disconnect();
  }

  /** True when done with the event (delivered or rejected), false to retry it. */
  private async deliver(envelope: Envelope): Promise<boolean> {
    const { topic, namespace } = envelope;
    let events: EventsClient;
    try {
      events = await this.connect();
    } catch (err) {
      if (this.stopped) return false; // closed while connecting
      this.onTransportFailure(err); // ENOENT, ECONNREFUSED...: containerd is not (yet) there
      return false;
    }
    if (this.stopped) return false; // closed while connecting: send nothing more
    try {
      await events.forward(
        { envelope },
        { timeoutMs: this.callTimeoutMs, metadata: { [NAMESPACE_METADATA_KEY]: namespace! } },
      );
    } catch (err) {
      if (isTransportFailure(err)) {
        this.onTransportFailure(err);
        return false;
      }
      // containerd answered with an error: sending the same event again cannot succeed.
      this.logger.warn({ err, topic, namespace }, 'containerd rejected an event; dropping it');
      return true;
    }
    if (this.failures > 0) {
      this.logger.debug({ attempts: this.failures }, 'publisher reconnected to containerd');
      this.failures = 0;
    }
    return true;
  }

  private connect(): Promise<EventsClient> {
    if (this.events !== undefined && !this.events.client.closed)
      return Promise.resolve(this.events);
    // One attempt at a time: prepare() and the sender share it.
    this.connecting ??= this.dial().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async dial(): Promise<EventsClient> {
    const client = await Client.connect(this.address, { connectTimeoutMs: this.callTimeoutMs });
    // Only queued events (through the call and backoff timers) should keep the process alive.
    client.unref();
    if (this.stopped) {
      client.close(); // closed while connecting (a prepare() nobody used): nothing may stay open
      throw new TtrpcError(Code.UNAVAILABLE, 'the publisher is closed');
    }
    this.events = new EventsClient(client);
    return this.events;
  }

  private disconnect(): void {
    this.events?.client.close();
    this.events = undefined;
  }

  private onTransportFailure(err: unknown): void {
    this.failures++;
    this.disconnect(); // a connection that timed out or broke is not trusted again
    // Warn once per outage: containerd restarts are routine and would flood the log.
    const details = { err, address: this.addressText, pending: this.queue.length };
    const message = 'cannot reach containerd; retrying queued events';
    if (this.failures === 1) this.logger.warn(details, message);
    else this.logger.debug({ ...details, attempt: this.failures }, message);
  }

  // 10 ms doubling up to maxBackoffMs; cut short by close().
  private backoff(): Promise<void> {
    const delay = Math.min(
      MIN_BACKOFF_MS * 2 ** Math.min(this.failures - 1, 30),
      this.maxBackoffMs,
    );
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.cancelBackoff = undefined;
        resolve();
      };
      const timer = setTimeout(done, delay);
      this.cancelBackoff = done;
    });
  }

  private settleHead(): void {
    this.queue.shift();
    this.settled++;
    // The event that just moved into the last queue slot lets its publish() call return.
    const admitted = this.queue[this.queueSize - 1];
    admitted?.admission?.resolve();
    if (admitted) admitted.admission = undefined;
    this.resolveFlushes();
  }

  private resolveFlushes(): void {
    for (const waiter of this.flushWaiters) {
      if (this.settled < waiter.target) continue;
      this.flushWaiters.delete(waiter);
      waiter.resolve();
    }
  }

  private dropRemaining(): void {
    const lost = this.queue.splice(0);
    if (lost.length === 0) return;
    const byTopic: Record<string, number> = {};
    for (const { envelope } of lost) byTopic[envelope.topic!] = (byTopic[envelope.topic!] ?? 0) + 1;
    this.logger.warn(
      { lost: lost.length, byTopic, address: this.addressText },
      'publisher closed with undelivered events; they are lost',
    );
    const err = codedError('ERR_PUBLISHER_CLOSED', 'the publisher closed before queuing the event');
    for (const item of lost) item.admission?.reject(err);
    this.settled += lost.length;
    this.resolveFlushes();
  }
}

/** Resolves in the event loop's next check phase, after the current turn's I/O callbacks. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Failures of the connection rather than of the event, worth retrying on a new connection: the
 * connection closed (UNAVAILABLE), no answer in time (DEADLINE_EXCEEDED), or a socket error.
 */
function isTransportFailure(err: unknown): boolean {
  if (TtrpcError.is(err)) {
    return err.code === Code.UNAVAILABLE || err.code === Code.DEADLINE_EXCEEDED;
  }
  return typeof (err as NodeJS.ErrnoException | null)?.syscall === 'string';
}

function validateEvent(topic: unknown, namespace: unknown, event: unknown): void {
  if (typeof topic !== 'string' || topic.length < 2 || !topic.startsWith('/')) {
    throw codedError(
      'ERR_INVALID_EVENT',
      `invalid topic ${JSON.stringify(topic)}: must start with "/"`,
    );
  }
  if (typeof namespace !== 'string' || namespace === '') {
    throw codedError('ERR_INVALID_EVENT', `invalid namespace ${JSON.stringify(namespace)}`);
  }
  const typeUrl = (event as Any | null | undefined)?.type_url;
  if (typeof typeUrl !== 'string' || typeUrl === '') {
    throw codedError('ERR_INVALID_EVENT', 'the event must be an Any with a type_url (see toAny)');
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw codedError(
      'ERR_INVALID_ARG_VALUE',
      `RemotePublisher: ${name} must be a positive integer, got ${value}`,
      { type: RangeError },
    );
  }
  return value;
}
