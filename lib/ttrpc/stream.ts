// Streaming building blocks shared by client and server: a message queue consumed as an async
// iterator, whose bound pauses the connection's reading (flow.ts), and the two stream handles
// applications use.
import { codedError } from '../error-codes';
import { DEFAULT_STREAM_BUFFER, MESSAGE_OVERHEAD } from './flow';
import type { ReadGate } from './flow';

export { DEFAULT_STREAM_BUFFER };

interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: Error): void;
}

/**
 * Messages received on one stream. A message that finds a reader waiting goes straight to it;
 * otherwise it is queued. When `limit` messages are queued, or the connection's streams hold more
 * bytes than its gate allows, the connection stops reading (the rest of the frames already read
 * are still queued) until the consumer has taken half of them: a slow consumer slows its peer
 * down instead of losing messages. Once the stream has ended its queue cannot grow, so it no
 * longer holds the connection.
 */
export class MessageQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  // What each queued message was charged to the gate (while the stream can still grow).
  private readonly costs: number[] = [];
  private head = 0;
  private waiter: Waiter<T> | undefined;
  private ended = false;
  private error: Error | undefined;
  private holding = false;

  constructor(
    private readonly limit = DEFAULT_STREAM_BUFFER,
    private gate?: ReadGate,
  ) {}

  /** Adds a message of `size` payload bytes; it is never dropped. */
  push(item: T, size = 0): void {
    if (this.ended || this.error) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    const gate = this.gate;
    if (gate === undefined) return;
    const cost = size + MESSAGE_OVERHEAD;
    this.costs.push(cost);
    gate.charge(cost);
    if (!this.holding && this.items.length - this.head >= this.limit) {
      this.holding = true;
      gate.hold();
    }
  }

  /** The peer sent its last message: what is queued stays for the consumer. */
  end(): void {
    if (this.ended || this.error) return;
    this.ended = true;
    this.detach();
    this.settle();
  }

  /** The stream failed: queued messages are dropped and the consumer gets `error`. */
  fail(error: Error): void {
    if (this.ended || this.error) return;
    this.error = error;
    this.detach();
    this.items.length = 0;
    this.head = 0;
    this.settle();
  }

  get finished(): boolean {
    return this.ended || this.error !== undefined;
  }

  /** A consumer waits: the next message goes straight to it. */
  get waiting(): boolean {
    return this.waiter !== undefined;
  }

  /** Messages waiting for the consumer. */
  get size(): number {
    return this.items.length - this.head;
  }

  // Gives back to the connection what this queue held: it will not grow any more.
  private detach(): void {
    const gate = this.gate;
    if (gate === undefined) return;
    this.gate = undefined;
    let cost = 0;
    for (let i = this.head; i < this.costs.length; i++) cost += this.costs[i]!;
    this.costs.length = 0;
    if (cost > 0) gate.refund(cost);
    if (this.holding) {
      this.holding = false;
      gate.release();
    }
  }

  private settle(): void {
    const w = this.waiter;
    if (!w || this.head < this.items.length) return;
    this.waiter = undefined;
    if (this.error) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const at = this.head++;
      const value = this.items[at]!;
      const gate = this.gate;
      if (gate !== undefined) {
        gate.refund(this.costs[at]!);
        if (this.holding && this.items.length - this.head <= this.limit >>> 1) {
          this.holding = false;
          gate.release();
        }
      }
      if (this.head > 64 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        if (this.costs.length > 0) this.costs.splice(0, this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter)
      return Promise.reject(
        codedError('ERR_STREAM_CONCURRENT_READ', 'ttrpc: concurrent reads of one stream'),
      );
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}

/** The sending half a stream needs from its connection. */
export interface StreamSink<T> {
  /** Sends one message; resolves once the connection can take more (backpressure). */
  send(message: T): Promise<void>;
  /** Tells the peer no more messages follow. */
  closeSend(): void;
}

/**
 * A server-side stream handle: the client's messages as an async iterable, and `send` for the
 * responses (server- and bidi-streaming methods).
 */
export class ServerStream<Req, ResIn> implements AsyncIterable<Req> {
  constructor(
    private readonly incoming: MessageQueue<Req>,
    private readonly sink: StreamSink<ResIn>,
    /** Aborted when the call ends early: deadline, client gone, server closing. */
    readonly signal: AbortSignal,
  ) {}

  /** Sends a message to the client; resolves when the connection can take more. */
  send(message: ResIn): Promise<void> {
    return this.sink.send(message);
  }

  /** The next message from the client, or undefined once the client closed its side. */
  async recv(): Promise<Req | undefined> {
    const r = await this.incoming.next();
    return r.done ? undefined : r.value;
  }

  [Symbol.asyncIterator](): AsyncIterator<Req> {
    return this.incoming[Symbol.asyncIterator]();
  }
}

/**
 * A client-side stream: `send`/`closeSend` for the request messages, the responses as an async
 * iterable (server- and bidi-streaming), and `response` for a client-streaming call's result.
 */
export class ClientStream<ReqIn, Res> implements AsyncIterable<Res> {
  /** The single response of a client-streaming call; rejects with the call's error. */
  readonly response: Promise<Res>;

  constructor(
    private readonly incoming: MessageQueue<Res>,
    private readonly sink: StreamSink<ReqIn>,
    response: Promise<Res>,
    private readonly cancelFn: (reason?: Error) => void,
  ) {
    this.response = response;
    // Callers of streaming methods may never look at `response`.
    response.catch(() => undefined);
  }

  send(message: ReqIn): Promise<void> {
    return this.sink.send(message);
  }

  closeSend(): void {
    this.sink.closeSend();
  }

  /** The next response, or undefined at the end of the stream. */
  async recv(): Promise<Res | undefined> {
    const r = await this.incoming.next();
    return r.done ? undefined : r.value;
  }

  /** Abandons the call locally; later frames for it are ignored. */
  cancel(reason?: Error): void {
    this.cancelFn(reason);
  }

  [Symbol.asyncIterator](): AsyncIterator<Res> {
    return this.incoming[Symbol.asyncIterator]();
  }
}
