// The runc client (lib/runc) against the real runc: a busybox rootfs, bundles generated with
// `runc spec`, and a private --root. Needs root, runc and /bin/busybox.
//
// The test process is no subreaper: container inits are reparented to pid 1 once runc exits, so
// exits are observed by polling `runc state` (status "stopped"), never by waitpid.
import * as assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { Runc, RuncError, isRuncError, parseLogLine, readPidFile } from '../lib/runc';
import { launchChildProcess, launchMode } from '../lib/runc/launch';
import type { Container, RuncEvent } from '../lib/runc';
import { findCommand, requireCondition, requireLinux, requireEnvironment } from './helpers/env';
import { BUSYBOX_APPLETS, BUSYBOX_BINARY } from './helpers/image';

const SIGTERM = 15;
const SIGKILL = 9;
const MiB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A read-only busybox rootfs: /bin/busybox, applet symlinks and the usual mount points. */
function buildRootfs(dir: string): void {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX_BINARY, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) fs.symlinkSync('busybox', path.join(dir, 'bin', applet));
  for (const d of ['dev', 'etc', 'proc', 'sys', 'tmp', 'root']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
}

/** The cgroup directories (v1: one per hierarchy) of a running process. */
function cgroupDirs(pid: number): string[] {
  const dirs: string[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, cgPath] = line.split(':');
    if (controllers === undefined || cgPath === undefined || cgPath === '/') continue;
    const name = controllers === '' ? 'unified' : controllers.replace(/^name=/, '');
    const base = controllers === '' ? '/sys/fs/cgroup' : path.join('/sys/fs/cgroup', name);
    dirs.push(path.join(base, cgPath));
  }
  return dirs.filter((d) => fs.existsSync(d));
}

