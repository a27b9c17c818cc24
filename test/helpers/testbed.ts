// A private containerd for the test suite: own root/state/sockets in a short temp dir under /tmp,
// never the system containerd, never a registry (the busybox image is built locally and imported).
// Any containerd generation of test/helpers/peers.ts: 1.6 (installed), 1.7 or 2.1 (unpacked from
// trixie/sid), each run with its own ctr and, first on its PATH, its own containerd-shim-runc-v2
// (the reference shim `io.containerd.runc.v2` resolves to); runc is the system's.
//
// Known shared paths that containerd 1.6 and its runc-v2 shim use regardless of our config:
//   /run/containerd/s/<sha256>        shim sockets (hard-coded socket root in 1.x)
//   /run/containerd/runc/<ns>/<id>    runc state (runc-v2 shim default root)
//   /run/containerd/fifo/             ctr's stdio fifos (removed when ctr exits)
// and the cgroup v1 path /<ns>/<id> for containers started by `ctr run`.
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { findCommand } from './env';
import { buildBusyboxImage } from './image';
import { killStandbys, standbyPids } from './warm';
import { findContainerd } from './peers';
import type { ContainerdGeneration, ContainerdPeer } from './peers';

export interface CtrOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface CtrResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Leftovers {
  shims: number[];
  mounts: string[];
  sockets: string[];
  bundles: string[];
}

export interface TestbedOptions {
  namespace?: string;
  /**
   * Added to containerd's environment (so to every shim's). By default shims keep warm-start
   * standbys in `<dir>/warm` and trace to `<dir>/warm.log` (CONTAINERD_SHIM_WARM_DIR/_LOG).
   */
  env?: Record<string, string>;
  /** Which containerd runs (default 1.6, the installed one). */
  generation?: ContainerdGeneration;
  /** Force a snapshotter; by default overlayfs if containerd reports it usable, else native. */
  snapshotter?: 'overlayfs' | 'native';
}

/** Socket dir used by 1.x shims (`defaults.DefaultStateDir + "/s"`, not configurable). */
export const SHIM_SOCKET_DIR = '/run/containerd/s';

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 5_000;
const DEFAULT_CTR_TIMEOUT_MS = 30_000;
const STDIN_EOF_MAX_DELAY_MS = 2_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function tomlString(s: string): string {
  return JSON.stringify(s); // TOML basic strings use the same escapes as JSON for our paths
}

/**
 * Plugins a bare `ctr run` never needs; disabling them keeps start-up quick and side-effect free.
 * Ids that a generation does not have are ignored by it.
 */
const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.internal.v1.opt', // would create /opt/containerd
  'io.containerd.internal.v1.restart',
  'io.containerd.monitor.v1.cgroups',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  // 1.7 and 2.x
  'io.containerd.nri.v1.nri', // on by default in 2.x: would serve /var/run/nri/nri.sock
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
  // 2.x names and CRI parts
  'io.containerd.monitor.container.v1.restart',
  'io.containerd.monitor.task.v1.cgroups',
  'io.containerd.cri.v1.images',
  'io.containerd.cri.v1.runtime',
  'io.containerd.grpc.v1.healthcheck',
  'io.containerd.snapshotter.v1.erofs',
  'io.containerd.differ.v1.erofs',
];

function renderConfig(dir: string, generation: ContainerdGeneration): string {
  return [
    // 2.x reads version 3 (it would migrate 2, logging that it did); 1.x reads version 2.
    generation.startsWith('1.') ? 'version = 2' : 'version = 3',
    `root = ${tomlString(path.join(dir, 'root'))}`,
    `state = ${tomlString(path.join(dir, 'state'))}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map(tomlString).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${tomlString(path.join(dir, 'containerd.sock'))}`,
    '',
    '[ttrpc]',
    `  address = ${tomlString(path.join(dir, 'containerd.sock.ttrpc'))}`,
    '',
    '[debug]',
    '  address = ""',
    '  level = "info"',
    '',
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n');
}

export function procAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(procAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(procAlive);
  }
  return alive;
}

export function listPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** pid -> children, from /proc/<pid>/stat. */
export function childrenMap(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const pid of listPids()) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = map.get(ppid) ?? [];
    list.push(pid);
    map.set(ppid, list);
  }
  return map;
}

