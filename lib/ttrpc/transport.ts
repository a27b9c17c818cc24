// What the protocol layer needs from a byte transport, independent of the platform: frame
// batches in, frames out, backpressure and close. transport-unix.ts (unix sockets) and
// transport-win.ts (named pipes) implement it over the addon.
import type { Address } from './address';

/** Peer process credentials of a connection; -1 where the platform cannot tell. */
export interface PeerInfo {
  pid: number;
  uid: number;
  gid: number;
}

export interface TransportHandlers {
  /**
   * Complete frames of one read, in the native batch format (see frame.ts): `count` frames
   * described in `meta`, payloads in `data` or, for large ones, in `bodies`.
   */
  onFrames(data: Buffer, meta: Float64Array, count: number, bodies?: Buffer[]): void;
  /** Queued output fell to zero after having passed the high-water mark. */
  onDrain(): void;
  /** The connection ended: `error` is undefined for EOF or a local close. */
  onClose(error?: Error): void;
}

/**
 * Default bound of one adaptive busy-poll spin (Client and Server `busyPollMicros`): a connection
 * spins for the peer's answer only when its recent answers came this soon, about twice as long as
 * they usually take. 100 µs, or the environment's TTRPC_BUSY_POLL_MICROS (0 turns it off).
 */
export const DEFAULT_BUSY_POLL_MICROS = busyPollFromEnv(process.env.TTRPC_BUSY_POLL_MICROS, 100);

/** TTRPC_BUSY_POLL_MICROS as a bound in µs; `fallback` when unset or not a number ≥ 0. */
export function busyPollFromEnv(value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** One connection carrying TTRPC frames. */
export interface Transport {
  /**
   * Queues a frame: the first `headLength` bytes of `head` (an envelope written in a scratch
   * buffer) then `payload`. Returns the bytes now queued (compare with `highWaterMark`).
   */
  send(
    streamId: number,
    type: number,
    flags: number,
    payload?: Uint8Array,
    head?: Uint8Array,
    headLength?: number,
  ): number;
  /** Closes; `graceful` first writes what is queued. onClose follows asynchronously. */
  close(graceful?: boolean): void;
  pauseReading(): void;
  resumeReading(): void;
  ref(): void;
  unref(): void;
  readonly buffered: number;
  readonly highWaterMark: number;
  /**
   * Adaptive busy polling: spin for the peer's answer, when it usually comes soon, up to this long
   * before sleeping (0: off; where supported).
   */
  setBusyPoll(microseconds: number): void;
}

export interface IncomingConnection {
  readonly peer: PeerInfo;
  /** Starts reading from the connection. */
  open(handlers: TransportHandlers): Transport;
  /** Drops the connection without reading from it. */
  reject(): void;
}

export interface TransportListener {
  readonly address: Address;
  /** Stops accepting; a path socket this listener bound is unlinked. */
  close(): void;
  ref(): void;
  unref(): void;
}

export interface ConnectOptions {
  /** How long to retry while the listener's backlog is full; default 5000 ms. */
  timeoutMs?: number;
}

export interface Platform {
  listen(
    address: Address,
    onConnection: (connection: IncomingConnection) => void,
    onError: (error: Error) => void,
  ): TransportListener;
  connect(
    address: Address,
    handlers: TransportHandlers,
    options?: ConnectOptions,
  ): Promise<{ transport: Transport; peer: PeerInfo }>;
}

/** What both native frame channels (Linux `Channel`, Windows `PipeChannel`) offer. */
export interface NativeFrameChannel extends Pick<Transport, 'send' | 'close'> {
  pauseReading(): void;
  resumeReading(): void;
  ref(): void;
  unref(): void;
  readonly buffered: number;
  setBusyPoll?(microseconds: number): void;
  sendStaged?(streamId: number, type: number, flags: number, length: number): number;
}

/** Frames up to this long go through the staging buffer (one copy each way is cheap for them). */
const STAGED_MAX = 8 << 10;

const DRAIN = 1;

/** The event callback a native channel takes: kind 1 is drain, anything else close. */
export function channelEvents(handlers: TransportHandlers): (kind: number, error?: Error) => void {
  return (kind, error) => (kind === DRAIN ? handlers.onDrain() : handlers.onClose(error));
}

/**
 * A Transport over a native frame channel. With a staging buffer (the channel's sendStaged), a
 * small frame's body is written into it and queued with four numbers: the addon never has to look
 * into a typed array, which costs more than copying a few hundred bytes.
 */
export function channelTransport(
  channel: NativeFrameChannel,
  highWaterMark: number,
  staging?: Buffer,
): Transport {
  const staged = staging !== undefined && channel.sendStaged !== undefined;
  return {
    send: (streamId, type, flags, payload, head, headLength = 0) => {
      const total = headLength + (payload === undefined ? 0 : payload.length);
      if (staged && total <= STAGED_MAX) {
        for (let i = 0; i < headLength; i++) staging[i] = head![i]!;
        if (payload !== undefined && payload.length > 0) staging.set(payload, headLength);
        return channel.sendStaged!(streamId, type, flags, total);
      }
      return channel.send(streamId, type, flags, payload, head, headLength);
    },
    close: (graceful) => channel.close(graceful),
    pauseReading: () => channel.pauseReading(),
    resumeReading: () => channel.resumeReading(),
    ref: () => channel.ref(),
    unref: () => channel.unref(),
    get buffered() {
      return channel.buffered;
    },
    highWaterMark,
    setBusyPoll: (microseconds) => channel.setBusyPoll?.(microseconds),
  };
}
