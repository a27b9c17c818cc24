// Streaming building blocks shared by client and server: a bounded message queue consumed as an
// async iterator, and the two stream handles applications use.
import { codedError } from '../error-codes';
import { Code, TtrpcError } from './errors';

/** Default bound on messages buffered for one stream whose consumer is not reading. */
export const DEFAULT_STREAM_BUFFER = 1024;

interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: Error): void;
}

/**
 * Messages received on one stream. The connection never waits for a consumer (that would stall
 * every other stream on it); a consumer that falls more than `limit` messages behind fails its
 * own stream with RESOURCE_EXHAUSTED instead.
 */
export class MessageQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private waiter: Waiter<T> | undefined;
  private ended = false;
  private error: Error | undefined;

  constructor(private readonly limit = DEFAULT_STREAM_BUFFER) {}

  /** Adds a message; false if the consumer is too far behind (the queue then fails). */
  push(item: T): boolean {
    if (this.ended || this.error) return true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return true;
    }
    if (this.items.length - this.head >= this.limit) {
      this.fail(
        new TtrpcError(
          Code.RESOURCE_EXHAUSTED,
          `ttrpc: stream buffer full (${this.limit} messages)`,
        ),
      );
      return false;
    }
    this.items.push(item);
    return true;
  }

  end(): void {
    if (this.ended || this.error) return;
    this.ended = true;
    this.settle();
  }

  fail(error: Error): void {
    if (this.ended || this.error) return;
    this.error = error;
    this.items.length = 0;
    this.head = 0;
    this.settle();
  }

  get finished(): boolean {
    return this.ended || this.error !== undefined;
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
      const value = this.items[this.head++]!;
      if (this.head > 64 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
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