export function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function runCommand(
  file: string,
  args: string[],
  timeoutMs: number,
  opts: {
    input?: string | Buffer;
    env?: NodeJS.ProcessEnv;
    /** Resolves when stdin may be closed; `running()` is false once the command has exited. */
    stdinGate?: (running: () => boolean) => Promise<void>;
  } = {},
): Promise<CtrResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL'); // our own child, by pid
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined); // EPIPE if the command does not read stdin
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    let closed = false;
    child.on('close', (code) => {
      closed = true;
      clearTimeout(timer);
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut)
        stderr += `\n[testbed: ${file} ${args.join(' ')} timed out after ${timeoutMs} ms]`;
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    if (opts.input !== undefined) child.stdin.write(opts.input);
    const gate = opts.stdinGate?.(() => !closed) ?? Promise.resolve();
    void gate.then(
      () => child.stdin.end(),
      () => child.stdin.end(),
    );
  });
}

export class Testbed {
  readonly namespace: string;
  readonly image = 'docker.io/library/busybox:local';
  readonly address: string;
  readonly ttrpcAddress: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly rootDir: string;
  readonly stateDir: string;
  /** Passed as `--fifo-dir` to `ctr run` / `ctr tasks start|exec`. */
  readonly fifoDir: string;
  /** Wall-clock ms when the testbed was created (leftover sockets are judged against it). */
  readonly startedAt: number;
  snapshotter: 'overlayfs' | 'native' = 'overlayfs';
  /** Milliseconds the last (re)start of containerd took until `ctr version` answered. */
  lastBootMs = 0;
  /** containerd's environment on top of ours (see TestbedOptions.env). */
  readonly env: Record<string, string>;
  /** Where shims keep their warm-start standbys (CONTAINERD_SHIM_WARM_DIR). */
  readonly warmRoot: string;
  /** The warm-start trace (CONTAINERD_SHIM_WARM_LOG). */
  readonly warmLog: string;
  /** Every warm root of a testbed of this process (the suite checks none keeps a standby). */
  static readonly warmRoots: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  /** The containerd release this testbed runs, and its ctr and reference shim. */
  readonly peer: ContainerdPeer;

  private constructor(
    readonly dir: string,
    namespace: string,
    peer: ContainerdPeer,
    env: Record<string, string> = {},
  ) {
    this.peer = peer;
    this.namespace = namespace;
    this.env = {
      CONTAINERD_SHIM_WARM_DIR: path.join(dir, 'warm'),
      CONTAINERD_SHIM_WARM_LOG: path.join(dir, 'warm.log'),
      ...env,
    };
    this.warmRoot = this.env.CONTAINERD_SHIM_WARM_DIR!;
    this.warmLog = this.env.CONTAINERD_SHIM_WARM_LOG!;
    Testbed.warmRoots.push(this.warmRoot);
    this.address = path.join(dir, 'containerd.sock');
    this.ttrpcAddress = path.join(dir, 'containerd.sock.ttrpc');
    this.configPath = path.join(dir, 'config.toml');
    this.logPath = path.join(dir, 'containerd.log');
    this.rootDir = path.join(dir, 'root');
    this.stateDir = path.join(dir, 'state');
    this.fifoDir = path.join(dir, 'fifo');
    this.startedAt = Date.now();
  }

