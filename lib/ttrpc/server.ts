// The TTRPC server: accepts connections (after an optional handshake on the peer's credentials),
// decodes requests, runs interceptors and handlers, and answers with Go ttrpc's status codes for
// every protocol error, keeping the connection usable wherever Go does.
import { Code, TtrpcError, closedError, toTtrpcError } from './errors';
import type { Address } from './address';
import { parseAddress } from './address';
import { FrameFlag, FrameType, MAX_MESSAGE_LENGTH } from './frame';
import type { CallContext } from './context';
import type { Logger } from './log';
import { silentLogger } from './log';
import { Metadata } from './metadata';
import { clearLongTimeout, setLongTimeout } from './timer';
import type { KeyValue } from './metadata';
import { platform } from './platform';
import type {
  Handler,
  MethodDescriptor,
  MethodKind,
  ServiceDescriptor,
  ServiceHandlers,
} from './service';
import { registerService } from './service';
import { DEFAULT_STREAM_BUFFER, DEFAULT_STREAM_BUFFER_BYTES, ReadGate, ownBytes } from './flow';
import { MessageQueue, ServerStream } from './stream';
import { DEFAULT_BUSY_POLL_MICROS } from './transport';
import type { IncomingConnection, PeerInfo, Transport, TransportListener } from './transport';
import { EnvelopeHead, RequestFields, encodeResponse, parseRequest } from './wire';
import type { WireStatus } from './wire';

export type UnaryServerInterceptor = (
  context: CallContext,
  request: unknown,
  next: (request: unknown) => Promise<unknown>,
) => Promise<unknown>;

/** Decides whether to serve a connection, from its peer credentials. */
export type Handshaker = (peer: PeerInfo) => boolean | Promise<boolean>;

export interface ServerOptions {
  /** Run on every new connection before anything is read from it; false or a throw drops it. */
  handshaker?: Handshaker;
  /** Unary interceptors, outermost first. */
  interceptors?: UnaryServerInterceptor[];
  /**
   * Messages queued for one stream whose handler reads slower than the client sends, before the
   * connection stops reading (until the handler has taken half of them); default 1024.
   */
  streamBuffer?: number;
  /** The same bound in bytes, across all the streams of one connection; default 16 MiB. */
  streamBufferBytes?: number;
  logger?: Logger;
  /**
   * Adaptive busy polling per connection (see Client): spin for a connection's next request, when
   * it usually comes within this many µs of our answer. Default 100; 0 turns it off.
   */
  busyPollMicros?: number;
  /** Called once the server has closed and its last connection ended. */
  onClose?: () => void;
}

export interface ShutdownOptions {
  /** In-flight calls get this long to finish before connections are closed; default 5000 ms. */
  timeoutMs?: number;
}

type AnyHandler = (...args: never[]) => unknown;

/** Methods lookupFields remembers by their bytes. */
const RECENT_METHODS = 16;

interface RegisteredMethod {
  descriptor: MethodDescriptor;
  handler: AnyHandler;
}

class Context implements CallContext {
  private controller: AbortController | undefined;
  private md: Metadata | undefined;
  aborted: Error | undefined;

  constructor(
    readonly service: string,
    readonly method: string,
    private readonly wireMetadata: KeyValue[] | undefined,
    readonly deadline: number | undefined,
    readonly peer: PeerInfo,
  ) {}

  get fullMethod(): string {
    return `/${this.service}/${this.method}`;
  }

  get metadata(): Metadata {
    return (this.md ??= Metadata.fromWire(this.wireMetadata));
  }

  // Created on first use: most handlers never look at it, and AbortController is not free.
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.aborted);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = reason;
    this.controller?.abort(reason);
  }
}

interface ServerCall {
  context: Context;
  descriptor: MethodDescriptor;
  timer: ReturnType<typeof setLongTimeout> | undefined;
  queue: MessageQueue<unknown> | undefined;
  done: boolean;
}

