// TTRPC frame constants. The frames themselves are parsed and written by the native channels
// (native/frame.h); test/helpers/frame-oracle.ts has a JavaScript model of them for the tests.

export const HEADER_LENGTH = 10;
/** Largest payload of a frame: 4 MiB, as in Go and Rust ttrpc. */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export enum FrameType {
  REQUEST = 1,
  RESPONSE = 2,
  DATA = 3,
}

export enum FrameFlag {
  /** No more frames from the sender on this stream. */
  REMOTE_CLOSED = 0x1,
  /** The sender will send more frames (Request only). */
  REMOTE_OPEN = 0x2,
  /** The frame carries no message (Data only). */
  NO_DATA = 0x4,
}
