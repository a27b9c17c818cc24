// Unix-domain socket transport over the addon: listening by path, abstract name or inherited fd,
// batched accept with peer credentials, and connect with a bounded retry on a full backlog.
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { codedError } from '../error-codes';
import { posix } from '../native';
import type { Address } from './address';
import type {
  ConnectOptions,
  IncomingConnection,
  PeerInfo,
  Platform,
  Transport,
  TransportHandlers,
  TransportListener,
} from './transport';
import { channelEvents, channelTransport } from './transport';

function openChannel(fd: number, handlers: TransportHandlers): Transport {
  const channel = new posix.Channel(fd, handlers.onFrames, channelEvents(handlers));
  return channelTransport(channel, posix.writeHighWaterMark, posix.staging());
}

function unsupported(address: Address): Error {
  return codedError(
    'ERR_INVALID_ADDRESS',
    `${address.kind} addresses are not supported on ${process.platform}`,
  );
}

function listenFd(address: Address): { fd: number; unlinkPath?: string } {
  switch (address.kind) {
    case 'unix':
      return { fd: posix.unixListen(address.path, false), unlinkPath: address.path };
    case 'abstract':
      return { fd: posix.unixListen(address.name, true) };
    case 'fd': {
      if (!posix.isListeningSocket(address.fd)) {
        throw codedError('ERR_INVALID_FD', `fd ${address.fd} is not a listening socket`);
      }
      posix.setNonBlocking(address.fd, true);
      posix.setCloexec(address.fd, true);
      return { fd: address.fd };
    }
    default:
      throw unsupported(address);
  }
}

export const unixPlatform: Platform = {
  listen(address, onConnection, onError): TransportListener {
    const { fd, unlinkPath } = listenFd(address);
    let closed = false;
    const watcher = new posix.FdWatcher(fd, (_events, error) => {
      if (closed) return;
      if (error) {
        onError(error);
        return;
      }
      let accepted: number[];
      try {
        accepted = posix.accept(fd);
      } catch (err) {
        onError(err as Error);
        return;
      }
      for (let i = 0; i < accepted.length; i += 4) {
        const connFd = accepted[i]!;
        const peer: PeerInfo = {
          pid: accepted[i + 1]!,
          uid: accepted[i + 2]!,
          gid: accepted[i + 3]!,
        };
        const incoming: IncomingConnection = {
          peer,
          open: (handlers) => openChannel(connFd, handlers),
          reject: () => posix.closeFd(connFd),
        };
        onConnection(incoming);
      }
    });
    watcher.start(1);
    return {
      address,
      close() {
        if (closed) return;
        closed = true;
        watcher.close();
        posix.closeFd(fd);
        if (unlinkPath !== undefined) fs.rmSync(unlinkPath, { force: true });
      },
      ref: () => watcher.ref(),
      unref: () => watcher.unref(),
    };
  },

  async connect(address, handlers, options?: ConnectOptions) {
    if (address.kind !== 'unix' && address.kind !== 'abstract') throw unsupported(address);
    const path = address.kind === 'unix' ? address.path : address.name;
    const deadline = Date.now() + (options?.timeoutMs ?? 5000);
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        const fd = posix.unixConnect(path, address.kind === 'abstract');
        const cred = posix.peerCredentials(fd);
        return { transport: openChannel(fd, handlers), peer: cred };
      } catch (err) {
        // A full backlog is transient; anything else (ENOENT, ECONNREFUSED) is the caller's call.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() >= deadline) throw err;
        await sleep(delay);
      }
    }
  },
};
