// The shim's `logger` from ESM and from CommonJS: a shim imports it by name at load time, while it
// is still the silent start/delete logger; once run() serves, the same binding must write to the
// bundle's log (an ESM named import of a CommonJS module is a snapshot, not a live binding).
import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, TaskClient, logger, setShimLogger } from '../lib';
import type { ShimLogger } from '../lib';
import { run } from './helpers/node-dist';

const top = path.resolve(__dirname, '..', '..');

const SHIM_BODY = `
const early = logger.child({ component: 'early' });
class Service {
  constructor() { this.exit = new ExitSignal(); }
  startShim() { throw new Error('not used'); }
  deleteShim() { return {}; }
  wait() { return this.exit.wait(); }
  createTaskService() {
    return {
      connect: () => {
        logger.info({ importer: KIND }, 'connect handled');
        early.warn('child made before serving');
        return { version: KIND, shimPid: process.pid };
      },
      shutdown: () => { this.exit.signal(); return {}; },
    };
  }
}
run('io.containerd.logger.v1', Service);
`;
const ESM_SHIM = `import { ExitSignal, logger, run } from 'containerd-shim';
const KIND = 'esm';${SHIM_BODY}`;
const CJS_SHIM = `'use strict';
const { ExitSignal, logger, run } = require('containerd-shim');
const KIND = 'cjs';${SHIM_BODY}`;

// The socket file exists from bind(2) on, before listen(2): wait for the shim to say it serves.
async function waitForLine(file: string, line: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  const has = (): boolean => {
    try {
      return fs.readFileSync(file, 'utf8').includes(line);
    } catch {
      return false;
    }
  };
  while (!has()) {
    if (Date.now() > until) throw new Error(`${file} did not get "${line}"`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('shim logger: one binding for ESM and CommonJS importers', function () {
  this.timeout(60_000);
  let tmp: string;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-logger-'));
    // The package as an importer sees it: node_modules/containerd-shim, resolved through exports.
    fs.mkdirSync(path.join(tmp, 'node_modules'));
    fs.symlinkSync(top, path.join(tmp, 'node_modules', 'containerd-shim'));
    fs.writeFileSync(path.join(tmp, 'shim.mjs'), ESM_SHIM);
    fs.writeFileSync(path.join(tmp, 'shim.cjs'), CJS_SHIM);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const kind of ['esm', 'cjs'] as const) {
    it(`${kind}: lines logged while serving reach the bundle's log`, async function () {
      const bundle = path.join(tmp, `bundle-${kind}`);
      fs.mkdirSync(bundle);
      const socket = path.join(bundle, 's.sock');
      const script = path.join(tmp, kind === 'esm' ? 'shim.mjs' : 'shim.cjs');
      const served = run(
        process.execPath,
        [script, '-debug', '-namespace', 'default', '-id', kind, '-socket', `unix://${socket}`],
        {
          cwd: bundle,
          env: { ...process.env, TTRPC_ADDRESS: path.join(tmp, 'no-containerd.sock') },
          timeoutMs: 50_000,
        },
      );
      await waitForLine(path.join(bundle, 'log'), 'server started', 30_000);
      const client = await Client.connect(socket);
      const task = new TaskClient(client);
      assert.equal((await task.connect({ id: kind })).version, kind);
      await task.shutdown({ id: kind }).catch(() => undefined);
      client.close();
      const result = await served;
      assert.equal(result.code, 0, result.stderr);
      const log = fs.readFileSync(path.join(bundle, 'log'), 'utf8');
      assert.match(log, /level=debug msg="server started"/); // -debug: the SDK's own lines
      assert.match(log, new RegExp(`level=info msg="connect handled" .*importer=${kind}`));
      assert.match(log, /level=warning msg="child made before serving" .*component=early/);
    });
  }

  it('setShimLogger redirects the binding and the children taken from it', function () {
    const lines: string[] = [];
    const record = (level: string) => (obj: unknown, msg?: string) =>
      lines.push(`${level} ${typeof obj === 'string' ? obj : msg}`);
    const fake = {
      info: record('info'),
      warn: record('warn'),
      level: 'info',
      child: () => ({ ...fake, info: record('child-info') }),
    } as unknown as ShimLogger;
    const before = lines.length;
    const child = logger.child({ a: 1 });
    logger.info('dropped while silent');
    assert.equal(lines.length, before);
    setShimLogger(fake);
    try {
      logger.info('hello');
      child.info('from child');
      assert.equal(logger.level, 'info');
      assert.deepEqual(lines, ['info hello', 'child-info from child']);
    } finally {
      setShimLogger(silent);
    }
  });
});

// What run() uses during start/delete; restores the process's logger after the test above.
const silent = (() => {
  const noop = (): void => undefined;
  return {
    level: 'silent',
    info: noop,
    warn: noop,
    debug: noop,
    error: noop,
    child: () => silent,
  } as unknown as ShimLogger;
})();

// openShimLog: pino, logrus text lines, written synchronously. Each case runs in a fresh node (a
// module cache without pino), as a shim daemon starts.
const dist = path.resolve(__dirname, '..');

function inFreshNode(body: string, cwd?: string): Promise<{ out: Record<string, unknown> }> {
  const script = `
    const fs = require('node:fs');
    const lib = (p) => require(${JSON.stringify(dist)} + '/lib/' + p);
    const pinoLoaded = () => Object.keys(require.cache).some((k) => /[\\\\/]pino[\\\\/]/.test(k));
    const out = {};
    const done = () => process.stdout.write(JSON.stringify(out));
    ${body}`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { cwd }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve({ out: JSON.parse(stdout) as Record<string, unknown> });
    });
  });
}

