// The shim runtime on Windows (see platform-api.ts): named pipes, the daemon creating its own pipe
// (spawn-win.ts), the log served on a pipe of its own (logger-win.ts), Ctrl-Break as a stop
// signal; no subreaper, reaper or peer-credential check.
import { fdSink } from './log-sink';
import type { LogSink, ShimLogOptions } from './log-sink';
import { openPipeLog } from './logger-win';
import type { ShimPlatform } from './platform-api';
import { startWindowsDaemon } from './spawn-win';
import { isPipeAddress, logPipeAddress, pipeAddress } from './socket-win';

/** The log pipe server, or stderr if it cannot be created (another shim serves that pipe). */
function openLog(options: ShimLogOptions): LogSink {
  const base = options.base ?? {};
  const path =
    options.path !== undefined && isPipeAddress(options.path)
      ? options.path
      : logPipeAddress(String(base.namespace ?? ''), String(base.id ?? ''));
  try {
    const pipe = openPipeLog(path, options.pipe);
    return {
      write: (line) => pipe.write(line),
      async close(timeoutMs) {
        await pipe.flush(timeoutMs);
        pipe.close();
      },
    };
  } catch {
    return fdSink(2); // e.g. EADDRINUSE
  }
}

export const winShim: ShimPlatform = {
  socketAddress: (address, namespace, grouping, _socketDir, debug) =>
    pipeAddress(address, namespace, grouping, debug),
  startDaemon: startWindowsDaemon,
  openLog,
  prepareServe: () => undefined,
  handshaker: () => undefined,
  stopSignals: ['SIGBREAK'],
};
