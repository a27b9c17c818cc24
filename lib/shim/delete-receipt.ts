// A delete receipt: a line a shim's Task service leaves in a container's bundle once it deleted
// that container completely (its runtime state and its mounts gone). containerd runs
// `<shim> delete` after every shim's exit, a clean one included, as the safety net for a shim
// that died; with a receipt in the bundle that action has nothing left to clean, and it prints
// the receipt's answer without running `deleteShim`: in a packaged binary the launcher does so
// without Node (native/launcher/receipt.cc), otherwise run() does. Both read it the same way:
//   containerd-shim-delete-receipt/1 <id> <pid> <exit status>\n
// in `<bundle>/delete-receipt`, a regular file (never through a symlink) of the reader's euid,
// writable by nobody else, naming the id the action was given. Anything else is no receipt, and
// the action cleans up as it would without one. The action removes the receipt it answered from.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError } from '../error-codes';

export const DELETE_RECEIPT_FILE = 'delete-receipt';
const MAGIC = 'containerd-shim-delete-receipt/1';
const MAX_BYTES = 512; // native/launcher/receipt.cc reads no more
// An id is what containerd allows and more: printable ASCII but space and '/'.
const ID = /^[\x21-\x2e\x30-\x7e]{1,255}$/;
const LINE =
  /^containerd-shim-delete-receipt\/1 ([\x21-\x2e\x30-\x7e]{1,255}) ([0-9]{1,10}) ([0-9]{1,10})\n$/;

/** What the `delete` action answers for a container its daemon deleted (exitedAt: the action's time). */
export interface DeleteReceipt {
  pid: number;
  exitStatus: number;
}

function uint32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw codedError('ERR_INVALID_ARG_VALUE', `delete receipt: ${what} must be a uint32`);
  return value;
}

/**
 * Records in `bundle` that container `id` is deleted completely: the `delete` action containerd
 * runs after the shim exits then answers `receipt` (and the time it runs) without calling
 * `deleteShim`. Call it from your Task service's Delete of a container's init process, after
 * its cleanup succeeded, never before: a receipt means nothing is left for `deleteShim` to do.
 */
export function writeDeleteReceipt(bundle: string, id: string, receipt: DeleteReceipt): void {
  if (!ID.test(id))
    throw codedError('ERR_INVALID_ARG_VALUE', `delete receipt: bad container id "${id}"`);
  const line = `${MAGIC} ${id} ${uint32(receipt.pid, 'pid')} ${uint32(receipt.exitStatus, 'exit status')}\n`;
  const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(
    path.join(bundle, DELETE_RECEIPT_FILE),
    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
    0o600,
  );
  try {
    fs.fchmodSync(fd, 0o600); // an existing file keeps its mode through O_CREAT
    fs.writeSync(fd, line);
  } finally {
    fs.closeSync(fd);
  }
}

/** The receipt for `id` in `bundle`, or undefined when there is none that counts. */
export function readDeleteReceipt(bundle: string, id: string): DeleteReceipt | undefined {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(path.join(bundle, DELETE_RECEIPT_FILE), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) return undefined;
    if (st.size > MAX_BYTES) return undefined;
    const buf = Buffer.alloc(MAX_BYTES + 1);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const m = LINE.exec(buf.toString('latin1', 0, n));
    if (!m || m[1] !== id) return undefined;
    const pid = Number(m[2]);
    const exitStatus = Number(m[3]);
    if (pid > 0xffffffff || exitStatus > 0xffffffff) return undefined;
    return { pid, exitStatus };
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The receipt for `id` in `bundle`, removed (a receipt answers one `delete`: a bundle containerd
 * could not remove must not answer for a later task's), or undefined when none counts.
 */
export function takeDeleteReceipt(bundle: string, id: string): DeleteReceipt | undefined {
  const receipt = readDeleteReceipt(bundle, id);
  if (receipt) {
    try {
      fs.unlinkSync(path.join(bundle, DELETE_RECEIPT_FILE));
    } catch {
      // answered all the same: containerd removes the bundle next
    }
  }
  return receipt;
}
