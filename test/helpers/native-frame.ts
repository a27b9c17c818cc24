// The addon's frame codec (native/frame.cc: FrameParser, encodeHeader), which the addon exports
// for the tests only; the package's TypeScript never uses it.
import { loadAddon } from '../../lib/native/load';

export interface NativeFrameCodec {
  FrameParser: new () => {
    /** The frames the chunk completed, as a channel's onFrames gets them (frame-oracle.ts). */
    push(chunk: Uint8Array): [Buffer, Float64Array, number, Buffer[]?];
    readonly buffered: number;
  };
  encodeHeader(length: number, streamId: number, type: number, flags: number): Buffer;
}

export const nativeFrameCodec = loadAddon() as unknown as NativeFrameCodec;