  /** pid of the running containerd (undefined while stopped). */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null
      ? this.child.pid
      : undefined;
  }

  /** `<state>/io.containerd.runtime.v2.task/<ns>`: where the shim bundles live. */
  get bundleRoot(): string {
    return path.join(this.stateDir, 'io.containerd.runtime.v2.task', this.namespace);
  }

  get generation(): ContainerdGeneration {
    return this.peer.generation;
  }

  /** The ctr binary of this containerd release. */
  get ctrPath(): string {
    return this.peer.ctr;
  }

  /**
   * containerd's environment (so every shim's): ours, `env` (warm-start settings included), and
   * its own release's binaries (the reference shim) first on PATH.
   */
  get containerdEnv(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      ...this.env,
      PATH: `${this.peer.binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    };
  }

  static async start(opts: TestbedOptions = {}): Promise<Testbed> {
    const generation = opts.generation ?? '1.6';
    const peer = findContainerd(generation);
    if (peer === undefined) throw new Error(`testbed: containerd ${generation} not found`);
    // Short path: unix socket paths are limited to 107 bytes.
    const dir = await fs.promises.mkdtemp('/tmp/ctb-');
    const tb = new Testbed(dir, opts.namespace ?? 'testbed', peer, opts.env);
    try {
      await fs.promises.mkdir(tb.rootDir, { mode: 0o700 });
      await fs.promises.mkdir(tb.stateDir, { mode: 0o711 });
      await fs.promises.mkdir(tb.fifoDir, { mode: 0o700 });
      await fs.promises.writeFile(tb.configPath, renderConfig(dir, generation));
      await tb.launch();
      tb.snapshotter = opts.snapshotter ?? (await tb.detectSnapshotter());
      const tarball = await buildBusyboxImage(dir, tb.image);
      const imported = await tb.ctr(
        ['images', 'import', '--snapshotter', tb.snapshotter, tarball],
        {
          timeoutMs: 60_000,
        },
      );
      if (imported.code !== 0) {
        throw new Error(
          `testbed: ctr images import failed (${imported.code}): ${imported.stderr.trim()}`,
        );
      }
      await fs.promises.rm(tarball, { force: true });
    } catch (e) {
      await tb.destroy().catch(() => undefined);
      throw e;
    }
    return tb;
  }

  /** overlayfs if containerd loaded that snapshotter (its own mount probe passed), else native. */
  private async detectSnapshotter(): Promise<'overlayfs' | 'native'> {
    const res = await this.ctr(['plugins', 'ls'], { timeoutMs: 10_000 });
    const ok = res.stdout
      .split('\n')
      .some((l) => /^io\.containerd\.snapshotter\.v1\s+overlayfs\s+\S+\s+ok\s*$/.test(l));
    if (ok) return 'overlayfs';
    process.stderr.write(
      `testbed: overlayfs snapshotter unavailable here, falling back to native (${this.logPath})\n`,
    );
    return 'native';
  }

  private async launch(): Promise<void> {
    if (this.pid !== undefined) throw new Error('testbed: containerd already running');
    const begin = Date.now();
    // Stale sockets from a previous run would make the readiness probe race.
    await fs.promises.rm(this.address, { force: true });
    await fs.promises.rm(this.ttrpcAddress, { force: true });
    const log = fs.openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.peer.containerd, ['--config', this.configPath], {
        stdio: ['ignore', log, log],
        cwd: this.dir,
        env: this.containerdEnv,
      });
    } finally {
      fs.closeSync(log);
    }
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastErr = '';
    while (Date.now() < deadline) {
      if (spawnError !== undefined || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `testbed: containerd exited during start-up (${spawnError?.message ?? child.exitCode ?? child.signalCode})\n${this.logTail()}`,
        );
      }
      if (fs.existsSync(this.address)) {
        const res = await runCommand(
          this.ctrPath,
          ['-a', this.address, '--connect-timeout', '2s', 'version'],
          5_000,
        );
        if (res.code === 0) {
          this.lastBootMs = Date.now() - begin;
          return;
        }
        lastErr = res.stderr.trim();
      }
      await sleep(50);
    }
    await this.stop();
    throw new Error(
      `testbed: containerd not ready after ${READY_TIMEOUT_MS} ms (${lastErr})\n${this.logTail()}`,
    );
  }

  /** Last lines of containerd's log (for error messages). */
  logTail(lines = 30): string {
    try {
      const text = fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
      return `--- ${this.logPath} (last ${lines} lines) ---\n` + text.slice(-lines).join('\n');
    } catch {
      return `(no log at ${this.logPath})`;
    }
  }

  /**
   * Runs `ctr -a <sock> -n <ns> ...args`; never throws for a non-zero exit (code is null if
   * the command was killed at the timeout, with a note appended to stderr).
   *
   * `input` (or nothing) is written to ctr's stdin, which is then closed so the task sees EOF.
   * ctr 1.6 loses an EOF that arrives before the task exists (its stdin closer is only set
   * after Create returns, and the task's stdin then stays open forever), so for `run` and
   * `tasks start|exec` stdin is closed only once a `*.pid` file newer than this call appears
   * in a bundle of our namespace (runc-v2 writes init.pid at Create, <exec-id>.pid at exec
   * start) plus a short grace, or after STDIN_EOF_MAX_DELAY_MS for shims that write none.
   */
  ctr(args: string[], opts: CtrOptions = {}): Promise<CtrResult> {
    const since = Date.now();
    for (const arg of args) this.noteId(arg);
    const attachesTask =
      args[0] === 'run' ||
      (['t', 'task', 'tasks'].includes(args[0] ?? '') && ['start', 'exec'].includes(args[1] ?? ''));
    // Keep ctr's stdio fifos in our dir instead of /run/containerd/fifo (detached runs leave them).
    if (attachesTask && !args.some((a) => a === '--fifo-dir' || a.startsWith('--fifo-dir='))) {
      const at = args[0] === 'run' ? 1 : 2;
      args = [...args.slice(0, at), '--fifo-dir', this.fifoDir, ...args.slice(at)];
    }
    return runCommand(
      this.ctrPath,
      ['-a', this.address, '-n', this.namespace, ...args],
      opts.timeoutMs ?? DEFAULT_CTR_TIMEOUT_MS,
      {
        input: opts.input,
        env: { ...process.env, CONTAINERD_SNAPSHOTTER: this.snapshotter, ...opts.env },
        stdinGate: attachesTask ? (running) => this.waitForPidFile(since, running) : undefined,
      },
    );
  }

  private async waitForPidFile(since: number, running: () => boolean): Promise<void> {
    const deadline = Date.now() + STDIN_EOF_MAX_DELAY_MS;
    while (running() && Date.now() < deadline) {
      if (await this.hasPidFileSince(since)) {
        await sleep(100);
        return;
      }
      await sleep(25);
    }
  }

  private async hasPidFileSince(since: number): Promise<boolean> {
    let bundles: string[];
    try {
      bundles = await fs.promises.readdir(this.bundleRoot);
    } catch {
      return false;
    }
    for (const bundle of bundles) {
      let names: string[];
      try {
        names = await fs.promises.readdir(path.join(this.bundleRoot, bundle));
      } catch {
        continue;
      }
      for (const name of names.filter((n) => n.endsWith('.pid'))) {
        try {
          const st = await fs.promises.stat(path.join(this.bundleRoot, bundle, name));
          if (st.mtimeMs >= since) return true;
        } catch {
          // removed meanwhile
        }
      }
    }
    return false;
  }

  /** SIGTERM containerd, wait (bounded), then SIGKILL. Shims keep running (as in production). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || this.pid === undefined) return;
    const pid = this.pid;
    const exited = this.exited;
    const timeout = (ms: number) => sleep(ms).then(() => 'timeout' as const);
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(pid, sig);
      } catch {
        // exited meanwhile
      }
    };
    signal('SIGTERM');
    if (
      (await Promise.race([exited.then(() => 'exited' as const), timeout(STOP_TIMEOUT_MS)])) ===
      'timeout'
    ) {
      signal('SIGKILL');
      if (
        (await Promise.race([exited.then(() => 'exited' as const), timeout(KILL_TIMEOUT_MS)])) ===
        'timeout'
      ) {
        throw new Error(`testbed: containerd pid ${pid} did not exit after SIGKILL`);
      }
    }
    this.child = undefined;
  }

  /** Stops (if running) and starts containerd again with the same config, root and state. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Shim processes serving this testbed (their cmdline has `-address <our grpc socket>`). */
  findShims(): number[] {
    const shims: number[] = [];
    for (const pid of listPids()) {
      if (pid === process.pid) continue;
      let argv: string[];
      try {
        argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      const i = argv.indexOf('-address');
      if (i >= 0 && argv[i + 1] === this.address && procAlive(pid)) shims.push(pid);
    }
    return shims;
  }

  /** Warm-start standbys of this testbed's shims, by pid. */
  standbys(): number[] {
    return standbyPids(this.warmRoot);
  }

  /** Mount points at or below the testbed dir, deepest first. */
  findMounts(): string[] {
    const prefix = this.dir + '/';
    const mounts: string[] = [];
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const fields = line.split(' ');
      if (fields.length < 5) continue;
      const mountPoint = unescapeMountPath(fields[4]);
      if (mountPoint === this.dir || mountPoint.startsWith(prefix)) mounts.push(mountPoint);
    }
    // Deepest first; for stacked mounts on one point, later (upper) entries first.
    return mounts
      .map((m, i) => ({ m, i }))
      .sort((a, b) => b.m.split('/').length - a.m.split('/').length || b.i - a.i)
      .map(({ m }) => m);
  }

  /**
   * Container and group ids this testbed's clients named (every ctr argument, and the value of
   * any `key=value` argument): a shim socket is ours only if its name is the hash of one of them.
   */
  private readonly ids = new Set<string>();

  /** Records an id used outside `ctr()` (e.g. by a client of the testbed's own). */
  noteId(id: string): void {
    this.ids.add(id);
    const eq = id.indexOf('=');
    if (eq >= 0) this.ids.add(id.slice(eq + 1));
  }

  /**
   * Shim socket files of this testbed: /run/containerd/s is shared with every other containerd
   * on the machine (other suites running at the same time), so a socket counts only if its name
   * is sha256(<our address>/<namespace>/<id>[-debug]) for an id we used, created since we started.
   */
  async findSockets(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(SHIM_SOCKET_DIR);
    } catch {
      return [];
    }
    const ours = new Set<string>();
    for (const id of this.ids) {
      for (const suffix of ['', '-debug']) {
        const key = `${path.join(this.address, this.namespace, id)}${suffix}`;
        ours.add(crypto.createHash('sha256').update(key).digest('hex'));
      }
    }
    const sockets: string[] = [];
    for (const name of names) {
      if (!ours.has(name)) continue;
      const p = path.join(SHIM_SOCKET_DIR, name);
      try {
        const st = await fs.promises.lstat(p);
        const born = st.birthtimeMs > 0 ? st.birthtimeMs : st.ctimeMs;
        if (st.isSocket() && born >= this.startedAt - 1000) sockets.push(p);
      } catch {
        // vanished meanwhile
      }
    }
    return sockets.sort();
  }

  async leftovers(): Promise<Leftovers> {
    let bundles: string[] = [];
    try {
      bundles = (await fs.promises.readdir(this.bundleRoot)).map((n) =>
        path.join(this.bundleRoot, n),
      );
    } catch {
      // no bundle dir yet
    }
    return {
      shims: this.findShims(),
      mounts: this.findMounts(),
      sockets: await this.findSockets(),
      bundles: bundles.sort(),
    };
  }

  /**
   * Tears everything down: removes running tasks through containerd (if it is up), stops
   * containerd, SIGKILLs remaining shims of this testbed and their descendants (by pid),
   * removes their sockets, unmounts everything under the dir and deletes it.
   */
  async destroy(): Promise<void> {
    if (this.pid !== undefined) {
      await this.removeTasks().catch(() => undefined);
    }
    await this.stop();

    const shims = this.findShims();
    if (shims.length > 0) {
      const children = childrenMap();
      const victims: number[] = [];
      const visit = (pid: number): void => {
        for (const c of children.get(pid) ?? []) visit(c);
        victims.push(pid); // descendants before their parent
      };
      for (const shim of shims) visit(shim);
      for (const pid of victims) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      const alive = await waitGone(victims, KILL_TIMEOUT_MS);
      if (alive.length > 0) {
        throw new Error(`testbed: pids still alive after SIGKILL: ${alive.join(' ')}`);
      }
    }
    await killStandbys(this.warmRoot);
    await this.removeBundleSockets();
    await this.deleteOrphanedRuncContainers();

    for (const mountPoint of this.findMounts()) {
      const res = await runCommand('umount', [mountPoint], 10_000);
      if (res.code !== 0) await runCommand('umount', ['-l', mountPoint], 10_000);
    }
    const remaining = this.findMounts();
    if (remaining.length > 0) {
      // Never rm -rf through a live mount.
      throw new Error(
        `testbed: could not unmount ${remaining.join(', ')}; left ${this.dir} in place`,
      );
    }
    await fs.promises.rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
    await this.removeEmptyNamespaceDirs();
  }

  /**
   * `ctr run` puts containers in the cgroup /<ns>/<id> and the runc-v2 shim keeps runc state in
   * /run/containerd/runc/<ns>/<id>; runc removes the <id> level only. rmdir (never recursive)
   * the per-namespace parents if they are empty; fails harmlessly while anything uses them.
   */
  private async removeEmptyNamespaceDirs(): Promise<void> {
    const dirs = [path.join('/run/containerd/runc', this.namespace)];
    try {
      for (const entry of await fs.promises.readdir('/sys/fs/cgroup', { withFileTypes: true })) {
        if (entry.isDirectory()) dirs.push(path.join('/sys/fs/cgroup', entry.name, this.namespace));
      }
      dirs.push(path.join('/sys/fs/cgroup', this.namespace)); // cgroup v2
    } catch {
      // no cgroupfs
    }
    for (const dir of dirs) {
      await fs.promises.rmdir(dir).catch(() => undefined);
    }
  }

  /**
   * After its shim was killed a runc container keeps its state in
   * /run/containerd/runc/<ns>/<id> and its cgroup (and any process the kill missed). For every
   * bundle of ours whose runc state names that bundle, `runc delete --force` cleans it up.
   */
  private async deleteOrphanedRuncContainers(): Promise<void> {
    const runc = findCommand('runc');
    if (runc === undefined) return;
    let ids: string[];
    try {
      ids = await fs.promises.readdir(this.bundleRoot);
    } catch {
      return;
    }
    const runcRoot = path.join('/run/containerd/runc', this.namespace);
    for (const id of ids) {
      let state: { config?: { labels?: string[] } };
      try {
        state = JSON.parse(
          await fs.promises.readFile(path.join(runcRoot, id, 'state.json'), 'utf8'),
        ) as typeof state;
      } catch {
        continue;
      }
      const bundle = path.join(this.bundleRoot, id);
      if (!(state.config?.labels ?? []).includes(`bundle=${bundle}`)) continue; // not ours
      const res = await runCommand(runc, ['--root', runcRoot, 'delete', '--force', id], 10_000);
      if (res.code !== 0) {
        process.stderr.write(`testbed: runc delete --force ${id} failed: ${res.stderr.trim()}\n`);
      }
    }
  }

  /** Best effort: kill and delete every task and container of our namespace (bounded). */
  private async removeTasks(): Promise<void> {
    const tasks = await this.ctr(['tasks', 'ls', '-q'], { timeoutMs: 5_000 });
    for (const id of tasks.stdout.split('\n').filter((s) => s !== '')) {
      await this.ctr(['tasks', 'kill', '-a', '-s', 'SIGKILL', id], { timeoutMs: 5_000 });
      await this.ctr(['tasks', 'rm', '-f', id], { timeoutMs: 10_000 });
    }
    const containers = await this.ctr(['containers', 'ls', '-q'], { timeoutMs: 5_000 });
    for (const id of containers.stdout.split('\n').filter((s) => s !== '')) {
      await this.ctr(['containers', 'rm', id], { timeoutMs: 10_000 });
    }
  }

  /**
   * Removes shim sockets named in our bundles' `address` files, or computed from the socket
   * formula sha256(<address>/<ns>/<id>) — only plain socket files in SHIM_SOCKET_DIR.
   */
  private async removeBundleSockets(): Promise<void> {
    let ids: string[];
    try {
      ids = await fs.promises.readdir(this.bundleRoot);
    } catch {
      return;
    }
    const candidates = new Set<string>();
    for (const id of ids) {
      const hex = crypto
        .createHash('sha256')
        .update(path.join(this.address, this.namespace, id))
        .digest('hex');
      candidates.add(path.join(SHIM_SOCKET_DIR, hex));
      try {
        const addr = (
          await fs.promises.readFile(path.join(this.bundleRoot, id, 'address'), 'utf8')
        ).trim();
        candidates.add(addr.replace(/^unix:\/\//, ''));
      } catch {
        // no address file
      }
    }
    for (const p of candidates) {
      if (path.dirname(p) !== SHIM_SOCKET_DIR) continue;
      try {
        if ((await fs.promises.lstat(p)).isSocket()) await fs.promises.rm(p);
      } catch {
        // not there
      }
    }
  }
}
