// Windows named-pipe transport over the addon (native/win): `\\.\pipe\name` addresses only. The
// listener keeps pipe instances waiting in ConnectNamedPipe on an I/O completion port, with a
// security descriptor that admits only the current user, Administrators and LocalSystem, and
// refuses remote clients; connect retries ERROR_PIPE_BUSY (every instance taken) until its timeout
// and fails at once with ENOENT when there is no such pipe, like a unix-socket connect.
import { codedError } from '../error-codes';
import { win } from '../native';
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

/** `//./pipe/name` → `\\.\pipe\name` (the Win32 API wants backslashes). */
export function pipePath(address: Address): string {
  if (address.kind !== 'pipe') {
    throw codedError(
      'ERR_INVALID_ADDRESS',
      `${address.kind} addresses are not supported on ${process.platform} (use \\\\.\\pipe\\<name>)`,
    );
  }
  return address.path.replace(/\//g, '\\');
}

function peerOf(pid: number): PeerInfo {
  // Pipes carry the peer's pid (GetNamedPipeClient/ServerProcessId); no uid/gid on Windows.
  return { pid, uid: -1, gid: -1 };
}

function openChannel(handle: number, handlers: TransportHandlers): Transport {
  const channel = new win.PipeChannel(handle, handlers.onFrames, channelEvents(handlers));
  return channelTransport(channel, win.writeHighWaterMark);
}

export const winPlatform: Platform = {
  listen(address, onConnection, onError): TransportListener {
    const path = pipePath(address);
    let closed = false;
    const listener = new win.PipeListener(path, (batch, error) => {
      if (closed) {
        for (let i = 0; batch && i < batch.length; i += 2) win.closeHandle(batch[i]!);
        return;
      }
      if (error || !batch) {
        onError(error ?? new Error('accept failed'));
        return;
      }
      for (let i = 0; i < batch.length; i += 2) {
        const handle = batch[i]!;
        const incoming: IncomingConnection = {
          peer: peerOf(batch[i + 1]!),
          open: (handlers) => openChannel(handle, handlers),
          reject: () => win.closeHandle(handle),
        };
        onConnection(incoming);
      }
    });
    return {
      address,
      close() {
        if (closed) return;
        closed = true;
        listener.close();
      },
      ref: () => listener.ref(),
      unref: () => listener.unref(),
    };
  },

  async connect(address, handlers, options?: ConnectOptions) {
    const path = pipePath(address);
    const { handle, pid } = await win.pipeConnect(path, options?.timeoutMs ?? 5000);
    return { transport: openChannel(handle, handlers), peer: peerOf(pid) };
  },
};
