// The TTRPC client: one connection, odd stream ids in increasing order, unary calls with
// deadlines, metadata and interceptors, and client-, server- and bidi-streaming calls.
import type { Address } from './address';
import { parseAddress } from './address';
import { Code, TtrpcError, closedError } from './errors';
import { FrameFlag, FrameType, MAX_MESSAGE_LENGTH } from './frame';
import { Metadata } from './metadata';
import { clearLongTimeout, setLongTimeout } from './timer';
import type { KeyValue, MetadataInit } from './metadata';
import { platform } from './platform';
import type { MethodDescriptor } from './service';
import { DEFAULT_STREAM_BUFFER, DEFAULT_STREAM_BUFFER_BYTES, ReadGate, ownBytes } from './flow';
import { ClientStream, MessageQueue } from './stream';
import { DEFAULT_BUSY_POLL_MICROS } from './transport';
import type { PeerInfo, Transport } from './transport';
import { EnvelopeHead, ResponseFields, decodeStatus, methodPrefix, parseResponse } from './wire';

export interface CallOptions {
  /** Relative deadline; sent to the server as timeout_nano. */
  timeoutMs?: number;
  /** Absolute deadline (Date or Date.now() milliseconds); the earlier of the two wins. */
  deadline?: Date | number;
  /** Aborting fails the call with CANCELLED. */
  signal?: AbortSignal;
  metadata?: MetadataInit;
}

/** What a client interceptor knows about an outgoing call. */
export interface ClientCallInfo {
  readonly service: string;
  readonly method: string;
  readonly fullMethod: string;
  /** Mutable: interceptors may add metadata. */
  readonly metadata: Metadata;
  readonly deadline: number | undefined;
}

export type UnaryClientInterceptor = (
  call: ClientCallInfo,
  request: unknown,
  next: (request: unknown) => Promise<unknown>,
) => Promise<unknown>;

export interface ClientOptions {
  /** How long `connect` retries while the server's backlog is full; default 5000 ms. */
  connectTimeoutMs?: number;
  /** Unary interceptors, outermost first. */
  interceptors?: UnaryClientInterceptor[];
  /** Runs once when the connection ends (local close or peer gone), with the cause if any. */
  onClose?: (error?: Error) => void;
  /**
   * Messages queued for one stream that is read slower than the server sends, before the
   * connection stops reading (until half of them were read); default 1024.
   */
  streamBuffer?: number;
  /** The same bound in bytes, across all the streams of the connection; default 16 MiB. */
  streamBufferBytes?: number;
  /**
   * Adaptive busy polling (Linux): when this connection's recent answers came within this many
   * microseconds, it spins (yielding the CPU) for about twice their usual delay instead of letting
   * the process sleep, which saves the tens of µs a sleeping vCPU takes to wake. Idle and slow
   * connections never spin. Default 100; 0 turns it off.
   */
  busyPollMicros?: number;
}

interface Pending {
  /** The response payload, or for a unary call with a responseType its decoded message. */
  resolve(response: unknown): void;
  reject(error: Error): void;
  stream: MessageQueue<unknown> | undefined;
  responseType: MethodDescriptor['responseType'] | undefined;
  cleanup: (() => void) | undefined;
}

const MAX_STREAM_ID = 0xffffffff;
const EMPTY = new Uint8Array(0);

// What interceptors see of a call; metadata is only materialized when someone asks for it.
class CallInfo implements ClientCallInfo {
  private md: Metadata | undefined;
  readonly deadline: number | undefined;
  private readonly init: MetadataInit | undefined;

  constructor(
    readonly service: string,
    readonly method: string,
    options: CallOptions | undefined,
  ) {
    this.init = options?.metadata;
    this.deadline = deadlineOf(options);
  }

  get fullMethod(): string {
    return `/${this.service}/${this.method}`;
  }

  get metadata(): Metadata {
    return (this.md ??= new Metadata(this.init));
  }

