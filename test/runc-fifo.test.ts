// containerd-shim/runc's FIFO probes on real FIFOs: queuedBytes (FIONREAD) through any fd on the
// pipe, hasReader through a write-only one, and errors that carry code, errno and syscall.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { hasReader, queuedBytes } from '../lib/runc';
import { requireEnvironment } from './helpers/env';

const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK } = fs.constants;

describe('runc: FIFO probes (queuedBytes, hasReader)', () => {
  let dir: string;
  const fds: number[] = [];
  const open = (p: string, flags: number): number => {
    const fd = fs.openSync(p, flags | O_NONBLOCK);
    fds.push(fd);
    return fd;
  };

  before(function () {
    requireEnvironment(this, { commands: ['mkfifo'] }, 'coreutils');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fifo-probe-'));
  });

  afterEach(() => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('counts unread bytes through any fd on the FIFO, and whether a reader is there', () => {
    const fifo = path.join(dir, 'a');
    execFileSync('mkfifo', [fifo]);
    const hold = open(fifo, O_RDWR);
    const writer = open(fifo, O_WRONLY);
    assert.equal(queuedBytes(hold), 0);
    fs.writeSync(writer, 'hello');
    assert.deepEqual([queuedBytes(hold), queuedBytes(writer)], [5, 5]);
    assert.equal(hasReader(writer), true, 'the read-write fd is a reader');
    fs.closeSync(fds.splice(fds.indexOf(hold), 1)[0]!);
    assert.equal(hasReader(writer), false, 'no reader left: the bytes are only kept by the writer');
    assert.equal(queuedBytes(writer), 5);
    const reader = open(fifo, O_RDONLY);
    assert.equal(hasReader(writer), true);
    assert.equal(fs.readSync(reader, Buffer.alloc(16)), 5);
    assert.equal(queuedBytes(reader), 0);
  });

  it('fails on a bad fd with code, errno and syscall', () => {
    const fd = fs.openSync(path.join(dir, 'closed'), 'w');
    fs.closeSync(fd);
    assert.throws(() => queuedBytes(fd), { code: 'EBADF', syscall: 'ioctl' });
    assert.throws(
      () => queuedBytes(fd),
      (err: NodeJS.ErrnoException) => err.errno !== undefined,
    );
    assert.throws(() => hasReader(fd), { code: 'EBADF', syscall: 'poll' });
  });
});