const TIME = /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z" /;

// A shim whose serving log is at warn: the SDK's own lines are info; Connect says whether pino
// is loaded before it logs, after an info line, and after a warning.
const QUIET_SHIM = `'use strict';
const { ExitSignal, logger, run } = require('containerd-shim');
const pinoLoaded = () => Object.keys(require.cache).some((k) => /[\\\\/]pino[\\\\/]/.test(k));
class Service {
  constructor() { this.exit = new ExitSignal(); }
  startShim() { throw new Error('not used'); }
  deleteShim() { return {}; }
  wait() { return this.exit.wait(); }
  createTaskService() {
    return {
      connect: () => {
        const before = pinoLoaded();
        logger.info('below the level');
        const quiet = pinoLoaded();
        logger.warn({ n: 1 }, 'first warning');
        return { version: before + ' ' + quiet + ' ' + pinoLoaded(), shimPid: process.pid };
      },
      shutdown: () => { this.exit.signal(); return {}; },
    };
  }
}
run('io.containerd.quiet.v1', Service, { defaultLogLevel: 'warn' });
`;

/** Connects once the shim listens (its socket exists from bind(2) on, before listen(2)). */
async function connectWhenServing(socket: string, ms: number): Promise<Client> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await Client.connect(socket);
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('shim log: pino on the bundle log', function () {
  this.timeout(60_000);
  let tmp: string;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-log-'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('loads pino only when the log opens; writes logrus text lines', async function () {
    const file = path.join(tmp, 'lines.log');
    const { out } = await inFreshNode(`
      const shim = lib('index');
      out.beforeOpen = pinoLoaded();
      const log = shim.openShimLog({ path: ${JSON.stringify(file)}, base: { id: 'c1' } });
      out.afterOpen = pinoLoaded();
      shim.setShimLogger(log);
      shim.logger.info('server started');
      const err = Object.assign(new Error('boom now'), { code: 'ENOENT' });
      shim.logger.warn({ err, topic: '/tasks/exit', n: 3, ok: true, gone: undefined }, 'failed to publish');
      shim.logger.error(err);
      shim.logger.info({ detail: 'x y', spec: { a: [1, 2] } }, '%s has %d', 'shim', 3);
      const cyclic = { name: 'a' };
      cyclic.self = cyclic;
      shim.logger.info({ big: 2n ** 40n, cyclic }, 'odd values');
      const child = shim.logger.child({ exec: 'e1' });
      child.debug('not at info');
      child.info('exec started');
      done();`);
    assert.deepEqual(out, { beforeOpen: false, afterOpen: true });
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 6, lines.join('\n'));
    for (const line of lines) assert.match(line, TIME);
    assert.match(lines[0]!, / level=info msg="server started" pid=\d+ id=c1$/);
    assert.match(
      lines[1]!,
      / level=warning msg="failed to publish" pid=\d+ id=c1 err="boom now" topic=\/tasks\/exit n=3 ok=true$/,
    );
    assert.match(lines[2]!, / level=error msg="boom now" pid=\d+ id=c1 err="boom now"$/);
    assert.match(
      lines[3]!,
      / msg="shim has 3" pid=\d+ id=c1 detail="x y" spec="\{\\"a\\":\[1,2\]\}"$/,
    );
    assert.match(lines[4]!, / msg="odd values" .*big=1099511627776 cyclic=".*Circular/);
    assert.match(lines[5]!, / level=info msg="exec started" pid=\d+ id=c1 exec=e1$/);
  });

  for (const opener of ['openShimLog', 'openServingLog']) {
    it(`${opener} on a FIFO: every line reaches the reader although the shim dies of SIGTERM right after`, async function () {
      const fifo = path.join(tmp, `${opener}.fifo`);
      execFileSync('mkfifo', [fifo]);
      // containerd holds the read side open before the shim starts.
      const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      try {
        const shim = execFile(process.execPath, [
          '-e',
          `const shim = require(${JSON.stringify(dist + '/lib/index')});
         shim.setShimLogger(require(${JSON.stringify(dist + '/lib/shim/logger')}).${opener}({ path: ${JSON.stringify(fifo)} }));
         for (let i = 0; i < 100; i++) shim.logger.info({ i }, 'line');
         process.kill(process.pid, 'SIGTERM');`,
        ]);
        const chunks: Buffer[] = [];
        const buf = Buffer.alloc(65536);
        const exited = new Promise<NodeJS.Signals | null>((resolve) =>
          shim.on('exit', (_code, signal) => resolve(signal)),
        );
        let gone = false;
        void exited.then(() => (gone = true));
        for (;;) {
          let n = 0;
          try {
            n = fs.readSync(reader, buf);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
          }
          if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
          else if (gone) break;
          else await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(await exited, 'SIGTERM');
        const lines = Buffer.concat(chunks).toString().trim().split('\n');
        assert.equal(lines.length, 100);
        assert.match(lines[99]!, / level=info msg="line" pid=\d+ i=99$/);
      } finally {
        fs.closeSync(reader);
      }
    });
  }

  for (const opener of ['openShimLog', 'openServingLog']) {
    it(`${opener}: an unknown level is ERR_INVALID_LOG_LEVEL, on open and when set; warning means warn`, async function () {
      const file = path.join(tmp, `${opener}-levels.log`);
      const { out } = await inFreshNode(`
      const shim = lib('index');
      const open = lib('shim/logger').${opener};
      try { open({ path: ${JSON.stringify(file)}, level: 'loud' }); } catch (e) { out.open = e.code; }
      out.fileMade = fs.existsSync(${JSON.stringify(file)});
      shim.setShimLogger(open({ path: ${JSON.stringify(file)}, level: 'warning' }));
      out.level = shim.logger.level;
      try { shim.logger.level = 'verbose'; } catch (e) { out.set = e.code; }
      out.after = shim.logger.level;
      shim.logger.level = 'debug';
      out.debug = shim.logger.isLevelEnabled('debug');
      done();`);
      assert.deepEqual(out, {
        open: 'ERR_INVALID_LOG_LEVEL',
        fileMade: false,
        level: 'warn',
        set: 'ERR_INVALID_LOG_LEVEL',
        after: 'warn',
        debug: true,
      });
    });
  }

  // The same calls through openShimLog (pino at once) and openServingLog (pino on the first
  // enabled line): the lines must not differ but for their time and pid.
  const SEQUENCE = `
    const child = shim.logger.child({ exec: 'e1' });
    shim.logger.debug('not at info');
    child.trace('nor this');
    out.enabled = [shim.logger.isLevelEnabled('debug'), shim.logger.isLevelEnabled('warning'), child.isLevelEnabled('info')];
    out.level = shim.logger.level;
    fs.writeSync(2, 'stderr before the first line\\n');
    out.beforeLine = pinoLoaded();
    child.info({ n: 1 }, 'child first');
    out.afterLine = pinoLoaded();
    fs.writeSync(2, 'stderr between\\n');
    shim.logger.warn({ err: new Error('boom') }, '%s second', 'parent');
    const grandchild = child.child({ step: 2 });
    grandchild.error('grandchild third');
    shim.logger.level = 'debug';
    shim.logger.debug('debug now');
    child.debug('a child follows the level of its parent');
    grandchild.level = 'trace';
    grandchild.trace({ spec: { a: [1] } }, 'grandchild trace');
    shim.logger.level = 'warn';
    grandchild.debug('until its own is set');
    child.info('not at warn');
    try { shim.logger.level = 'loud'; } catch (e) { out.badLevel = e.code; }
    done();`;

  const normalize = (text: string): string[] =>
    text.split('\n').map((l) => l.replace(TIME, 'time="T" ').replace(/ pid=\d+/, ' pid=P'));

  it('openServingLog: pino loads with the first line at an enabled level; lines, children and levels as with openShimLog', async function () {
    const logs: Record<string, string> = {};
    for (const opener of ['openShimLog', 'openServingLog']) {
      const file = path.join(tmp, `${opener}.log`);
      const { out } = await inFreshNode(`
        const shim = lib('index');
        const { ${opener} } = lib('shim/logger');
        shim.setShimLogger(${opener}({ path: ${JSON.stringify(file)}, base: { id: 'c1' }, redirectStderr: true }));
        ${SEQUENCE}`);
      const lazy = opener === 'openServingLog';
      assert.deepEqual(out, {
        enabled: [false, false, true], // pino knows no 'warning' there (setting it means warn)
        level: 'info',
        beforeLine: !lazy,
        afterLine: true,
        badLevel: 'ERR_INVALID_LOG_LEVEL',
      });
      logs[opener] = fs.readFileSync(file, 'utf8');
    }
    const lines = normalize(logs.openServingLog!);
    assert.deepEqual(lines, [
      'stderr before the first line',
      'time="T" level=info msg="child first" pid=P id=c1 exec=e1 n=1',
      'stderr between',
      'time="T" level=warning msg="parent second" pid=P id=c1 err=boom',
      'time="T" level=error msg="grandchild third" pid=P id=c1 exec=e1 step=2',
      'time="T" level=debug msg="debug now" pid=P id=c1',
      'time="T" level=debug msg="a child follows the level of its parent" pid=P id=c1 exec=e1',
      'time="T" level=trace msg="grandchild trace" pid=P id=c1 exec=e1 step=2 spec="{\\"a\\":[1]}"',
      'time="T" level=debug msg="until its own is set" pid=P id=c1 exec=e1 step=2',
      '',
    ]);
    assert.deepEqual(lines, normalize(logs.openShimLog!));
  });

  it('openServingLog: a line that cannot be made or written is dropped, never thrown', async function () {
    const file = path.join(tmp, 'no-pino.log');
    // pino cannot load: one line says so, the rest are dropped without retrying.
    const noPino = await inFreshNode(`
      const Module = require('node:module');
      const load = Module._load;
      out.tries = 0;
      Module._load = function (request, ...rest) {
        if (request === 'pino') { out.tries++; throw new Error('no pino here'); }
        return load.call(this, request, ...rest);
      };
      const { openServingLog } = lib('shim/logger');
      const log = openServingLog({ path: ${JSON.stringify(file)} });
      log.info('one');
      log.child({ a: 1 }).warn('two');
      log.error('three');
      done();`);
    assert.deepEqual(noPino.out, { tries: 1 });
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0]!,
      / level=error msg="shim log: cannot load pino" err="Error: no pino here"$/,
    );

    // A value pino cannot serialize, and a log whose reader is gone (EPIPE).
    const fifo = path.join(tmp, 'gone.fifo');
    execFileSync('mkfifo', [fifo]);
    const odd = await inFreshNode(`
      const { openServingLog } = lib('shim/logger');
      const reader = fs.openSync(${JSON.stringify(fifo)}, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const log = openServingLog({ path: ${JSON.stringify(fifo)} });
      log.info({ get bad() { throw new Error('getter'); } }, 'unserializable');
      log.info('read');
      const buf = Buffer.alloc(4096);
      out.read = buf.toString('utf8', 0, fs.readSync(reader, buf)).includes(' msg="read" ');
      fs.closeSync(reader);
      log.warn('nobody reads this');
      log.child({ b: 2 }).error('nor this');
      out.alive = true;
      done();`);
    assert.deepEqual(odd.out, { read: true, alive: true });
  });

  it('a serving shim that logs nothing at its level never loads pino; its first line does', async function () {
    const bundle = path.join(tmp, 'quiet-bundle');
    fs.mkdirSync(bundle);
    const socket = path.join(bundle, 's.sock');
    const script = path.join(tmp, 'quiet-shim.cjs');
    fs.mkdirSync(path.join(tmp, 'node_modules'));
    fs.symlinkSync(top, path.join(tmp, 'node_modules', 'containerd-shim'));
    fs.writeFileSync(script, QUIET_SHIM);
    const served = run(
      process.execPath,
      [script, '-namespace', 'default', '-id', 'quiet', '-socket', `unix://${socket}`],
      {
        cwd: bundle,
        env: { ...process.env, TTRPC_ADDRESS: path.join(tmp, 'no-containerd.sock') },
        timeoutMs: 50_000,
      },
    );
    const client = await connectWhenServing(socket, 30_000);
    const task = new TaskClient(client);
    // pino before the Connect, after a line below the level, after a warning
    assert.equal((await task.connect({ id: 'quiet' })).version, 'false false true');
    await task.shutdown({ id: 'quiet' }).catch(() => undefined);
    client.close();
    const result = await served;
    assert.equal(result.code, 0, result.stderr);
    const lines = fs.readFileSync(path.join(bundle, 'log'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0]!,
      / level=warning msg="first warning" pid=\d+ runtime=io.containerd.quiet.v1 namespace=default id=quiet n=1$/,
    );
  });

  it('-v and delete of the runc shim load nothing of pino', async function () {
    const bundle = path.join(tmp, 'bundle');
    fs.mkdirSync(bundle);
    const probe = path.join(tmp, 'probe.js');
    fs.writeFileSync(
      probe,
      `process.on('exit', () => {
         const p = Object.keys(require.cache).filter((k) => /[\\\\/]pino[\\\\/]/.test(k));
         require('node:fs').writeSync(2, 'PINO=' + p.length + '\\n');
       });`,
    );
    const binary = path.join(top, 'examples', 'runc-shim', 'containerd-shim-runcts-v2');
    const env = {
      ...process.env,
      TTRPC_ADDRESS: path.join(tmp, 'no-containerd.sock'),
      NODE_OPTIONS: `--require ${probe}`,
    };
    const common = ['-namespace', 'logtest', '-id', 'c1', '-address', '/nonexistent.sock'];
    for (const action of [['-v'], [...common, 'delete']]) {
      const result = await run(process.execPath, [binary, ...action], {
        cwd: bundle,
        env,
        timeoutMs: 50_000,
      });
      assert.match(result.stderr, /PINO=0\n/, `${action.join(' ')}: ${result.stderr}`);
    }
  });
});