  wireMetadata(): KeyValue[] | undefined {
    if (this.md === undefined && this.init === undefined) return undefined;
    const md = this.metadata;
    return md.size > 0 ? md.toWire() : undefined;
  }
}

function deadlineOf(options: CallOptions | undefined): number | undefined {
  if (!options) return undefined;
  let deadline: number | undefined;
  if (options.timeoutMs !== undefined) deadline = Date.now() + options.timeoutMs;
  if (options.deadline !== undefined) {
    const abs =
      typeof options.deadline === 'number' ? options.deadline : options.deadline.getTime();
    deadline = deadline === undefined ? abs : Math.min(deadline, abs);
  }
  return deadline;
}

function abortError(signal: AbortSignal): TtrpcError {
  const reason: unknown = signal.reason;
  if (TtrpcError.is(reason)) return reason;
  return new TtrpcError(Code.CANCELLED, 'context canceled', { cause: reason });
}

function oversize(length: number): TtrpcError {
  return new TtrpcError(
    Code.RESOURCE_EXHAUSTED,
    `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
  );
}

export class Client {
  private transport!: Transport;
  private nextStreamId = 1;
  private readonly pending = new Map<number, Pending>();
  // Envelope scratch: requests written, responses parsed in place (nothing allocated for them).
  private readonly head = new EnvelopeHead();
  private readonly fields = new ResponseFields();
  private readonly prefixes = new Map<string, Map<string, Buffer>>();
  private closeError: Error | undefined;
  private isClosed = false;
  private drainWaiters: (() => void)[] = [];
  private readonly interceptors: UnaryClientInterceptor[];
  private readonly onCloseCallback: ((error?: Error) => void) | undefined;
  private readonly streamBuffer: number;
  private readonly gate: ReadGate;
  private closedResolve!: () => void;
  /** Resolves when the connection has ended (Go's UserOnCloseWait). */
  readonly closedPromise: Promise<void>;
  /** The server's process credentials (SO_PEERCRED), -1 where unknown. */
  peer: PeerInfo = { pid: -1, uid: -1, gid: -1 };

  private constructor(options: ClientOptions) {
    this.interceptors = options.interceptors ?? [];
    this.onCloseCallback = options.onClose;
    this.streamBuffer = options.streamBuffer ?? DEFAULT_STREAM_BUFFER;
    this.gate = new ReadGate(options.streamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES);
    this.closedPromise = new Promise((resolve) => (this.closedResolve = resolve));
  }

  /** Connects to `unix:///path`, a path, or `@abstract`. */
  static async connect(address: string | Address, options: ClientOptions = {}): Promise<Client> {
    const client = new Client(options);
    const parsed = typeof address === 'string' ? parseAddress(address) : address;
    const { transport, peer } = await platform.connect(
      parsed,
      {
        onFrames: (data, meta, count, bodies) => client.onFrames(data, meta, count, bodies),
        onDrain: () => client.onDrain(),
        onClose: (err) => client.onClose(err),
      },
      { timeoutMs: options.connectTimeoutMs },
    );
    client.transport = transport;
    client.gate.transport = transport;
    client.peer = peer;
    transport.setBusyPoll(options.busyPollMicros ?? DEFAULT_BUSY_POLL_MICROS);
    return client;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Closes the connection; pending calls fail with UNAVAILABLE "ttrpc: closed". */
  close(): void {
    if (!this.isClosed) this.transport.close(false);
  }

  /** Lets the process exit while this connection is open (and undoes it). */
  unref(): void {
    this.transport.unref();
  }

  ref(): void {
    this.transport.ref();
  }

  /** A typed unary call (the generated clients use this). */
  unary<Req, ReqIn, Res, ResIn>(
    method: MethodDescriptor<Req, ReqIn, Res, ResIn>,
    request: ReqIn,
    options?: CallOptions,
  ): Promise<Res> {
    const info = new CallInfo(method.service, method.name, options);
    const invoke = (req: unknown): Promise<Res> => {
      try {
        const payload = method.requestType.encode(req as ReqIn).finish();
        // Decoded as the response arrives: no extra promise per call.
        return this.send(info, payload, options, method.responseType) as Promise<Res>;
      } catch (err) {
        return Promise.reject(err as Error);
      }
    };
    if (this.interceptors.length === 0) return invoke(request);
    return this.intercept(info, request, invoke) as Promise<Res>;
  }

  /** A unary call with raw payload bytes (no protobuf types needed). */
  call(
    service: string,
    method: string,
    payload: Uint8Array,
    options?: CallOptions,
  ): Promise<Uint8Array> {
    const info = new CallInfo(service, method, options);
    const invoke = (req: unknown): Promise<Uint8Array> => {
      try {
        return this.send(info, req as Uint8Array, options) as Promise<Uint8Array>;
      } catch (err) {
        return Promise.reject(err as Error);
      }
    };
    if (this.interceptors.length === 0) return invoke(payload);
    return this.intercept(info, payload, invoke) as Promise<Uint8Array>;
  }

  private intercept(
    info: ClientCallInfo,
    request: unknown,
    invoke: (request: unknown) => Promise<unknown>,
  ): Promise<unknown> {
    const chain = (index: number, req: unknown): Promise<unknown> => {
      if (index === this.interceptors.length) return invoke(req);
      return this.interceptors[index]!(info, req, (next) => chain(index + 1, next));
    };
    return chain(0, request);
  }

  private allocateStreamId(): number {
    if (this.nextStreamId > MAX_STREAM_ID) {
      throw new TtrpcError(
        Code.RESOURCE_EXHAUSTED,
        'ttrpc: stream ids exhausted on this connection',
      );
    }
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    return id;
  }

  private checkOpen(): void {
    if (this.isClosed) throw closedError(this.closeError);
  }

  private send(
    info: CallInfo,
    payload: Uint8Array,
    options: CallOptions | undefined,
    responseType?: MethodDescriptor['responseType'],
  ): Promise<unknown> {
    this.checkOpen();
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const remaining = info.deadline === undefined ? undefined : info.deadline - Date.now();
    if (remaining !== undefined && remaining <= 0) {
      return Promise.reject(new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded'));
    }
    const length = this.writeHead(
      info,
      remaining === undefined ? 0 : Math.round(remaining * 1e6),
      payload.length,
    );
    if (length > MAX_MESSAGE_LENGTH) return Promise.reject(oversize(length));
    const streamId = this.allocateStreamId();
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        stream: undefined,
        responseType,
        cleanup: undefined,
      };
      this.track(streamId, p, remaining, signal);
      this.pending.set(streamId, p);
      const head = this.head;
      this.transport.send(streamId, FrameType.REQUEST, 0, payload, head.buf, head.length);
    });
  }

  /**
   * Writes a request's envelope up to its payload into `this.head`; returns the length of the
   * whole Request. Service and method are encoded once per method.
   */
  private writeHead(info: CallInfo, timeoutNano: number, payloadLength: number): number {
    let methods = this.prefixes.get(info.service);
    if (!methods) {
      methods = new Map();
      this.prefixes.set(info.service, methods);
    }
    let prefix = methods.get(info.method);
    if (!prefix) {
      prefix = methodPrefix(info.service, info.method);
      methods.set(info.method, prefix);
    }
    this.head.request(prefix, timeoutNano, info.wireMetadata(), payloadLength);
    return this.head.length + payloadLength;
  }

  // Deadline timer and abort listener of one call; removed when the call settles.
  private track(
    streamId: number,
    p: Pending,
    remaining: number | undefined,
    signal: AbortSignal | undefined,
  ): void {
    if (remaining === undefined && !signal) return;
    let timer: ReturnType<typeof setLongTimeout> | undefined;
    const onAbort = (): void => this.fail(streamId, abortError(signal!));
    if (remaining !== undefined) {
      timer = setLongTimeout(
        () =>
          this.fail(streamId, new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded')),
        remaining,
      );
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    p.cleanup = () => {
      clearLongTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  }

  private fail(streamId: number, error: Error): void {
    const p = this.pending.get(streamId);
    if (!p) return;
    this.pending.delete(streamId);
    p.cleanup?.();
    p.stream?.fail(error);
    p.reject(error);
  }

  private onFrames(data: Buffer, meta: Float64Array, count: number, bodies?: Buffer[]): void {
    for (let i = 0; i < count; i++) {
      const head = meta[3 * i]!;
      const streamId = Math.floor(head / 65536);
      const type = (head >>> 8) & 0xff;
      const flags = head & 0xff;
      let offset = meta[3 * i + 1]!;
      const length = meta[3 * i + 2]!;
      const p = this.pending.get(streamId);
      if (!p) continue; // late response of a call that timed out or was cancelled
      let buf = data;
      if (offset < -1) {
        // A large payload in a buffer of its own.
        buf = bodies![-offset - 2]!;
        offset = 0;
      }
      if (offset < 0) {
        this.fail(streamId, oversize(length));
      } else if (type === FrameType.RESPONSE) {
        this.onResponse(streamId, p, buf, offset, offset + length);
      } else if (type === FrameType.DATA) {
        this.onData(streamId, p, flags, buf.subarray(offset, offset + length), buf.length);
      }
    }
  }

  private onResponse(streamId: number, p: Pending, data: Buffer, start: number, end: number): void {
    this.pending.delete(streamId);
    p.cleanup?.();
    const f = this.fields;
    let status;
    try {
      parseResponse(data, start, end, f);
      if (f.statusStart >= 0) status = decodeStatus(data.subarray(f.statusStart, f.statusEnd));
    } catch (err) {
      const error = new TtrpcError(
        Code.INTERNAL,
        `ttrpc: invalid response: ${(err as Error).message}`,
      );
      p.stream?.fail(error);
      p.reject(error);
      return;
    }
    if (status) {
      const error = new TtrpcError(status.code, status.message, { details: status.details });
      p.stream?.fail(error);
      p.reject(error);
      return;
    }
    const payload =
      f.payloadEnd > f.payloadStart ? data.subarray(f.payloadStart, f.payloadEnd) : EMPTY;
    if (p.stream) {
      p.stream.end();
      p.resolve(payload);
    } else if (p.responseType) {
      let message: unknown;
      try {
        message = p.responseType.decode(payload);
      } catch (err) {
        p.reject(err as Error);
        return;
      }
      p.resolve(message);
    } else {
      p.resolve(payload);
    }
  }

  private onData(
    streamId: number,
    p: Pending,
    flags: number,
    payload: Uint8Array,
    batchLength: number,
  ): void {
    const stream = p.stream;
    if (!stream) {
      this.fail(
        streamId,
        new TtrpcError(Code.INTERNAL, 'ttrpc: unexpected data frame for a unary call'),
      );
      return;
    }
    if ((flags & FrameFlag.NO_DATA) === 0) {
      let message: unknown;
      try {
        const bytes = stream.waiting ? payload : ownBytes(payload, batchLength);
        message = p.responseType!.decode(bytes);
      } catch (err) {
        this.fail(
          streamId,
          new TtrpcError(Code.INTERNAL, `ttrpc: invalid stream message: ${(err as Error).message}`),
        );
        return;
      }
      stream.push(message, payload.length);
    }
    if ((flags & FrameFlag.REMOTE_CLOSED) !== 0) {
      this.pending.delete(streamId);
      p.cleanup?.();
      stream.end();
      p.resolve(new Uint8Array(0));
    }
  }

  private onDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private onClose(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeError = error;
    const reason = closedError(error);
    for (const [id] of this.pending) this.fail(id, reason);
    this.onDrain();
    this.closedResolve();
    this.onCloseCallback?.(error);
  }

  /** Opens a stream for a streaming method; `initial` is the Request's payload if any. */
  private openStream<ReqIn, Res>(
    method: MethodDescriptor<unknown, ReqIn, Res, unknown>,
    initial: ReqIn | undefined,
    clientSends: boolean,
    options: CallOptions | undefined,
  ): ClientStream<ReqIn, Res> {
    this.checkOpen();
    const info = new CallInfo(method.service, method.name, options);
    const remaining = info.deadline === undefined ? undefined : info.deadline - Date.now();
    const payload =
      initial === undefined ? new Uint8Array(0) : method.requestType.encode(initial).finish();
    const length = this.writeHead(
      info,
      remaining === undefined ? 0 : Math.max(1, Math.round(remaining * 1e6)),
      payload.length,
    );
    if (length > MAX_MESSAGE_LENGTH) throw oversize(length);
    const streamId = this.allocateStreamId();
    const queue = new MessageQueue<Res>(this.streamBuffer, this.gate);
    let sendClosed = !clientSends;
    const response = new Promise<Uint8Array>((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        stream: queue as MessageQueue<unknown>,
        responseType: method.responseType,
        cleanup: undefined,
      };
      this.track(streamId, p, remaining, options?.signal);
      this.pending.set(streamId, p);
    }).then((bytes) => method.responseType.decode(bytes));
    const head = this.head;
    this.transport.send(
      streamId,
      FrameType.REQUEST,
      clientSends ? FrameFlag.REMOTE_OPEN : FrameFlag.REMOTE_CLOSED,
      payload,
      head.buf,
      head.length,
    );
    const sink = {
      send: async (message: ReqIn): Promise<void> => {
        if (sendClosed)
          throw new TtrpcError(Code.FAILED_PRECONDITION, 'ttrpc: send on a closed stream');
        this.checkOpen();
        const bytes = method.requestType.encode(message).finish();
        if (bytes.length > MAX_MESSAGE_LENGTH) throw oversize(bytes.length);
        const queued = this.transport.send(streamId, FrameType.DATA, 0, bytes);
        if (queued >= this.transport.highWaterMark && !this.isClosed) {
          await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
        }
      },
      closeSend: (): void => {
        if (sendClosed || this.isClosed) return;
        sendClosed = true;
        this.transport.send(streamId, FrameType.DATA, FrameFlag.REMOTE_CLOSED | FrameFlag.NO_DATA);
      },
    };
    const cancel = (reason?: Error): void =>
      this.fail(streamId, reason ?? new TtrpcError(Code.CANCELLED, 'context canceled'));
    return new ClientStream<ReqIn, Res>(queue, sink, response, cancel);
  }

  /** A server-streaming call: one request, responses as an async iterable. */
  serverStream<Req, ReqIn, Res, ResIn>(
    method: MethodDescriptor<Req, ReqIn, Res, ResIn>,
    request: ReqIn,
    options?: CallOptions,
  ): ClientStream<ReqIn, Res> {
    return this.openStream(
      method as MethodDescriptor<unknown, ReqIn, Res, unknown>,
      request,
      false,
      options,
    );
  }

  /** A client-streaming call: `send` messages, `closeSend`, then await `response`. */
  clientStream<Req, ReqIn, Res, ResIn>(
    method: MethodDescriptor<Req, ReqIn, Res, ResIn>,
    options?: CallOptions,
  ): ClientStream<ReqIn, Res> {
    return this.openStream(
      method as MethodDescriptor<unknown, ReqIn, Res, unknown>,
      undefined,
      true,
      options,
    );
  }

  /** A bidirectional call: `send`/`closeSend`, and responses as an async iterable. */
  bidiStream<Req, ReqIn, Res, ResIn>(
    method: MethodDescriptor<Req, ReqIn, Res, ResIn>,
    options?: CallOptions,
  ): ClientStream<ReqIn, Res> {
    return this.openStream(
      method as MethodDescriptor<unknown, ReqIn, Res, unknown>,
      undefined,
      true,
      options,
    );
  }
}
