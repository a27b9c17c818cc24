// The console and stdio helpers of containerd-shim/runc: ConsoleSocket against a sender that does
// what runc does (python3: openpty, connect, send the master with SCM_RIGHTS), setWindowSize on
// the received master, and FdPump between FIFOs.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { ConsoleSocket, FdPump, setNonBlocking, setWindowSize } from '../lib/runc';
import { requireEnvironment } from './helpers/env';

// argv: socket path, what to send ("pty" or "pipe"); prints the slave's size once asked (stdin).
const SENDER = `
import os, pty, socket, sys, fcntl, termios, struct
path, what = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
if what == 'pty':
    master, slave = pty.openpty()
    socket.send_fds(s, [b'x'], [master])
    os.close(master)
    sys.stdin.readline()
    rows, cols, _, _ = struct.unpack('HHHH', fcntl.ioctl(slave, termios.TIOCGWINSZ, b'\\0' * 8))
    print(f'{cols}x{rows}', flush=True)
elif what == 'pipe':
    r, w = os.pipe()
    socket.send_fds(s, [b'x'], [r])
elif what == 'nothing':
    s.send(b'x')
s.close()
`;

function sender(socketPath: string, what: 'pty' | 'pipe' | 'nothing') {
  const child = spawn('python3', ['-c', SENDER, socketPath, what], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, exited, output: () => out };
}

describe('containerd-shim/runc: console socket, window size, fd pump', function () {
  this.timeout(30_000);
  let tmp: string;

  before(function () {
    requireEnvironment(this, { commands: ['python3'] }, 'apt-get install python3');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-console-'));
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('receives a pty master the way runc sends it, and resizes it', async function () {
    const socket = ConsoleSocket.create({ dir: tmp });
    assert.ok(fs.statSync(socket.path).isSocket());
    assert.equal(fs.statSync(path.dirname(socket.path)).mode & 0o777, 0o700);
    const peer = sender(socket.path, 'pty');
    const master = await socket.receive();
    socket.close();
    assert.ok(!fs.existsSync(path.dirname(socket.path)), 'close() removes the directory');
    try {
      setWindowSize(master, { width: 132, height: 43 });
      peer.child.stdin.end('size?\n');
      assert.equal(await peer.exited, 0);
      assert.equal(peer.output().trim(), '132x43');
    } finally {
      fs.closeSync(master);
    }
  });

  it('refuses a descriptor that is not a terminal, and a message without one', async function () {
    for (const what of ['pipe', 'nothing'] as const) {
      const socket = ConsoleSocket.create({ dir: tmp });
      const peer = sender(socket.path, what);
      await assert.rejects(socket.receive(), { code: 'ERR_CONSOLE_INVALID' });
      socket.close();
      await peer.exited;
    }
  });

  it('close() fails a pending receive; receive after close fails; a bounded wait times out', async function () {
    const socket = ConsoleSocket.create({ dir: tmp });
    const pending = socket.receive();
    socket.close();
    socket.close(); // idempotent
    await assert.rejects(pending, { code: 'ERR_CONSOLE_CLOSED' });
    await assert.rejects(socket.receive(), { code: 'ERR_CONSOLE_CLOSED' });
    const lonely = ConsoleSocket.create({ dir: tmp });
    await assert.rejects(lonely.receive({ timeoutMs: 50 }), { code: 'ERR_CONSOLE_TIMEOUT' });
    lonely.close();
  });

  it('setWindowSize checks its arguments', function () {
    assert.throws(() => setWindowSize(0, { width: -1, height: 1 }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    assert.throws(() => setWindowSize(0, { width: 1, height: 70000 }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  });

  it('FdPump copies between FIFOs until EOF, through a full destination', async function () {
    const src = path.join(tmp, 'src');
    const dst = path.join(tmp, 'dst');
    for (const fifo of [src, dst]) assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
    const srcRead = fs.openSync(src, O_RDONLY | O_NONBLOCK);
    const srcWrite = fs.openSync(src, O_WRONLY | O_NONBLOCK);
    const dstRead = fs.openSync(dst, O_RDONLY | O_NONBLOCK);
    const dstWrite = fs.openSync(dst, O_WRONLY | O_NONBLOCK);
    const pump = new FdPump(srcRead, dstWrite, { chunkSize: 4096 });
    // 1 MiB: far more than a FIFO holds (64 KiB), so the pump must wait for the reader.
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    // Both test ends as libuv pipes (a FIFO opens as one), so nothing here blocks a thread.
    const received: Buffer[] = [];
    const reader = new net.Socket({ fd: dstRead, readable: true, writable: false });
    const drained = new Promise<void>((resolve) => {
      let total = 0;
      reader.on('data', (chunk: Buffer) => {
        received.push(chunk);
        total += chunk.length;
        if (total >= payload.length) resolve();
      });
    });
    const writer = new net.Socket({ fd: srcWrite, readable: false, writable: true });
    writer.end(payload); // and closes srcWrite: EOF for the pump
    await pump.finished;
    await drained;
    reader.destroy();
    assert.ok(Buffer.concat(received).equals(payload));
    for (const fd of [srcRead, dstWrite]) fs.closeSync(fd);
  });

  it('FdPump.stop() ends copying and leaves the fds open', async function () {
    const fifo = path.join(tmp, 'stop');
    const sinkFifo = path.join(tmp, 'stop-sink');
    for (const f of [fifo, sinkFifo]) assert.equal(spawnSync('mkfifo', [f]).status, 0);
    const read = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const write = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    const sink = fs.openSync(sinkFifo, fs.constants.O_RDWR);
    const pump = new FdPump(read, sink);
    pump.stop();
    await pump.finished;
    setNonBlocking(write, false);
    fs.writeSync(write, 'still open');
    const buf = Buffer.alloc(32);
    assert.equal(fs.readSync(read, buf), 10, 'nothing consumed after stop()');
    for (const fd of [read, write, sink]) fs.closeSync(fd);
  });
});
