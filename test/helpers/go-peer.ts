// The Go ttrpc peers: test/go-peer, built from bookworm's ttrpc 1.1.1, and test/go-peer12, built
// from sid's ttrpc 1.2.7 with trixie's Go 1.24 (both by scripts/build-go-peer.sh).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { requireCondition, requireEnvironment } from './env';

const top = path.resolve(__dirname, '..', '..', '..');
export const goPeerBinary = path.join(top, 'build', 'go-peer', 'go-peer');
export const goPeer12Binary = path.join(top, 'build', 'go-peer12', 'go-peer12');

let built = false;
let built12 = false;

/**
 * Builds the ttrpc 1.2.7 peer once per test run (under CI=true fetching Go 1.24 and the sources
 * from Debian first); outside CI a missing toolchain skips the test with the command to run.
 */
export function requireGoPeer12(ctx: Mocha.Context): string {
  if (!built12) {
    const r = spawnSync('bash', [path.join(top, 'scripts', 'build-go-peer.sh'), '1.2'], {
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (r.status !== 0) {
      requireCondition(
        ctx,
        false,
        `the Go ttrpc 1.2.7 peer does not build: ${r.stderr.trim()}`,
        'bash scripts/ci-setup.sh',
      );
    }
    built12 = true;
  }
  return goPeer12Binary;
}

/** Builds the Go peer once per test run; skips (or fails under CI) when Go is missing. */
export function requireGoPeer(ctx: Mocha.Context): string {
  requireEnvironment(
    ctx,
    { files: ['/usr/share/gocode/src/github.com/containerd/ttrpc/client.go'], commands: ['go'] },
    'apt-get install golang-go golang-github-containerd-ttrpc-dev',
  );
  if (!built) {
    execFileSync('bash', [path.join(top, 'scripts', 'build-go-peer.sh')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    built = true;
  }
  return goPeerBinary;
}

export interface GoServer {
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `go-peer server` (or go-peer12's with `binary`) and waits for it to listen. */
export async function startGoServer(
  address: string,
  options: { creds?: boolean; binary?: string } = {},
): Promise<GoServer> {
  const args = ['server', ...(options.creds ? ['-creds'] : []), address];
  const child = spawn(options.binary ?? goPeerBinary, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', (line) =>
      line === 'ready' ? resolve() : reject(new Error(`go-peer said: ${line}`)),
    );
    child.once('exit', (code) => reject(new Error(`go-peer server exited with ${code}`)));
  });
  return {
    address,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface GoCall {
  service: string;
  method: string;
  payload?: Uint8Array;
  timeoutMs?: number;
  metadata?: [string, string][];
}

export interface GoResult {
  code: number;
  message: string;
  payload?: Buffer;
  us: number;
}

/** Runs `go-peer client`: every call in order on one connection; one result per call. */
export async function goClient(
  address: string,
  calls: GoCall[],
  options: { uid?: number } = {},
): Promise<GoResult[]> {
  const child = spawn(goPeerBinary, ['client', address], {
    stdio: ['pipe', 'pipe', 'inherit'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
  });
  const input = calls
    .map((c) =>
      JSON.stringify({
        service: c.service,
        method: c.method,
        payload: Buffer.from(c.payload ?? new Uint8Array()).toString('base64'),
        ...(c.timeoutMs !== undefined ? { timeout_ms: c.timeoutMs } : {}),
        ...(c.metadata ? { metadata: c.metadata } : {}),
      }),
    )
    .join('\n');
  child.stdin!.end(input + '\n');
  const results: GoResult[] = [];
  for await (const line of readline.createInterface({ input: child.stdout! })) {
    const r = JSON.parse(line) as { code: number; message: string; payload?: string; us: number };
    results.push({
      ...r,
      payload: r.payload !== undefined ? Buffer.from(r.payload, 'base64') : undefined,
    });
  }
  await new Promise((resolve) =>
    child.exitCode !== null ? resolve(null) : child.once('exit', resolve),
  );
  return results;
}

/** What a Go 1.2.7 consumer saw in one volume case (`go-peer12 client`). */
export async function goStreamClient(
  address: string,
  kind: 'source' | 'sink' | 'bidi',
  count: number,
  size: number,
): Promise<{ count: number; inOrder: number; bytes: number }> {
  const child = spawn(goPeer12Binary, ['client', address, kind, String(count), String(size)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`go-peer12 client ${kind} exited with ${code}: ${err.trim()}`);
  return JSON.parse(out) as { count: number; inOrder: number; bytes: number };
}
