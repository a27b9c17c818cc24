// The runc shim's process bookkeeping without containerd: an exit is handled only once Start has
// answered (and the answer was flushed), and a process that never started still answers Wait.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Server, registerTaskService } from '../lib';
import { posix } from '../lib/native';
import * as protos from '../lib/protos';
import { FrameType, HEADER_LENGTH } from '../lib/ttrpc/frame';
import { encodeHeader } from './helpers/frame-oracle';
import { encodeRequest } from '../lib/ttrpc/wire';
import { Process } from '../examples/runc-shim/process';
import { ProcessIo } from '../examples/runc-shim/stdio';

const noStdio = (): ProcessIo =>
  new ProcessIo({ stdin: '', stdout: '', stderr: '', terminal: false });

describe('runc shim: process exits and Start', () => {
  it('handles an exit reaped during Start only once the Start answer is on the wire', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-'));
    const server = new Server();
    const p = new Process('c', '', noStdio());
    let release!: () => void;
    registerTaskService(server, {
      start: () =>
        p.starting(async () => {
          await new Promise<void>((resolve) => (release = resolve));
          return { pid: 42 };
        }),
    });
    const socket = path.join(dir, 's');
    await server.listen(socket);
    const fd = posix.unixConnect(socket, false);
    try {
      posix.setNonBlocking(fd, true);
      const request = encodeRequest({
        service: 'containerd.task.v2.Task',
        method: 'Start',
        payload: protos.task.StartRequest.encode({ id: 'c' }).finish(),
      });
      fs.writeSync(
        fd,
        Buffer.concat([encodeHeader(request.length, 1, FrameType.REQUEST, 0), request]),
      );
      while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
      // The container exits while runc start still runs: its exit waits for the gate.
      const answered = p.afterStart().then(() => {
        // By now the answer must be readable by the client: read it without waiting.
        const buf = Buffer.alloc(1024);
        try {
          return fs.readSync(fd, buf);
        } catch (err) {
          return (err as NodeJS.ErrnoException).code;
        }
      });
      release();
      assert.ok(
        ((await answered) as number) > HEADER_LENGTH,
        `answer not flushed: ${await answered}`,
      );
    } finally {
      posix.closeFd(fd);
      await server.shutdown({ timeoutMs: 1000 });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('settles Wait for a process that failed to start, keeping it created', async () => {
    const p = new Process('c', 'e1', noStdio());
    p.failedToStart();
    await p.exited;
    assert.equal(p.state, 'created');
    assert.equal(p.exitStatus, 0);
    assert.equal(p.exitedAt, undefined);
  });
});
