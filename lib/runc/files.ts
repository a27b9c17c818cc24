// The few asynchronous file operations the runc client needs, on fs's callback API. fs.promises
// would do, but its first use loads ~0.1 MiB of Node internals (FileHandle, readline, dir and
// watcher support) that a shim daemon then keeps for its whole life.
import * as fs from 'node:fs';
import { promisify } from 'node:util';

export const readFile = promisify(fs.readFile);
export const writeFile = promisify(fs.writeFile);
export const rm = promisify(fs.rm);

const open = promisify(fs.open);
const fstat = promisify(fs.fstat);
const read = promisify(fs.read);
const close = promisify(fs.close);

/**
 * Up to `limit` bytes of `file` from `offset` on (the last `limit` bytes if there are more; all of
 * it if the file is shorter than `offset`: it was truncated meanwhile). '' if it cannot be read.
 */
export async function readTail(file: string, offset: number, limit: number): Promise<string> {
  let fd: number;
  try {
    fd = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await fstat(fd);
    let start = offset <= size ? offset : 0;
    if (size - start > limit) start = size - limit;
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await read(fd, buf, 0, buf.length, start);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await close(fd);
  }
}