function oversize(length: number): TtrpcError {
  return new TtrpcError(
    Code.RESOURCE_EXHAUSTED,
    `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
  );
}

const EMPTY = new Uint8Array(0);

function statusOf(err: TtrpcError): WireStatus {
  return { code: err.code, message: err.message, details: err.details };
}

class ServerConnection {
  private lastStreamId = 0;
  private readonly calls = new Map<number, ServerCall>();
  // Reused for every request and response of this connection (nothing allocated per envelope).
  private readonly fields = new RequestFields();
  private readonly head = new EnvelopeHead();
  private drainWaiters: (() => void)[] = [];
  private closeWhenIdle = false;
  /** Reading is held while answers wait for a peer that does not read them. */
  private outputHeld = false;
  /** The part of a read batch not served yet because answers were waiting (see serveFrames). */
  private unserved:
    { data: Buffer; meta: Float64Array; count: number; bodies: Buffer[] | undefined } | undefined;
  readonly gate: ReadGate;
  closed = false;
  private channel!: Transport;

  constructor(
    private readonly server: Server,
    readonly peer: PeerInfo,
  ) {
    this.gate = new ReadGate(server.streamBufferBytes);
  }

  get transport(): Transport {
    return this.channel;
  }

  set transport(transport: Transport) {
    this.channel = transport;
    this.gate.transport = transport;
  }

  get idle(): boolean {
    return this.calls.size === 0;
  }

  onFrames(data: Buffer, meta: Float64Array, count: number, bodies?: Buffer[]): void {
    this.serveFrames(data, meta, count, bodies, 0);
  }

  // Frames from `from` on. Once answers wait for the peer (outputHeld) the rest of the batch
  // waits too, for onDrain: a peer that sends without reading gets no more answers queued.
  private serveFrames(
    data: Buffer,
    meta: Float64Array,
    count: number,
    bodies: Buffer[] | undefined,
    from: number,
  ): void {
    for (let i = from; i < count && !this.closed; i++) {
      if (this.outputHeld) {
        // The frame table is the channel's, reused for its next batch: keep a copy of the rest.
        this.unserved = { data, meta: meta.slice(3 * i, 3 * count), count: count - i, bodies };
        return;
      }
      const head = meta[3 * i]!;
      const streamId = Math.floor(head / 65536);
      const type = (head >>> 8) & 0xff;
      const flags = head & 0xff;
      let offset = meta[3 * i + 1]!;
      const length = meta[3 * i + 2]!;
      let buf = data;
      if (offset < -1) {
        // A large payload in a buffer of its own.
        buf = bodies![-offset - 2]!;
        offset = 0;
      }
      try {
        // Go's order of checks (server.go): an oversized frame of any type is answered first,
        // then any frame on an even id; requests and data are served, the rest ignored.
        if (offset < 0) this.onOversize(streamId, type, length);
        else if (streamId % 2 === 0)
          this.reject(
            streamId,
            Code.INVALID_ARGUMENT,
            'StreamID must be odd for client initiated streams',
          );
        else if (type === FrameType.REQUEST)
          this.onRequest(streamId, flags, buf, offset, offset + length);
        else if (type === FrameType.DATA)
          this.onData(streamId, flags, buf.subarray(offset, offset + length), buf.length);
        // Responses from a client and unknown types are ignored, as Go does (future types).
      } catch (err) {
        this.server.logger.warn({ err, streamId }, 'ttrpc: failed to handle frame');
      }
    }
  }

  onDrain(): void {
    if (this.outputHeld) {
      this.outputHeld = false;
      const rest = this.unserved;
      this.unserved = undefined;
      // May hold reading again (its own hold) before this drain's hold is released.
      if (rest) this.serveFrames(rest.data, rest.meta, rest.count, rest.bodies, 0);
      this.gate.release();
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  onClose(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.unserved = undefined;
    if (error) this.server.logger.debug({ err: error }, 'ttrpc: connection error');
    const reason = closedError(error);
    for (const call of this.calls.values()) {
      call.done = true;
      clearLongTimeout(call.timer);
      call.queue?.fail(reason);
      call.context.abort(reason);
    }
    this.calls.clear();
    this.onDrain();
    this.server.connectionClosed(this);
  }

  close(graceful: boolean): void {
    if (!this.closed) this.transport.close(graceful);
  }

  /** Closes once no call is in flight (server shutdown). */
  closeIdle(): void {
    this.closeWhenIdle = true;
    if (this.idle) this.close(true);
  }

  // Past the high-water mark of queued output, no more requests are read from this connection
  // until the peer has read its answers (onDrain): a client that sends without reading gets
  // blocked in its own socket instead of growing our memory.
  private send(
    streamId: number,
    type: FrameType,
    flags: number,
    payload?: Uint8Array,
    head?: Uint8Array,
    headLength?: number,
  ): number {
    if (this.closed) return 0;
    const queued = this.channel.send(streamId, type, flags, payload, head, headLength);
    if (queued >= this.channel.highWaterMark && !this.outputHeld) {
      this.outputHeld = true;
      this.gate.hold();
    }
    return queued;
  }

  private respond(streamId: number, payload?: Uint8Array, error?: TtrpcError): void {
    if (!error && payload !== undefined) {
      // Response{payload}: the envelope's two or three bytes go before the payload as it is.
      const head = this.head;
      head.response(payload.length);
      if (head.length + payload.length <= MAX_MESSAGE_LENGTH) {
        this.send(streamId, FrameType.RESPONSE, 0, payload, head.buf, head.length);
        return;
      }
    }
    let frame = encodeResponse(payload, error ? statusOf(error) : undefined);
    if (frame.length > MAX_MESSAGE_LENGTH)
      frame = encodeResponse(undefined, statusOf(oversize(frame.length)));
    this.send(streamId, FrameType.RESPONSE, 0, frame);
  }

  private reject(streamId: number, code: Code, message: string): void {
    this.respond(streamId, undefined, new TtrpcError(code, message));
  }

  // Whatever its type, as Go does; data for a running stream ends that stream.
  private onOversize(streamId: number, type: number, length: number): void {
    const err = oversize(length);
    const call = type === FrameType.DATA ? this.calls.get(streamId) : undefined;
    if (call) this.finish(streamId, call, undefined, err);
    else this.respond(streamId, undefined, err);
  }

  private onRequest(
    streamId: number,
    flags: number,
    data: Buffer,
    start: number,
    end: number,
  ): void {
    if (streamId <= this.lastStreamId) {
      this.reject(streamId, Code.INVALID_ARGUMENT, 'StreamID cannot be re-used and must increment');
      return;
    }
    this.lastStreamId = streamId;
    const request = this.fields;
    try {
      parseRequest(data, start, end, request);
    } catch (err) {
      this.reject(
        streamId,
        Code.INVALID_ARGUMENT,
        `unmarshal request error: ${(err as Error).message}`,
      );
      return;
    }
    const registered = this.server.lookupFields(data, request);
    if (!registered) {
      const service = data.toString('utf8', request.serviceStart, request.serviceEnd);
      const method = data.toString('utf8', request.methodStart, request.methodEnd);
      this.reject(
        streamId,
        Code.UNIMPLEMENTED,
        this.server.hasService(service) ? `method ${method}` : `service ${service}`,
      );
      return;
    }
    const payload =
      request.payloadEnd > request.payloadStart
        ? data.subarray(request.payloadStart, request.payloadEnd)
        : EMPTY;
    const { descriptor } = registered;
    const timeoutNano = request.timeoutNano;
    const deadline = timeoutNano > 0 ? Date.now() + timeoutNano / 1e6 : undefined;
    const context = new Context(
      descriptor.service,
      descriptor.name,
      request.metadata,
      deadline,
      this.peer,
    );
    const call: ServerCall = {
      context,
      descriptor,
      timer: undefined,
      queue: undefined,
      done: false,
    };
    this.calls.set(streamId, call);
    if (timeoutNano > 0) {
      call.timer = setLongTimeout(
        () => {
          call.timer = undefined;
          this.finish(
            streamId,
            call,
            undefined,
            new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded'),
          );
        },
        Math.max(0, timeoutNano / 1e6),
      );
    }
    if (descriptor.kind === 'unary') this.runUnary(streamId, call, registered, payload);
    else this.runStream(streamId, flags, call, registered, payload);
  }

  private decode(descriptor: MethodDescriptor, payload: Uint8Array): unknown {
    try {
      return descriptor.requestType.decode(payload);
    } catch (err) {
      throw new TtrpcError(
        Code.INVALID_ARGUMENT,
        `unmarshal request error: ${(err as Error).message}`,
      );
    }
  }

  private encode(descriptor: MethodDescriptor, message: unknown): Uint8Array {
    return descriptor.responseType.encode((message ?? {}) as never).finish();
  }

  private runUnary(
    streamId: number,
    call: ServerCall,
    registered: RegisteredMethod,
    payload: Uint8Array,
  ): void {
    const { descriptor } = registered;
    const ok = (response: unknown): void => {
      if (call.done) return;
      let bytes: Uint8Array;
      try {
        bytes = this.encode(descriptor, response);
      } catch (err) {
        this.finish(
          streamId,
          call,
          undefined,
          new TtrpcError(Code.INTERNAL, `marshal response error: ${(err as Error).message}`),
        );
        return;
      }
      this.finish(streamId, call, bytes);
    };
    const fail = (err: unknown): void => this.finish(streamId, call, undefined, toTtrpcError(err));
    let result: unknown;
    try {
      const request = this.decode(descriptor, payload);
      result = this.server.invokeUnary(registered, call.context, request);
    } catch (err) {
      fail(err);
      return;
    }
    if (result instanceof Promise) result.then(ok, fail);
    else ok(result);
  }

  private runStream(
    streamId: number,
    flags: number,
    call: ServerCall,
    registered: RegisteredMethod,
    payload: Uint8Array,
  ): void {
    const { descriptor, handler } = registered;
    const kind: MethodKind = descriptor.kind;
    const queue = new MessageQueue<unknown>(this.server.streamBuffer, this.gate);
    call.queue = queue;
    let first: unknown;
    try {
      // Go delivers the Request's payload as the first message unless the client streams
      // (client-streaming or bidi) and the payload is empty (ttrpc#157).
      if (payload.length > 0 || kind === 'serverStream') {
        first = this.decode(descriptor, payload);
        if (kind !== 'serverStream') queue.push(first);
      }
    } catch (err) {
      this.finish(streamId, call, undefined, toTtrpcError(err));
      return;
    }
    if ((flags & FrameFlag.REMOTE_OPEN) === 0) queue.end();
    const stream = new ServerStream<unknown, unknown>(
      queue,
      {
        send: (message) => this.sendStreamMessage(streamId, call, descriptor, message),
        closeSend: () => undefined,
      },
      call.context.signal,
    );
    const fail = (err: unknown): void => this.finish(streamId, call, undefined, toTtrpcError(err));
    let result: unknown;
    try {
      const fn = handler as (...args: unknown[]) => unknown;
      result = kind === 'serverStream' ? fn(first, stream, call.context) : fn(stream, call.context);
    } catch (err) {
      fail(err);
      return;
    }
    Promise.resolve(result).then((value) => {
      if (call.done) return;
      if (kind === 'clientStream') {
        let bytes: Uint8Array;
        try {
          bytes = this.encode(descriptor, value);
        } catch (err) {
          fail(err);
          return;
        }
        this.finish(streamId, call, bytes);
      } else {
        this.finish(streamId, call, undefined, undefined, true);
      }
    }, fail);
  }

  private async sendStreamMessage(
    streamId: number,
    call: ServerCall,
    descriptor: MethodDescriptor,
    message: unknown,
  ): Promise<void> {
    if (call.done) throw call.context.aborted ?? closedError();
    const bytes = this.encode(descriptor, message);
    if (bytes.length > MAX_MESSAGE_LENGTH) throw oversize(bytes.length);
    const queued = this.send(streamId, FrameType.DATA, 0, bytes);
    if (queued >= this.transport.highWaterMark && !this.closed) {
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    }
  }

  private onData(streamId: number, flags: number, payload: Uint8Array, batchLength: number): void {
    const call = this.calls.get(streamId);
    const closing = (flags & FrameFlag.REMOTE_CLOSED) !== 0;
    const noData = (flags & FrameFlag.NO_DATA) !== 0;
    if (!call) {
      // A bare close for a stream that already ended is the normal race; anything else is not.
      if (streamId <= this.lastStreamId && closing && noData) return;
      this.reject(streamId, Code.INVALID_ARGUMENT, 'StreamID is no longer active');
      return;
    }
    const queue = call.queue;
    if (!queue) return; // data for a unary call: nothing will read it
    if (!noData) {
      let message: unknown;
      try {
        const bytes = queue.waiting ? payload : ownBytes(payload, batchLength);
        message = this.decode(call.descriptor, bytes);
      } catch (err) {
        this.finish(streamId, call, undefined, toTtrpcError(err));
        return;
      }
      queue.push(message, payload.length);
    }
    if (closing) queue.end();
  }

  /**
   * Ends a call: a Response with `payload` or `error`, or for streams that ended well a
   * DATA[REMOTE_CLOSED|NO_DATA]. Only the first ending counts.
   */
  private finish(
    streamId: number,
    call: ServerCall,
    payload?: Uint8Array,
    error?: TtrpcError,
    endStream = false,
  ): void {
    if (call.done) return;
    call.done = true;
    this.calls.delete(streamId);
    clearLongTimeout(call.timer);
    if (endStream && !error) {
      this.send(streamId, FrameType.DATA, FrameFlag.REMOTE_CLOSED | FrameFlag.NO_DATA);
    } else {
      this.respond(streamId, payload, error);
    }
    if (error) {
      call.queue?.fail(error);
      call.context.abort(error);
    } else {
      call.queue?.end();
    }
    if (this.closeWhenIdle && this.idle) this.close(true);
  }
}

/**
 * A TTRPC server. Register services (generated `registerXService` helpers or `addMethod`), then
 * `listen` on one or more addresses.
 */
export class Server {
  readonly logger: Logger;
  readonly streamBuffer: number;
  readonly streamBufferBytes: number;
  private readonly services = new Map<string, Map<string, RegisteredMethod>>();
  private readonly recent: { key: Buffer; serviceLength: number; registered: RegisteredMethod }[] =
    [];
  private readonly listeners = new Set<TransportListener>();
  private readonly connections = new Set<ServerConnection>();
  private readonly interceptors: UnaryServerInterceptor[];
  private readonly handshaker: Handshaker | undefined;
  private readonly onCloseCallback: (() => void) | undefined;
  private readonly busyPollMicros: number;
  private state: 'open' | 'shutting-down' | 'closed' = 'open';
  private closeWaiters: (() => void)[] = [];

  constructor(options: ServerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.streamBuffer = options.streamBuffer ?? DEFAULT_STREAM_BUFFER;
    this.streamBufferBytes = options.streamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
    this.interceptors = options.interceptors ?? [];
    this.handshaker = options.handshaker;
    this.onCloseCallback = options.onClose;
    this.busyPollMicros = options.busyPollMicros ?? DEFAULT_BUSY_POLL_MICROS;
  }

  /** Registers one method; replaces an earlier registration of the same name. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  addMethod<M extends MethodDescriptor<any, any, any, any>>(
    descriptor: M,
    handler: Handler<M>,
  ): void {
    let methods = this.services.get(descriptor.service);
    if (!methods) {
      methods = new Map();
      this.services.set(descriptor.service, methods);
    }
    methods.set(descriptor.name, { descriptor, handler: handler as AnyHandler });
    this.recent.length = 0;
  }

  /** Registers a whole service; methods missing from `handlers` answer UNIMPLEMENTED. */
  register<S extends ServiceDescriptor>(service: S, handlers: Partial<ServiceHandlers<S>>): this {
    registerService(this, service, handlers);
    return this;
  }

  lookup(service: string, method: string): RegisteredMethod | undefined {
    return this.services.get(service)?.get(method);
  }

  /**
   * The method a parsed request names, found by its bytes: a small cache of recently called
   * methods spares decoding two strings and hashing them on every call.
   */
  lookupFields(data: Buffer, f: RequestFields): RegisteredMethod | undefined {
    const serviceLength = f.serviceEnd - f.serviceStart;
    const methodLength = f.methodEnd - f.methodStart;
    const cache = this.recent;
    for (let i = 0; i < cache.length; i++) {
      const entry = cache[i]!;
      const key = entry.key;
      if (entry.serviceLength !== serviceLength || key.length !== serviceLength + methodLength)
        continue;
      let same = true;
      for (let j = 0; j < serviceLength && same; j++) same = key[j] === data[f.serviceStart + j];
      for (let j = 0; j < methodLength && same; j++)
        same = key[serviceLength + j] === data[f.methodStart + j];
      if (same) return entry.registered;
    }
    const registered = this.lookup(
      data.toString('utf8', f.serviceStart, f.serviceEnd),
      data.toString('utf8', f.methodStart, f.methodEnd),
    );
    if (registered) {
      if (cache.length >= RECENT_METHODS) cache.shift();
      const key = Buffer.allocUnsafe(serviceLength + methodLength);
      data.copy(key, 0, f.serviceStart, f.serviceEnd);
      data.copy(key, serviceLength, f.methodStart, f.methodEnd);
      cache.push({ key, serviceLength, registered });
    }
    return registered;
  }

  hasService(service: string): boolean {
    return this.services.has(service);
  }

  invokeUnary(registered: RegisteredMethod, context: CallContext, request: unknown): unknown {
    const handler = registered.handler as (request: unknown, context: CallContext) => unknown;
    if (this.interceptors.length === 0) return handler(request, context);
    const chain = (index: number, req: unknown): Promise<unknown> => {
      if (index === this.interceptors.length)
        return Promise.resolve().then(() => handler(req, context));
      return this.interceptors[index]!(context, req, (next) => chain(index + 1, next));
    };
    return chain(0, request);
  }

  /**
   * Starts accepting on `address`: `unix:///path`, a path, `@abstract`, or `fd://N` for a socket
   * that is already listening (a shim's fd 3). Resolves once connections are being accepted.
   */
  async listen(address: string | Address): Promise<void> {
    if (this.state !== 'open') throw new TtrpcError(Code.UNAVAILABLE, 'ttrpc: server closed');
    const parsed = typeof address === 'string' ? parseAddress(address) : address;
    const listener = platform.listen(
      parsed,
      (incoming) => this.accept(incoming),
      (err) => this.logger.warn({ err }, 'ttrpc: accept failed'),
    );
    this.listeners.add(listener);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(incoming: IncomingConnection): void {
    if (this.state !== 'open') {
      incoming.reject();
      return;
    }
    if (!this.handshaker) {
      this.open(incoming);
      return;
    }
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.handshaker(incoming.peer);
    } catch (err) {
      this.refuse(incoming, err);
      return;
    }
    Promise.resolve(verdict).then(
      (ok) => (ok && this.state === 'open' ? this.open(incoming) : this.refuse(incoming)),
      (err) => this.refuse(incoming, err),
    );
  }

  private refuse(incoming: IncomingConnection, err?: unknown): void {
    this.logger.warn({ err, peer: incoming.peer }, 'ttrpc: refusing connection after handshake');
    incoming.reject();
  }

  private open(incoming: IncomingConnection): void {
    const connection = new ServerConnection(this, incoming.peer);
    this.connections.add(connection);
    connection.transport = incoming.open({
      onFrames: (data, meta, count, bodies) => connection.onFrames(data, meta, count, bodies),
      onDrain: () => connection.onDrain(),
      onClose: (err) => connection.onClose(err),
    });
    if (this.busyPollMicros > 0) connection.transport.setBusyPoll(this.busyPollMicros);
  }

  connectionClosed(connection: ServerConnection): void {
    this.connections.delete(connection);
    if (this.state !== 'open' && this.connections.size === 0) this.closed();
  }

  private closed(): void {
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    if (waiters.length === 0 && this.state === 'closed') return;
    this.state = 'closed';
    for (const w of waiters) w();
    this.onCloseCallback?.();
  }

  private stopListening(): void {
    for (const listener of this.listeners) listener.close();
    this.listeners.clear();
  }

  private whenClosed(): Promise<void> {
    if (this.connections.size === 0) {
      this.closed();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /**
   * Graceful stop: no new connections; each connection closes once its in-flight calls finished;
   * after `timeoutMs` whatever remains is closed.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'shutting-down';
    this.stopListening();
    for (const c of this.connections) c.closeIdle();
    const done = this.whenClosed();
    const timer = setTimeout(() => {
      for (const c of this.connections) c.close(false);
    }, options.timeoutMs ?? 5000);
    try {
      await done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Immediate stop: connections close now and in-flight calls are aborted. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'shutting-down';
    this.stopListening();
    for (const c of this.connections) c.close(false);
    await this.whenClosed();
  }

  /** Keeps (or stops keeping) the process alive through the listeners. */
  ref(): void {
    for (const l of this.listeners) l.ref();
  }

  unref(): void {
    for (const l of this.listeners) l.unref();
  }
}
