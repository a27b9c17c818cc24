// The shim runtime on Linux, macOS and the BSDs (see platform-api.ts): unix sockets, the daemon on
// fd 3 (spawn-unix.ts), the log FIFO written synchronously with stderr pointed at it, peers of the
// same uid only; the subreaper and the exit reaper where the addon has its Linux layer.
import * as fs from 'node:fs';

import { addonPlatform, linux, posix } from '../native';
import { requireSameUser } from '../ttrpc/handshake';
import { fdSink } from './log-sink';
import type { ShimLogOptions } from './log-sink';
import { monitor } from './monitor';
import type { ShimPlatform } from './platform-api';
import { startUnixDaemon } from './spawn-unix';
import { unixSocketAddress } from './socket-unix';

/** The log file or FIFO (default `log` in the bundle), else stderr; stderr follows if asked. */
function openLogFd(options: ShimLogOptions): number {
  let fd: number;
  try {
    fd = fs.openSync(
      options.path ?? 'log',
      fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT,
      0o600,
    );
  } catch {
    return 2;
  }
  if (options.redirectStderr === true) {
    try {
      posix.dup2(fd, 2); // crash output reaches containerd's log too (as with Go shims)
    } catch {
      // stderr stays where it was; the logger still writes to the log
    }
  }
  return fd;
}

export const unixShim: ShimPlatform = {
  socketAddress: unixSocketAddress,
  startDaemon: startUnixDaemon,
  openLog: (options) => fdSink(openLogFd(options)),
  prepareServe(options) {
    if (addonPlatform !== 'linux') return; // no subreaper or reaper outside Linux
    if (options.subreaper) linux.setSubreaper(true);
    if (options.reaper) monitor.start();
  },
  handshaker: () => requireSameUser(),
  stopSignals: [],
};
