// Runs in Windows node.exe (test/windows.test.ts, under Wine): a TTRPC server on one named pipe
// and a client of another peer's pipe, so two of these exercise both directions at once. Each
// serves, calls the other (unary, the three streaming kinds, errors, a 3 MiB message, a burst of
// concurrent calls, sequential calls for latency), tells it Done, waits for the other's Done and
// prints one JSON line with what it saw.
//   node.exe ttrpc-peer.js <name> <own pipe> <peer pipe>
import * as util from 'node:util';

import {
  Client,
  Code,
  Server,
  TtrpcError,
  bidi,
  clientStream,
  serverStream,
  unary,
} from '../../../lib';
import type { CallContext, ServerStream } from '../../../lib';
import { win } from '../../../lib/native';
import { text } from '../../fixtures/text-codec';

const S = 'test.windows.v1.Peer';
const Echo = unary(S, 'Echo', text, text);
const Fail = unary(S, 'Fail', text, text);
const Count = serverStream(S, 'Count', text, text);
const Sum = clientStream(S, 'Sum', text, text);
const Chat = bidi(S, 'Chat', text, text);
const Done = unary(S, 'Done', text, text);

async function connectWithRetry(pipe: string, timeoutMs: number): Promise<Client> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await Client.connect(pipe);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function errorShape(err: unknown): Record<string, unknown> {
  const e = err as NodeJS.ErrnoException & { winError?: number };
  return {
    code: e.code,
    errno: e.errno,
    syscall: e.syscall,
    winError: e.winError,
    nameOfErrno: typeof e.errno === 'number' ? util.getSystemErrorName(e.errno) : undefined,
    message: e.message,
  };
}

async function main(): Promise<void> {
  const [name = 'peer', own = '', other = ''] = process.argv.slice(2);
  let resolveDone!: (from: string) => void;
  const doneFrom = new Promise<string>((r) => (resolveDone = r));
  const serverSawPeers: number[] = [];

  const server = new Server();
  server.addMethod(Echo, (s: string, ctx: CallContext) => {
    serverSawPeers.push(ctx.peer.pid);
    const tag = ctx.metadata.get('x-from').join(',');
    return s.length > 1000 ? s : `${name}:${s}${tag ? `|${tag}` : ''}`;
  });
  server.addMethod(Fail, (s: string) => {
    throw new TtrpcError(Code.NOT_FOUND, `no ${s} here`);
  });
  server.addMethod(Count, async (req: string, stream: ServerStream<never, string>) => {
    for (let i = 1; i <= Number(req); i++) await stream.send(String(i));
  });
  server.addMethod(Sum, async (stream: ServerStream<string, never>) => {
    let total = 0;
    for await (const s of stream) total += Number(s);
    return String(total);
  });
  server.addMethod(Chat, async (stream: ServerStream<string, string>) => {
    for await (const s of stream) await stream.send(s.toUpperCase());
  });
  server.addMethod(Done, (from: string) => {
    resolveDone(from);
    return 'bye';
  });
  await server.listen(own);

  const client = await connectWithRetry(other, 60_000);
  const result: Record<string, unknown> = {
    name,
    clientPid: process.pid,
    serverPeerPid: client.peer.pid,
  };

  result.unary = await client.unary(Echo, 'hello', { metadata: { 'x-from': name } });
  const counted: string[] = [];
  for await (const m of client.serverStream(Count, '100')) counted.push(m);
  result.serverStream = { count: counted.length, first: counted[0], last: counted.at(-1) };
  const sum = client.clientStream(Sum);
  for (let i = 1; i <= 100; i++) await sum.send(String(i));
  sum.closeSend();
  result.clientStream = await sum.response;
  const chat = client.bidiStream(Chat);
  const replies: string[] = [];
  for (const word of ['alpha', 'beta', 'gamma']) {
    await chat.send(word);
    replies.push((await chat.recv()) ?? '<end>');
  }
  chat.closeSend();
  replies.push((await chat.recv()) ?? '<end>');
  result.bidi = replies;
  try {
    await client.unary(Fail, 'thing');
    result.failed = 'no error';
  } catch (err) {
    result.failed = { code: (err as TtrpcError).code, message: (err as Error).message };
  }
  const big = 'x'.repeat(3 << 20);
  result.large = (await client.unary(Echo, big)).length;
  const serverName = String(result.unary).split(':')[0];
  const burst = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => client.unary(Echo, `${i}`)),
  );
  result.burst = burst.filter((r, i) => r === `${serverName}:${i}`).length;

  const samples: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = process.hrtime.bigint();
    await client.unary(Echo, 'ping');
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  result.latencyUs = {
    p50: Math.round(samples[Math.floor(samples.length * 0.5)]!),
    p90: Math.round(samples[Math.floor(samples.length * 0.9)]!),
    p99: Math.round(samples[Math.floor(samples.length * 0.99)]!),
  };

  // The pipe's DACL, read through a raw native connection.
  const raw = await win.pipeConnect(other, 5000);
  const channel = new win.PipeChannel(
    raw.handle,
    () => undefined,
    () => undefined,
  );
  result.dacl = channel.securityDescriptor();
  channel.close();

  try {
    await Client.connect(`\\\\.\\pipe\\containerd-shim-test-missing-${process.pid}`);
    result.missing = 'connected?';
  } catch (err) {
    result.missing = errorShape(err);
  }

  await client.unary(Done, name);
  result.doneFrom = await doneFrom;
  result.serverSawPeerPids = [...new Set(serverSawPeers)];
  client.close();
  await server.shutdown({ timeoutMs: 5000 });
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
