// A standby's staleness check (native/linux/module_watch.cc): the identity of every loaded
// module, re-read only after an inotify event. Directly on files first, then end to end: a
// standby whose module was replaced by a rename, or whose module directory was replaced,
// answers "stale" and the action runs elsewhere; one that only saw an unrelated change serves.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { linux } from '../lib/native';
import { requireLinux } from './helpers/env';
import {
  alive,
  killStandbys,
  packageProbeShim,
  prewarm,
  standbyPids,
  traceLines,
  onePoolEnv,
  waitSettled,
} from './helpers/warm';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('module watch (a standby noticing its modules changed)', function () {
  let dir: string;

  before(function () {
    requireLinux(this, 'run on Linux');
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'module-watch-'));
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.writeFileSync(path.join(dir, 'lib', 'dep.js'), 'module.exports = 1;\n');
  });

  afterEach(() => {
    linux.moduleWatchClose();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(`${dir}.moved`, { recursive: true, force: true });
  });

  const dep = (): string => path.join(dir, 'lib', 'dep.js');

  /** Watches dep.js, applies `change`, and returns two checks in a row. */
  function check(change: () => void): [boolean, boolean] {
    linux.moduleWatchAdd([dep()]);
    assert.equal(linux.moduleWatchChanged(), false, 'nothing changed yet');
    change();
    return [linux.moduleWatchChanged(), linux.moduleWatchChanged()];
  }

  it('a file rewritten in place', () => {
    assert.deepEqual(
      check(() => fs.writeFileSync(dep(), 'module.exports = 2;\n')),
      [true, true],
    );
  });

  it('a file rewritten in place through a hard link elsewhere', () => {
    const link = path.join(dir, 'link.js');
    fs.linkSync(dep(), link);
    assert.deepEqual(
      check(() => fs.writeFileSync(link, 'module.exports = 2;\n')),
      [true, true],
    );
  });

  it('a file replaced by a rename', () => {
    assert.deepEqual(
      check(() => {
        fs.writeFileSync(path.join(dir, 'new.js'), 'module.exports = 1;\n');
        fs.renameSync(path.join(dir, 'new.js'), dep());
      }),
      [true, true],
    );
  });

  it('its directory replaced, or a directory above it', () => {
    const copy = (from: string): void => {
      fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
      fs.copyFileSync(from, dep());
    };
    assert.deepEqual(
      check(() => {
        fs.renameSync(path.join(dir, 'lib'), path.join(dir, 'lib.old'));
        copy(path.join(dir, 'lib.old', 'dep.js'));
      }),
      [true, true],
    );
    linux.moduleWatchClose();
    assert.deepEqual(
      check(() => {
        fs.renameSync(dir, `${dir}.moved`);
        copy(path.join(`${dir}.moved`, 'lib', 'dep.js'));
      }),
      [true, true],
    );
  });

  it('a touch (mtime) and a removal', () => {
    const later = new Date(Date.now() + 10_000);
    assert.deepEqual(
      check(() => fs.utimesSync(dep(), later, later)),
      [true, true],
    );
    linux.moduleWatchClose();
    assert.deepEqual(
      check(() => fs.rmSync(dep())),
      [true, true],
    );
  });

  it('events that change no module: not stale, and a later change still counts', () => {
    assert.deepEqual(
      check(() => {
        fs.writeFileSync(path.join(dir, 'lib', 'other.js'), 'x');
        fs.chmodSync(dep(), 0o600);
        fs.chmodSync(dep(), 0o644);
        fs.linkSync(dep(), path.join(dir, 'link.js')); // the link count changes (IN_ATTRIB)
      }),
      [false, false],
    );
    fs.appendFileSync(dep(), '// more\n');
    assert.equal(linux.moduleWatchChanged(), true);
  });

  it('files added later are checked too; closed, nothing is', () => {
    const other = path.join(dir, 'lib', 'other.js');
    fs.writeFileSync(other, 'x');
    linux.moduleWatchAdd([dep()]);
    linux.moduleWatchAdd([dep(), other]);
    fs.writeFileSync(other, 'y');
    assert.equal(linux.moduleWatchChanged(), true);
    linux.moduleWatchClose();
    assert.equal(linux.moduleWatchChanged(), false);
    assert.throws(() => linux.moduleWatchAdd('x' as unknown as string[]), /moduleWatchAdd/);
  });

  describe('standbys', function () {
    this.timeout(180_000);
    let root: string;
    let log: string;
    let binary: string;
    let env: Record<string, string>;

    beforeEach(() => {
      root = path.join(dir, 'warm');
      log = path.join(dir, 'warm.log');
      env = onePoolEnv(root, log);
      binary = packageProbeShim(dir, 'watched', {
        before: "require('./lib/dep.js');",
        written: 'String(process.pid)',
      });
    });

    afterEach(async () => {
      await killStandbys(root);
    });

    /** The pool with a ready standby and no boot in flight: its standbys. */
    async function settled(pool: string): Promise<number[]> {
      await waitSettled(pool, 120_000);
      return standbyPids(root);
    }

    /** `<binary> delete` through the launcher: the pid that ran it. */
    function runDelete(): number {
      const out = path.join(dir, 'pid');
      fs.rmSync(out, { force: true });
      const r = spawnSync(binary, ['-namespace', 'mw', '-id', 'x', 'delete'], {
        cwd: dir,
        env: { ...process.env, ...env, PROBE_OUT: out },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return Number(fs.readFileSync(out, 'utf8'));
    }

    it('only a real change makes them stale: an unrelated file, then a rename, then the directory', async () => {
      const pool = prewarm(binary, env);
      // An unrelated file in the module's directory: an event, no change; the standby serves.
      let before = await settled(pool);
      fs.writeFileSync(path.join(dir, 'lib', 'unrelated.txt'), 'x');
      const served = runDelete();
      assert.ok(before.includes(served), `a standby served (${served} of ${before})`);

      const cases: [string, () => void][] = [
        [
          'replaced by a rename',
          () => {
            fs.writeFileSync(path.join(dir, 'lib', 'next.js'), 'module.exports = 2;\n');
            fs.renameSync(path.join(dir, 'lib', 'next.js'), dep());
          },
        ],
        [
          'its directory replaced',
          () => {
            fs.renameSync(path.join(dir, 'lib'), path.join(dir, 'lib.old'));
            fs.mkdirSync(path.join(dir, 'lib'));
            fs.writeFileSync(dep(), 'module.exports = 3;\n');
          },
        ],
      ];
      for (const [what, change] of cases) {
        before = await settled(pool);
        const from = traceLines(log).length;
        change();
        const pid = runDelete();
        assert.ok(!before.includes(pid), `${what}: ${pid} loaded the old module (${before})`);
        const text = traceLines(log).slice(from).join('\n');
        const stale = [...text.matchAll(/pid (\d+): stale \(its modules changed on disk\)/g)];
        assert.ok(stale.length >= 1, `${what}: a standby answered stale:\n${text}`);
        for (const m of stale) assert.ok(before.includes(Number(m[1])));
        const until = Date.now() + 60_000;
        while (stale.some((m) => alive(Number(m[1])))) {
          if (Date.now() > until) assert.fail(`${what}: a stale standby did not exit`);
          await sleep(50);
        }
      }
    });

    it('a module upgraded after a boot read it, before the boot ended, makes that standby stale', async () => {
      // The upgrade lands inside the boot, deterministically: the module rewrites itself on
      // disk as it is first loaded. Recorded when the boot ends, the new file's identity would
      // be taken for the one the standby loaded, and the standby would serve the old code.
      const upgraded = path.join(dir, 'lib', 'upgraded.js');
      fs.writeFileSync(
        upgraded,
        "module.exports = 'old';\n" +
          "require('node:fs').writeFileSync(__filename, \"module.exports = 'new';\\n\");\n",
      );
      binary = packageProbeShim(dir, 'upgraded', {
        after: "const version = require('./lib/upgraded.js');",
        written: 'version',
      });
      const pool = prewarm(binary, env);
      await waitSettled(pool, 120_000);
      const out = path.join(dir, 'version');
      for (let i = 0; i < 3; i++) {
        const r = spawnSync(binary, ['-namespace', 'mw', '-id', 'x', 'delete'], {
          cwd: dir,
          env: { ...process.env, ...env, PROBE_OUT: out },
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(fs.readFileSync(out, 'utf8'), 'new', `delete ${i + 1}`);
      }
      assert.match(traceLines(log).join('\n'), /stale \(its modules changed on disk\)/);
    });
  });
});
