// Runs in Windows node.exe (test/windows.test.ts, under Wine): the native pipe channel's
// semantics below TTRPC, on raw-mode channels (bytes instead of frames): pause and resume,
// backpressure and the drain event, graceful close after queued output, EOF and EPIPE, the
// listener's address-in-use check, accept batches, and connects that find every instance busy.
// Prints one JSON line.
//   node.exe channel.js
import { win } from '../../../lib/native';
import type { NativePipeChannel } from '../../../lib/native';

const DRAIN = 1;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface End {
  channel: NativePipeChannel;
  received: number;
  text: string;
  events: string[];
  closed?: { code?: string };
}

function open(handle: number): End {
  const end: End = {
    channel: undefined as unknown as NativePipeChannel,
    received: 0,
    text: '',
    events: [],
  };
  end.channel = new win.PipeChannel(
    handle,
    (data) => {
      end.received += data.length;
      if (end.text.length < 64) end.text += data.toString('latin1').slice(0, 64);
      end.events.push('data');
    },
    (kind, error) => {
      if (kind === DRAIN) end.events.push('drain');
      else {
        end.events.push('close');
        end.closed = { code: error?.code };
      }
    },
    true,
  );
  return end;
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};
  const path = `\\\\.\\pipe\\containerd-shim-test-channel-${process.pid}`;
  const accepted: number[] = [];
  const listener = new win.PipeListener(path, (batch) => {
    for (let i = 0; batch && i < batch.length; i += 2) accepted.push(batch[i]!);
  });
  out.sddl = listener.sddl;

  // Several clients at once: more than the instances waiting (4), so some wait for the next one.
  const clients = await Promise.all(Array.from({ length: 6 }, () => win.pipeConnect(path, 5000)));
  await until('six accepts', () => accepted.length === 6);
  out.accepted = accepted.length;
  // Which accepted instance is whose: each client says its number first.
  const servers = accepted.map((h) => open(h));
  const pairs = clients.map((c, i) => {
    const end = open(c.handle);
    end.channel.write(Buffer.from(String(i)));
    return end;
  });
  await until('the clients to say who they are', () => servers.every((s) => s.text.length === 1));
  const paired = pairs.map((end, i) => ({
    client: end,
    server: servers.find((s) => s.text === String(i))!,
  }));
  out.paired = paired.every((p) => p.server !== undefined);
  const { client, server } = paired[0]!;

  server.channel.write(Buffer.from('abc'));
  await until('abc', () => client.text === 'abc');
  client.channel.pauseReading();
  server.channel.write(Buffer.from('def'));
  await sleep(300);
  out.whilePaused = client.text;
  client.channel.resumeReading();
  await until('def', () => client.text === 'abcdef');
  out.afterResume = client.text;

  // Backpressure: the reader pauses, the writer queues past the high-water mark and gets its
  // drain event only once the reader reads again.
  client.channel.pauseReading();
  const chunk = Buffer.alloc(64 << 10, 0x61);
  let queued = 0;
  for (let i = 0; i < 32; i++) queued = server.channel.write(chunk);
  out.queuedPastMark = queued >= win.writeHighWaterMark;
  await sleep(300);
  out.drainWhilePaused = server.events.includes('drain');
  const before = client.received;
  client.channel.resumeReading();
  await until('drain', () => server.events.includes('drain'));
  await until('all bytes', () => client.received - before === 32 * chunk.length);
  out.drained = server.channel.buffered === 0;

  // Graceful close: queued bytes arrive, then EOF (no error) on both sides.
  server.channel.write(Buffer.alloc(300 << 10, 0x62));
  const atClose = client.received;
  server.channel.close(true);
  await until('client close', () => client.closed !== undefined);
  out.gracefulBytes = client.received - atClose;
  out.clientClose = client.closed;
  await until('server close', () => server.closed !== undefined);
  out.serverClose = server.closed;
  out.sendAfterClose = (() => {
    try {
      server.channel.write(Buffer.from('x'));
      return 'accepted';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code;
    }
  })();

  // The other end goes away: with reading paused (so the EOF is not seen first) the next write
  // fails with EPIPE.
  const second = paired[1]!;
  second.server.channel.pauseReading();
  second.client.channel.close();
  await until('client 2 close', () => second.client.closed !== undefined);
  for (let i = 0; i < 20 && second.server.closed === undefined; i++) {
    try {
      second.server.channel.write(Buffer.from('ping'));
    } catch {
      break;
    }
    await sleep(20);
  }
  await until('server 2 close', () => second.server.closed !== undefined);
  out.writeToGone = second.server.closed;

  // A second server on the same name (Windows refuses it: EADDRINUSE; Wine allows it).
  try {
    new win.PipeListener(path, () => undefined).close();
    out.secondListener = 'allowed';
  } catch (err) {
    out.secondListener = (err as NodeJS.ErrnoException).code;
  }

  // One instance waiting and the JavaScript thread busy (so no new instance is created): the
  // other clients get ERROR_PIPE_BUSY and wait (WaitNamedPipeW) until there is one; a client
  // whose timeout passes first fails with EBUSY.
  const busyPath = `${path}-busy`;
  const busyAccepted: number[] = [];
  const busyListener = new win.PipeListener(
    busyPath,
    (batch) => {
      for (let i = 0; batch && i < batch.length; i += 2) busyAccepted.push(batch[i]!);
    },
    { instances: 1 },
  );
  const patient = [0, 1, 2].map(() => win.pipeConnect(busyPath, 5000));
  const impatient = win.pipeConnect(busyPath, 100).then(
    () => 'connected',
    (err: NodeJS.ErrnoException) =>
      `${err.code} ${err.syscall} ${String((err as { winError?: number }).winError)}`,
  );
  const blockUntil = Date.now() + 500;
  while (Date.now() < blockUntil) {
    // the JavaScript thread is busy
  }
  out.patient = (await Promise.all(patient)).length;
  out.impatient = await impatient;
  await until('three accepts', () => busyAccepted.length === 3);
  for (const h of busyAccepted) win.closeHandle(h);
  for (const c of await Promise.all(patient)) win.closeHandle(c.handle);
  busyListener.close();

  for (const p of paired.slice(2)) {
    p.client.channel.close();
    p.server.channel.close();
  }
  listener.close();
  // Nothing left holding the loop open: the process ends by itself.
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
