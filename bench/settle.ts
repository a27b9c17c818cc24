// Waiting for a settled machine between benchmark rounds: no shim of the testbed and no bundle
// left, no boot or top-up of any of our pools under way. Read from the kernel (/proc/locks and
// the pools' files), never from process names. Used by bench/shim.ts and bench/shim-cpu.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Testbed } from '../test/helpers/testbed';
import { pools } from '../test/helpers/warm';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `maj:min:inode` (decimal) of every flock held or waited for on the machine (/proc/locks). */
function flockKeys(): Set<string> {
  const keys = new Set<string>();
  let text: string;
  try {
    text = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return keys;
  }
  for (const line of text.split('\n')) {
    if (!/\bFLOCK\b/.test(line)) continue;
    const id = /\b([0-9a-f]+):([0-9a-f]+):(\d+)\b/.exec(line);
    if (id) keys.add(`${parseInt(id[1]!, 16)}:${parseInt(id[2]!, 16)}:${id[3]}`);
  }
  return keys;
}

/** The same key for a file (glibc's dev_t encoding, as node reports it). */
function fileKey(file: string): string | undefined {
  const st = fs.lstatSync(file, { bigint: true, throwIfNoEntry: false });
  if (!st) return undefined;
  const dev = st.dev;
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}:${st.ino}`;
}

/**
 * What of our pools (every pool under the testbed's warm root: ours, the variants, runcts-ns)
 * is still at work: booting standbys (a `b-` marker stays flock'ed by its boot until the
 * standby is ready) and top-ups (the pool's `lock`, held while one counts and forks its boots).
 * A marker whose boot died holds no lock and does not count. Nothing is found by name.
 */
export function poolsAtWork(warmRoot: string): number {
  const held = flockKeys();
  let n = 0;
  for (const pool of pools(warmRoot)) {
    let names: string[];
    try {
      names = fs.readdirSync(pool);
    } catch {
      continue;
    }
    for (const name of names) {
      if (name !== 'lock' && !name.startsWith('b-')) continue;
      const key = fileKey(path.join(pool, name));
      if (key !== undefined && held.has(key)) n++;
    }
  }
  return n;
}

/**
 * Waits (at most `capMs`) until the machine settled after a burst: no shim of the testbed and
 * no bundle left, no boot or top-up of any of our pools under way, and that still so after
 * `idleMs` of idle time (the kernel's teardown; a standby that just became ready tops its pool
 * up). Returns the wait without the final idle time, and whether it hit the cap.
 */
export async function settle(
  tb: Testbed,
  idleMs: number,
  capMs: number,
): Promise<{ ms: number; capped: boolean }> {
  const begin = Date.now();
  const deadline = begin + capMs;
  const busy = async (): Promise<boolean> => {
    if (poolsAtWork(tb.warmRoot) > 0) return true;
    const left = await tb.leftovers();
    return left.shims.length + left.bundles.length > 0;
  };
  for (;;) {
    if (!(await busy())) {
      const quiet = Date.now() - begin;
      await sleep(idleMs);
      if (!(await busy())) return { ms: quiet, capped: false };
    }
    if (Date.now() >= deadline) return { ms: Date.now() - begin, capped: true };
    await sleep(20);
  }
}
