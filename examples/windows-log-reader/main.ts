// The Rust crate's windows-log-reader: connects to a shim's log pipe and prints its lines until the
// shim goes away. A Windows shim serves its log on \\.\pipe\containerd-shim-<ns>-<id>-log and
// buffers lines while nobody reads, so the reader may start before or after the shim; it retries
// until the pipe exists (bounded). containerd is normally that pipe's reader.
//   node dist/examples/windows-log-reader/main.js \\.\pipe\containerd-shim-default-1234-log [--timeout 10s]
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { parseDuration } from 'containerd-shim';

async function connect(pipe: string, timeoutMs: number): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(pipe);
        socket.once('connect', () => {
          socket.off('error', reject);
          resolve(socket);
        });
        socket.once('error', reject);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: not there yet; EBUSY/EAGAIN: every instance taken for a moment.
      if (!['ENOENT', 'EBUSY', 'EAGAIN'].includes(code ?? '') || Date.now() >= deadline) throw err;
      await sleep(100);
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let timeoutMs = 10_000;
  const t = args.indexOf('--timeout');
  if (t >= 0) {
    timeoutMs = parseDuration(args[t + 1] ?? '');
    args.splice(t, 2);
  }
  const pipe = args[0];
  if (!pipe) {
    console.error(
      'usage: windows-log-reader <\\\\.\\pipe\\containerd-shim-<ns>-<id>-log> [--timeout 10s]',
    );
    process.exit(2);
  }
  console.log(`Reading logs from: ${pipe}`);
  const socket = await connect(pipe, timeoutMs);
  socket.pipe(process.stdout, { end: false });
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve()); // the shim went away
  });
}

main().catch((err: NodeJS.ErrnoException) => {
  console.error(`error: ${err.code ?? 'ERROR'}: ${err.message}`);
  process.exit(1);
});