describe('runc client (lib/runc)', function () {
  let tmp: string;
  let rootfs: string;
  let template: Record<string, unknown>;
  let runc: Runc;
  let logFile: string;
  let counter = 0;
  const created: string[] = [];
  const cgroups = new Set<string>();

  before(function () {
    requireEnvironment(
      this,
      { commands: ['runc'], root: true, files: [BUSYBOX_BINARY] },
      'apt-get install runc busybox-static; run as root',
    );
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runc-test-'));
    rootfs = path.join(tmp, 'rootfs');
    buildRootfs(rootfs);
    const specDir = path.join(tmp, 'spec');
    fs.mkdirSync(specDir);
    execFileSync('runc', ['spec', '--bundle', specDir]);
    template = JSON.parse(fs.readFileSync(path.join(specDir, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    logFile = path.join(tmp, 'runc-log.json');
    runc = new Runc({ root: path.join(tmp, 'state'), log: logFile });
  });

  /** A new container id (and cleanup registration). */
  function newId(): string {
    const id = `runc-test-${process.pid}-${++counter}`;
    created.push(id);
    return id;
  }

  /** A bundle running `args` on the shared read-only rootfs. */
  function bundle(id: string, args: string[], edit?: (spec: Record<string, unknown>) => void) {
    const dir = path.join(tmp, id);
    fs.mkdirSync(dir);
    const spec = structuredClone(template) as {
      process: { args: string[]; terminal: boolean };
      root: { path: string; readonly: boolean };
    } & Record<string, unknown>;
    spec.process.args = args;
    spec.process.terminal = false;
    spec.root = { path: rootfs, readonly: true };
    edit?.(spec);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
    return dir;
  }

  /** An output file: the fd to hand to runc, and a reader of what was written. */
  function outputFile(name: string): { fd: number; read: () => string; close: () => void } {
    const file = path.join(tmp, name);
    const fd = fs.openSync(file, 'w');
    return {
      fd,
      read: () => fs.readFileSync(file, 'utf8'),
      close: () => fs.closeSync(fd),
    };
  }

  async function status(id: string): Promise<string> {
    return (await runc.state(id)).status;
  }

  async function waitStatus(id: string, wanted: string): Promise<Container> {
    return until(`${id} ${wanted}`, async () => {
      const state = await runc.state(id);
      return state.status === wanted ? state : undefined;
    });
  }

  /** create + start `args` with stdout/stderr into a file; records the container's cgroups. */
  async function startContainer(args: string[]) {
    const id = newId();
    const out = outputFile(`${id}.out`);
    const pidFile = path.join(tmp, `${id}.pid`);
    try {
      await runc.create(id, bundle(id, args), {
        pidFile,
        io: { stdout: out.fd, stderr: out.fd },
      });
    } finally {
      out.close();
    }
    const pid = await readPidFile(pidFile);
    for (const dir of cgroupDirs(pid)) cgroups.add(dir);
    await runc.start(id);
    return { id, pid, out };
  }

  afterEach(async function () {
    for (const id of created.splice(0)) {
      await runc.delete(id, { force: true }).catch((err: unknown) => {
        if (!(isRuncError(err) && err.notFound)) throw err;
      });
    }
  });

  after(async function () {
    if (tmp === undefined) return;
    try {
      assert.deepEqual(await runc.list(), [], 'containers left behind');
      assert.ok(cgroups.size > 0, 'container cgroups were recorded');
      const left = [...cgroups].filter((d) => fs.existsSync(d));
      assert.deepEqual(left, [], 'cgroups left behind');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('version() and features() parse runc output', async function () {
    const version = await runc.version();
    assert.match(version.runc, /^\d+\.\d+\.\d+/);
    assert.equal(typeof version.commit, 'string');
    assert.match(version.spec ?? '', /^1\.\d+\.\d+/);
    const features = (await runc.features()) as { ociVersionMin?: string; hooks?: string[] };
    assert.match(features.ociVersionMin ?? '', /^1\./);
    assert.ok(features.hooks?.includes('prestart'));
    assert.deepEqual(await runc.list(), []);
  });

  it('create + start: pid file, states, output through the io fds, SIGTERM, delete', async function () {
    const id = newId();
    const out = outputFile(`${id}.out`);
    const pidFile = path.join(tmp, `${id}.pid`);
    const script = "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done";
    const dir = bundle(id, ['sh', '-c', script]);
    await runc.create(id, dir, { pidFile, io: { stdout: out.fd, stderr: out.fd } });
    out.close();

    const pid = await readPidFile(pidFile);
    for (const d of cgroupDirs(pid)) cgroups.add(d);
    const state = await runc.state(id);
    assert.equal(state.id, id);
    assert.equal(state.status, 'created');
    assert.equal(state.pid, pid);
    assert.equal(state.bundle, dir);
    assert.equal(state.rootfs, rootfs);
    assert.ok(!Number.isNaN(Date.parse(state.created)));
    assert.equal(out.read(), '', 'nothing runs before start');
    assert.deepEqual(
      (await runc.list()).map((c) => [c.id, c.status]),
      [[id, 'created']],
    );

    await runc.start(id);
    assert.equal(await status(id), 'running');
    await until('ready', () => (out.read().includes('ready') ? true : undefined));

    await runc.kill(id, SIGTERM);
    const stopped = await waitStatus(id, 'stopped');
    assert.equal(stopped.pid, 0);
    assert.equal(out.read(), 'ready\ngot-term\n');

    await runc.delete(id);
    await assert.rejects(runc.state(id), (err: unknown) => {
      assert.ok(err instanceof RuncError);
      assert.equal(err.code, 'ERR_RUNC');
      assert.ok(err.notFound, err.message);
      assert.equal(err.exitStatus, 1);
      assert.equal(err.runcMessage, 'container does not exist');
      // runc prints the error on stderr, which go-runc (and so runc-v2) appends verbatim
      assert.equal(
        err.message,
        'runc did not terminate successfully: exit status 1: container does not exist\n',
      );
      return true;
    });
  });

  it('stdout to a pipe reaches EOF when the container exits (runc keeps no copy)', async function () {
    const id = newId();
    const fifo = path.join(tmp, `${id}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY);
    const reader = new net.Socket({ fd: readFd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    reader.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => reader.once('end', resolve));
    try {
      await runc.create(id, bundle(id, ['sh', '-c', 'echo through-the-pipe; sleep 0.2']), {
        io: { stdout: writeFd },
      });
    } finally {
      fs.closeSync(writeFd);
    }
    await runc.start(id);
    await ended;
    reader.destroy();
    assert.equal(Buffer.concat(chunks).toString(), 'through-the-pipe\n');
    await waitStatus(id, 'stopped');
  });

  it('kill SIGKILL, then ps handles no processes (runc prints null)', async function () {
    const { id, pid } = await startContainer(['sleep', '1000']);
    assert.deepEqual(await runc.ps(id), [pid]);
    await runc.kill(id, SIGKILL);
    await waitStatus(id, 'stopped');
    // runc says stopped as soon as the init is a zombie, while its pid can stay in the cgroup
    // until it is reaped: under load `ps` may still list it for a moment, then prints null.
    const left = await until('ps lists no process', async () => {
      const pids = await runc.ps(id);
      return pids.length === 0 ? pids : undefined;
    });
    assert.deepEqual(left, []);
    await assert.rejects(runc.kill(id, SIGKILL), (err: unknown) => {
      assert.ok(isRuncError(err));
      assert.ok(err.notRunning, err.message);
      return true;
    });
    await runc.delete(id);
  });

  it('kill --all signals every process; ps lists them', async function () {
    const { id, pid, out } = await startContainer([
      'sh',
      '-c',
      'sleep 1000 & sleep 1000 & echo started; wait',
    ]);
    await until('children', () => (out.read().includes('started') ? true : undefined));
    const pids = await until('3 pids', async () => {
      const p = await runc.ps(id);
      return p.length === 3 ? p : undefined;
    });
    assert.ok(pids.includes(pid), `${pids.join(',')} includes init ${pid}`);
    await runc.kill(id, SIGKILL, { all: true });
    await waitStatus(id, 'stopped');
    assert.deepEqual(await runc.ps(id), []);
    // the children die with the init (reaped by pid 1: they are not ours)
    await until('children gone', () =>
      pids.every((p) => !fs.existsSync(`/proc/${p}`)) ? true : undefined,
    );
    await runc.delete(id);
  });

  it('pause and resume', async function () {
    const { id } = await startContainer(['sleep', '1000']);
    await runc.pause(id);
    assert.equal(await status(id), 'paused');
    await runc.resume(id);
    assert.equal(await status(id), 'running');
    await runc.delete(id, { force: true });
    await assert.rejects(runc.state(id), (err: unknown) => isRuncError(err) && err.notFound);
  });

  it('update sets pids and memory limits; stats shows them with cpu and memory usage', async function () {
    const { id, pid } = await startContainer(['sleep', '1000']);
    const before = await runc.stats(id);
    assert.equal(before.pids.limit, undefined, 'no pids limit yet (runc omits 0)');
    await runc.update(id, { pids: { limit: 20 }, memory: { limit: 64 * MiB } });
    const stats = await runc.stats(id);
    assert.equal(stats.pids.limit, 20);
    assert.equal(stats.pids.current, 1);
    assert.equal(stats.memory.usage.limit, 64 * MiB);
    assert.ok((stats.memory.usage.usage ?? 0) > 0, 'memory usage');
    assert.ok((stats.cpu.usage.total ?? 0) > 0, 'cpu usage');
    assert.equal(typeof stats.cpu.usage.kernel, 'number');
    assert.ok(stats.blkio !== undefined && stats.hugetlb !== undefined);
    if (fs.existsSync('/sys/fs/cgroup/memory/memory.stat')) {
      // cgroup v1: memory.stat verbatim, the "unlimited" sentinels exact as doubles
      assert.equal(typeof stats.memory.raw?.total_rss, 'number');
      assert.equal(stats.memory.raw?.hierarchical_memory_limit, 64 * MiB);
      assert.equal(BigInt(stats.memory.kernel.limit), 2n ** 63n - 4096n);
    }
    await assert.rejects(
      runc.update(id, { memory: { limit: 'lots' } }),
      (err: unknown) => isRuncError(err) && err.exitStatus !== 0 && err.runcMessage !== undefined,
    );
    assert.deepEqual(await runc.ps(id), [pid]);
  });

  it('events streams stats until closed', async function () {
    const { id } = await startContainer(['sleep', '1000']);
    const stream = runc.events(id, 1);
    const seen: RuncEvent[] = [];
    for await (const event of stream) {
      seen.push(event);
      if (seen.length === 2) break;
    }
    assert.equal(seen.length, 2);
    for (const event of seen) {
      assert.equal(event.type, 'stats');
      assert.equal(event.id, id);
      assert.ok((event.stats?.cpu.usage.total ?? 0) > 0);
    }
    stream.close(); // idempotent after break

    const second = runc.events(id, 1);
    const collected = (async () => {
      const events: RuncEvent[] = [];
      for await (const event of second) events.push(event);
      return events;
    })();
    await sleep(100);
    second.close();
    assert.ok((await collected).length <= 1, 'iteration ends on close');
  });

  it('exec a process with a pid file and its output', async function () {
    const { id } = await startContainer(['sleep', '1000']);
    const out = outputFile(`${id}.exec.out`);
    const pidFile = path.join(tmp, `${id}.exec.pid`);
    const spec = {
      args: ['sh', '-c', 'echo hi; echo "$FOO" >&2'],
      env: ['PATH=/bin', 'FOO=bar'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      terminal: false,
    };
    // This process's spec files only: other processes share the temp dir.
    const mine = `runc-process-${process.pid}-`;
    const tmpFiles = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(mine));
    const before = tmpFiles();
    try {
      await runc.exec(id, spec, { pidFile, io: { stdout: out.fd, stderr: out.fd } });
    } finally {
      out.close();
    }
    assert.ok((await readPidFile(pidFile)) > 1);
    await until('exec output', () => (out.read() === 'hi\nbar\n' ? true : undefined));
    assert.deepEqual(tmpFiles(), before, 'the process spec file is removed');

    // non-detached: waits for the process; a non-zero exit status rejects
    await runc.exec(id, { ...spec, args: ['true'] }, { detach: false });
    await assert.rejects(
      runc.exec(id, { ...spec, args: ['sh', '-c', 'exit 5'] }, { detach: false }),
      (err: unknown) => isRuncError(err) && err.exitStatus === 5,
    );
    await runc.kill(id, SIGKILL);
    await waitStatus(id, 'stopped');
    await assert.rejects(runc.exec(id, spec), (err: unknown) => {
      assert.ok(isRuncError(err));
      assert.match(err.message, /cannot exec in a stopped container|not running/);
      return true;
    });
  });

  it('a bad binary: create rejects with runc’s log message', async function () {
    const id = newId();
    const dir = bundle(id, ['nope']);
    // an older error in the same log must not be picked up
    await assert.rejects(runc.state('no-such-container'));
    await assert.rejects(runc.create(id, dir), (err: unknown) => {
      assert.ok(err instanceof RuncError);
      // go-runc's form (what runc-v2 reports), with runc's own message from its log
      assert.equal(
        err.runcMessage,
        'runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH',
      );
      assert.equal(
        err.message,
        `runc did not terminate successfully: exit status 1: ${err.runcMessage}`,
      );
      assert.equal(err.exitStatus, 1);
      assert.equal(err.signal, null);
      assert.equal(err.command[0], 'runc');
      assert.ok(err.command.includes('create') && err.command.at(-1) === id);
      return true;
    });
    assert.deepEqual(await runc.list(), [], 'runc cleaned up the failed container');
    // the log file was appended to, never truncated
    const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n');
    assert.ok(lines.some((l) => parseLogLine(l)?.msg === 'container does not exist'));
    assert.match(lines.at(-1) ?? '', /"level":"error"/);
  });

  it('errors without a log file: stderr for plain commands, exit status for detached ones', async function () {
    const plain = new Runc({ root: path.join(tmp, 'state') });
    await assert.rejects(plain.kill('no-such-container', SIGKILL), (err: unknown) => {
      assert.ok(isRuncError(err));
      assert.equal(err.runcMessage, 'container does not exist');
      assert.match(err.stderr, /container does not exist/);
      assert.ok(err.notFound);
      return true;
    });
    const id = newId();
    await assert.rejects(plain.create(id, bundle(id, ['nope'])), (err: unknown) => {
      assert.ok(isRuncError(err));
      assert.equal(err.message, 'runc did not terminate successfully: exit status 1');
      assert.equal(err.runcMessage, undefined);
      return true;
    });
    const missing = new Runc({ command: path.join(tmp, 'no-runc') });
    await assert.rejects(missing.version(), (err: unknown) => {
      assert.ok(isRuncError(err));
      assert.equal(err.exitStatus, null);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    });
  });

  it('run waits and resolves with the exit status', async function () {
    const id = newId();
    const out = outputFile(`${id}.out`);
    try {
      const status = await runc.run(id, bundle(id, ['sh', '-c', 'echo ran; exit 7']), {
        io: { stdout: out.fd },
      });
      assert.equal(status, 7);
    } finally {
      out.close();
    }
    assert.equal(out.read(), 'ran\n');
    // runc run deletes the container when it exits
    await assert.rejects(runc.state(id), (err: unknown) => isRuncError(err) && err.notFound);

    const bad = newId();
    await assert.rejects(runc.run(bad, bundle(bad, ['nope'])), (err: unknown) => {
      assert.ok(isRuncError(err));
      assert.match(err.message, /executable file not found/);
      return true;
    });
  });

  it('checkpoint: runs criu (or rejects with its error when criu cannot work here)', async function () {
    const { id } = await startContainer(['sleep', '1000']);
    const imagePath = path.join(tmp, `${id}.checkpoint`);
    try {
      await runc.checkpoint(id, {
        imagePath,
        workDir: path.join(tmp, `${id}.work`),
        leaveRunning: true,
      });
      assert.ok(fs.readdirSync(imagePath).length > 0, 'checkpoint images written');
    } catch (err) {
      assert.ok(isRuncError(err), String(err));
      assert.ok(err.runcMessage !== undefined && err.runcMessage !== '', err.message);
      process.stderr.write(`      (criu unusable here: ${JSON.stringify(err.message)})\n`);
    }
    assert.equal(await status(id), 'running');
  });
});

/** Runs test/fixtures/native-spawn.js `mode` in a child Node process; its JSON report. */
async function nativeSpawnFixture(mode: string): Promise<Record<string, unknown>> {
  const fixture = path.join(__dirname, 'fixtures', 'native-spawn.js');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [fixture, mode], { timeout: 50_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`${fixture} ${mode} failed: ${err.message}\n${errOut}`));
      else resolve(out);
    });
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
}

/** What both native modes must report for the shared RuncCommand checks. */
function assertRuncCommandChecks(r: Record<string, unknown>): void {
  assert.equal(r.native, true, 'runc commands use the addon spawn');
  assert.deepEqual(r.captured, { exitStatus: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
  assert.equal(r.capturedStreams, 0, 'captured output is read without a stream');
  assert.deepEqual(
    r.overLimit,
    { exitStatus: 0, kept: 100_000, truncated: true, stderr: 'done\n' },
    'captured stdout past the limit: its head kept, the rest read and dropped',
  );
  assert.equal(r.underLimit, 'whole', 'output of exactly the limit is whole');
  assert.equal(r.inputBytes, '1048576', '1 MiB of stdin input arrives whole');
  assert.equal(r.unreadInput, 4, 'input runc never reads: the exit status, no error');
  assert.deepEqual(r.toFd, { exitStatus: 0, stdout: 'direct\n' });
  assert.deepEqual(r.streamed, {
    lines: ['one', 'two'],
    exitStatus: null,
    signal: 'SIGKILL',
    running: false,
  });
  assert.deepEqual(r.stray, { exitStatus: 0, pid: true });
  assert.deepEqual(r.missing, { exitStatus: null, code: 'ENOENT' });
  assert.match(String(r.missingMessage), /^runc state: cannot run \/nonexistent\/runc: ENOENT/);
  if (findCommand('runc') !== undefined) assert.match(String(r.runcVersion), /^\d+\.\d+/);
  assert.deepEqual(r.zombies, [], 'children left');
  assert.deepEqual(r.fdsLeaked, [], 'pipes left open');
}

// Inside a shim daemon the exit monitor's reaper runs, and runc commands are started with the
// addon's vfork-style spawn and their exits taken from the reaper (lib/runc/launch.ts). Where no
// reaper runs (the warm `delete` action, this mocha process) they are started the same way and
// each is waited for through a pidfd; child_process only on kernels without pidfd_open. These run
// in child Node processes (test/fixtures/native-spawn.ts), with /bin/sh standing in for runc.
describe('runc commands through the addon spawn (in child Node processes)', function () {
  before(function () {
    requireLinux(this, 'the addon spawn with the reaper or a pidfd is Linux-only');
  });

  it('this process, without a reaper, waits through pidfds (child_process without pidfd_open)', function () {
    const [major, minor] = os.release().split('.').map(Number);
    const pidfd = major > 5 || (major === 5 && minor >= 3);
    assert.equal(launchMode(), pidfd ? 'pidfd' : 'child_process');
  });

  it('the fallback without pidfd_open (child_process): exit status, signal, output, a missing binary', async function () {
    const collect = (s: NodeJS.ReadableStream | null): Promise<string> =>
      new Promise((resolve) => {
        let text = '';
        s?.on('data', (chunk: Buffer) => (text += chunk.toString()));
        s?.on('close', () => resolve(text));
      });
    const ran = launchChildProcess(
      ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'],
      ['ignore', 'pipe', 'pipe'],
      [],
    );
    const [out, err, exit] = await Promise.all([
      collect(ran.stdout),
      collect(ran.stderr),
      ran.exit,
    ]);
    assert.deepEqual(
      { out, err, exit },
      {
        out: 'out\n',
        err: 'err\n',
        exit: { exitStatus: 3, signal: null },
      },
    );
    assert.equal(ran.running, false);
    // Collected output (what RuncCommand's 'capture' uses): handed over chunk by chunk, no stream.
    const chunks: string[][] = [[], []];
    const collecting = launchChildProcess(
      ['/bin/sh', '-c', 'echo out; echo err >&2; exit 5'],
      [
        'ignore',
        { collect: (c) => chunks[0]!.push(c.toString()) },
        { collect: (c) => chunks[1]!.push(c.toString()) },
      ],
      [],
    );
    assert.equal(collecting.stdout, null);
    assert.equal(collecting.stderr, null);
    const [collectedExit] = await Promise.all([collecting.exit, collecting.collected]);
    assert.deepEqual(
      { out: chunks[0]!.join(''), err: chunks[1]!.join(''), exit: collectedExit },
      { out: 'out\n', err: 'err\n', exit: { exitStatus: 5, signal: null } },
    );
    const killed = launchChildProcess(
      ['/bin/sh', '-c', 'kill -TERM $$'],
      ['ignore', 'ignore', 'ignore'],
      [],
    );
    assert.deepEqual(await killed.exit, { exitStatus: null, signal: 'SIGTERM' });
    const missing = launchChildProcess(['/nonexistent/runc'], ['ignore', 'pipe', 'pipe'], []);
    const failed = await missing.exit;
    assert.equal(failed.exitStatus, null);
    assert.equal((failed.spawnError as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  });

  it('with the reaper: capture (bounded), stdin input, an fd, a stream killed midway, a stray holding a pipe, a missing binary; no fd or child left', async function () {
    this.timeout(60_000);
    const r = await nativeSpawnFixture('runc');
    assertRuncCommandChecks(r);
  });

  it('without the reaper (pidfd): the same, real runc delete with its stderr, child_process exits not taken, no pidfd left', async function () {
    this.timeout(60_000);
    requireCondition(this, launchMode() === 'pidfd', 'pidfd_open', 'a Linux 5.3 or later kernel');
    const r = await nativeSpawnFixture('runc-pidfd');
    assert.equal(r.mode, 'pidfd');
    assertRuncCommandChecks(r);
    assert.equal(
      r.mixedOk,
      true,
      'child_process and native exits interleaved: each its own status',
    );
    assert.equal(r.slowChildProcess, 6, "a child_process child's exit is not taken");
    assert.deepEqual(r.killed, { exitStatus: null, signal: 'SIGTERM' });
    assert.deepEqual(r.pidfdFdsLeaked, [], 'pidfds or pipes left open');
    if (findCommand('runc') !== undefined) {
      const del = r.runcDelete as { exitStatus: number; stderr: string };
      assert.equal(del.exitStatus, 1, 'runc delete of an unknown container fails');
      assert.match(del.stderr, /does not exist/);
      assert.deepEqual(r.runcDeleteForce, { exitStatus: 0, stderr: '' }, '--force: nothing to do');
    }
  });
});
