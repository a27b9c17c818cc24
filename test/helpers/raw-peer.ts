// A raw TTRPC peer on Node's net module (independent of the addon), for sending frames a
// well-behaved client never would.
import { spawn } from 'node:child_process';
import * as net from 'node:net';

import { JsFrameDecoder, encodeHeader } from './frame-oracle';
import type { Frame } from './frame-oracle';

export class RawPeer {
  private readonly decoder = new JsFrameDecoder();
  private readonly frames: Frame[] = [];
  private waiter: ((frame: Frame | undefined) => void) | undefined;
  private ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      for (const f of this.decoder.push(chunk)) this.deliver(f);
    });
    socket.on('close', () => {
      this.ended = true;
      this.deliver(undefined);
    });
    socket.on('error', () => undefined);
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path, () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  private deliver(frame: Frame | undefined): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(frame);
    } else if (frame) {
      this.frames.push(frame);
    }
  }

  send(
    streamId: number,
    type: number,
    flags: number,
    payload: Uint8Array = new Uint8Array(),
  ): void {
    this.socket.write(
      Buffer.concat([encodeHeader(payload.length, streamId, type, flags), payload]),
    );
  }

  /** Writes raw bytes (e.g. a header claiming a length that never comes). */
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next frame, or undefined if the connection closed first; fails after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Frame | undefined> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Connects to `path` from a child process running as uid/gid 65534, writes `frameHex`, and tells
 * what happened: "answered", "closed", or "error <code>" (a handshake refusal closes or resets).
 */
export async function connectAsNobody(path: string, frameHex: string): Promise<string> {
  const script = `
    const net = require('net');
    const s = net.connect(${JSON.stringify(path)}, () => s.write(Buffer.from(${JSON.stringify(frameHex)}, 'hex')));
    s.on('data', () => { console.log('answered'); process.exit(0); });
    s.on('close', () => { console.log('closed'); process.exit(0); });
    s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script], {
    uid: 65534,
    gid: 65534,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  return out.trim();
}
