// Runs in Windows node.exe (test/windows.test.ts, under Wine): the shim's log pipe server
// (lib/shim/logger-win.ts) with Node's own named-pipe client (net) as the reader, the way
// containerd dials it. Prints one JSON line with what each reader received.
//   node.exe log-pipe.js
import * as net from 'node:net';

import { closeShimLog, openShimLog } from '../../../lib/shim/logger';
import { openPipeLog } from '../../../lib/shim/logger-win';
import { logPipeAddress } from '../../../lib/shim/socket-win';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

class Reader {
  text = '';
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (this.text += d));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }
  static connect(pipe: string): Promise<Reader> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(pipe);
      socket.once('connect', () => resolve(new Reader(socket)));
      socket.once('error', reject);
    });
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
  async waitFor(fragment: string): Promise<void> {
    await until(`"${fragment}"`, () => this.text.includes(fragment));
  }
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};
  const pipe = logPipeAddress('logtest', String(process.pid));
  const log = openPipeLog(pipe, { bufferBytes: 4096 });

  // Lines before any reader wait for the first one.
  for (let i = 1; i <= 5; i++) log.write(`early-${i}\n`);
  const first = await Reader.connect(pipe);
  await first.waitFor('early-5');
  await until('the first reader to be accepted', () => log.readers === 1);
  log.write('live-1\n');
  await first.waitFor('live-1');
  out.first = first.lines();

  // It leaves; what is written meanwhile goes to the next reader, and only that.
  first.socket.destroy();
  await until('the first reader to be gone', () => log.readers === 0);
  for (let i = 1; i <= 3; i++) log.write(`gap-${i}\n`);
  const second = await Reader.connect(pipe);
  await second.waitFor('gap-3');
  out.second = second.lines();
  second.socket.destroy();
  await until('the second reader to be gone', () => log.readers === 0);

  // Past the buffer (4 KiB) the oldest lines go, and the next reader is told how many.
  for (let i = 0; i < 100; i++) log.write(`over-${String(i).padStart(2, '0')} ${'.'.repeat(90)}\n`);
  const third = await Reader.connect(pipe);
  await third.waitFor('over-99');
  out.third = third.lines().map((l) => l.replace(/ \.+$/, ''));

  // Two readers at once both get every line.
  const fourth = await Reader.connect(pipe);
  await until('two readers', () => log.readers === 2);
  log.write('both-1\n');
  await third.waitFor('both-1');
  await fourth.waitFor('both-1');
  out.fourth = fourth.lines();
  await log.flush(2000);
  log.close();
  await until('readers to see the end', () => third.closed && fourth.closed);
  out.thirdEndsWith = third.lines().at(-1);

  // Through the shim's logger (pino, logfmt lines), flushed and closed as run() does at exit.
  const logger = openShimLog({ base: { namespace: 'logtest', id: `shim-${process.pid}` } });
  logger.info('before the reader');
  const fifth = await Reader.connect(logPipeAddress('logtest', `shim-${process.pid}`));
  await fifth.waitFor('before the reader');
  logger.warn({ detail: 'x y' }, 'after the reader');
  await closeShimLog(logger, 2000);
  await until('the shim log to close', () => fifth.closed);
  out.shim = fifth.lines();
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
