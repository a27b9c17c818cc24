// The Linux helpers of lib/shim/linux: mount option parsing and rootfs mounts (bind, overlay,
// propagation, recursive unmount), cgroup lookup and metrics (v1 controllers for a real child
// process, v2 files), OOM notifications (a real v1 OOM kill; the v2 watch on synthetic files).
// The mount and cgroup suites need root; everything they create is under a temp dir or a
// uniquely named cgroup, and is removed afterwards.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { linux } from '../lib/native';
import { cgroupsV1 } from '../lib/protos';
import { int64ToBigInt, int64ToNumber } from '../lib/int64/encode';
import {
  METRICS_V1_TYPE_URL,
  adjustOomScore,
  cgroup2Mountpoint,
  cgroupMode,
  cgroupV1Paths,
  collectMetrics,
  isMountPoint,
  mountAll,
  mountRootfs,
  parseMountInfo,
  parseMountOptions,
  parseProcCgroup,
  readMetricsV1,
  readMetricsV2,
  readMountInfo,
  rootPath,
  detachRecursive,
  unmountRecursive,
  watchOom,
  watchOomV1,
  watchOomV2,
} from '../lib/shim/linux';
import { MS } from '../lib/shim/linux/mount-flags';
import { requireCondition, requireLinux, requireEnvironment } from './helpers/env';

const F = MS;
const ROOT_HINT = 'run the suite as root on Linux with cgroup v1 controllers mounted';

function mountsUnder(dir: string): string[] {
  return readMountInfo()
    .map((m) => m.mountpoint)
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('linux helpers', function () {
  before(function () {
    requireLinux(this, 'run on Linux');
  });

  it('the MS_* constants are the values the addon was compiled with', function () {
    assert.deepEqual({ ...linux.mountFlags }, { ...MS });
  });

  describe('parseMountOptions', function () {
    const table: [string[], { flags: number; data: string[]; propagation: number }][] = [
      [[], { flags: 0, data: [], propagation: 0 }],
      [['ro'], { flags: F.MS_RDONLY, data: [], propagation: 0 }],
      [['ro', 'rw'], { flags: 0, data: [], propagation: 0 }],
      [['bind', 'ro'], { flags: F.MS_BIND | F.MS_RDONLY, data: [], propagation: 0 }],
      [['rbind'], { flags: F.MS_BIND | F.MS_REC, data: [], propagation: 0 }],
      [
        ['nosuid', 'nodev', 'noexec'],
        { flags: F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC, data: [], propagation: 0 },
      ],
      [
        ['nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec'],
        { flags: 0, data: [], propagation: 0 },
      ],
      [['remount', 'sync'], { flags: F.MS_REMOUNT | F.MS_SYNCHRONOUS, data: [], propagation: 0 }],
      [['sync', 'async'], { flags: 0, data: [], propagation: 0 }],
      [['noatime', 'atime'], { flags: 0, data: [], propagation: 0 }],
      [['relatime'], { flags: F.MS_RELATIME, data: [], propagation: 0 }],
      [['strictatime'], { flags: F.MS_STRICTATIME, data: [], propagation: 0 }],
      [['nodiratime'], { flags: F.MS_NODIRATIME, data: [], propagation: 0 }],
      [['mand', 'dirsync'], { flags: F.MS_MANDLOCK | F.MS_DIRSYNC, data: [], propagation: 0 }],
      [['defaults'], { flags: 0, data: [], propagation: 0 }],
      [['private'], { flags: 0, data: [], propagation: F.MS_PRIVATE }],
      [['rprivate'], { flags: 0, data: [], propagation: F.MS_PRIVATE | F.MS_REC }],
      [['shared'], { flags: 0, data: [], propagation: F.MS_SHARED }],
      [['rshared'], { flags: 0, data: [], propagation: F.MS_SHARED | F.MS_REC }],
      [['slave'], { flags: 0, data: [], propagation: F.MS_SLAVE }],
      [['rslave'], { flags: 0, data: [], propagation: F.MS_SLAVE | F.MS_REC }],
      [['unbindable'], { flags: 0, data: [], propagation: F.MS_UNBINDABLE }],
      [['runbindable'], { flags: 0, data: [], propagation: F.MS_UNBINDABLE | F.MS_REC }],
      [['rshared', 'rslave'], { flags: 0, data: [], propagation: F.MS_SLAVE | F.MS_REC }],
      [
        ['rbind', 'rprivate', 'ro', 'nosuid'],
        {
          flags: F.MS_BIND | F.MS_REC | F.MS_RDONLY | F.MS_NOSUID,
          data: [],
          propagation: F.MS_PRIVATE | F.MS_REC,
        },
      ],
      [
        ['index=off', 'lowerdir=/l2:/l1', 'upperdir=/u', 'workdir=/w', 'ro'],
        {
          flags: F.MS_RDONLY,
          data: ['index=off', 'lowerdir=/l2:/l1', 'upperdir=/u', 'workdir=/w'],
          propagation: 0,
        },
      ],
      [
        ['size=65536k', 'mode=755', 'nosuid'],
        { flags: F.MS_NOSUID, data: ['size=65536k', 'mode=755'], propagation: 0 },
      ],
    ];
    for (const [options, expected] of table) {
      it(`parses [${options.join(', ')}]`, function () {
        const parsed = parseMountOptions(options);
        assert.deepEqual(
          { flags: parsed.flags, data: parsed.data, propagation: parsed.propagation },
          expected,
        );
        assert.equal(parsed.loop, false);
      });
    }

    it('recognizes loop (which mountRootfs refuses clearly)', function () {
      assert.equal(parseMountOptions(['loop', 'ro']).loop, true);
      assert.deepEqual(parseMountOptions(['loop', 'ro']).data, []);
      assert.throws(
        () => mountRootfs({ type: 'ext4', source: '/x.img', options: ['loop'] }, '/nonexistent'),
        { code: 'ERR_MOUNT_OPTION_UNSUPPORTED' },
      );
    });
  });

  describe('mountinfo and rootPath', function () {
    it('parses mountinfo lines, optional fields and octal escapes', function () {
      const [m] = parseMountInfo(
        '36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n',
      );
      assert.deepEqual(m, {
        id: 36,
        parent: 35,
        major: 98,
        minor: 0,
        root: '/mnt1',
        mountpoint: '/mnt/with space',
        options: 'rw,noatime',
        optional: ['master:1', 'shared:7'],
        fstype: 'ext3',
        source: '/dev/root',
        superOptions: 'rw,errors=continue',
      });
    });

    it('resolves paths inside a root, symlinks included, without escaping it', function () {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rootpath-'));
      try {
        fs.mkdirSync(path.join(root, 'etc'));
        fs.symlinkSync('/etc', path.join(root, 'abs'));
        fs.symlinkSync('../../..', path.join(root, 'up'));
        assert.equal(rootPath(root, '/abs/x'), path.join(root, 'etc', 'x'));
        assert.equal(rootPath(root, 'up/etc'), path.join(root, 'etc'));
        assert.equal(rootPath(root, '../../proc'), path.join(root, 'proc'));
        assert.equal(rootPath(root, '/a/./b/../c'), path.join(root, 'a', 'c'));
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  });

  describe('mounts', function () {
    let base = '';

    before(function () {
      requireEnvironment(
        this,
        { root: true, files: ['/proc/self/mountinfo', '/sys/module/overlay'] },
        `${ROOT_HINT}; modprobe overlay`,
      );
      base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'shim-mounts-')));
    });

    after(function () {
      if (base === '') return;
      unmountRecursive(base);
      assert.deepEqual(mountsUnder(base), [], 'everything under the temp dir is unmounted');
      fs.rmSync(base, { recursive: true, force: true });
    });

    function dir(...parts: string[]): string {
      const p = path.join(base, ...parts);
      fs.mkdirSync(p, { recursive: true });
      return p;
    }

    it('bind-mounts a directory read-only (bind + remount) and unmounts it', function () {
      const src = dir('bind-src');
      fs.writeFileSync(path.join(src, 'file'), 'hello');
      const target = dir('bind-target');
      assert.equal(isMountPoint(target), false);
      mountRootfs({ type: 'bind', source: src, options: ['rbind', 'ro', 'nosuid'] }, target);
      assert.equal(isMountPoint(target), true);
      assert.equal(fs.readFileSync(path.join(target, 'file'), 'utf8'), 'hello');
      assert.throws(() => fs.writeFileSync(path.join(target, 'other'), 'x'), { code: 'EROFS' });
      const info = readMountInfo().find((m) => m.mountpoint === target);
      assert.ok(info);
      assert.ok(info.options.split(',').includes('ro'), info.options);
      assert.ok(info.options.split(',').includes('nosuid'), info.options);
      // the source stays writable
      fs.writeFileSync(path.join(src, 'other'), 'x');
      unmountRecursive(target);
      assert.equal(isMountPoint(target), false);
      assert.deepEqual(mountsUnder(target), []);
    });

    it('mounts at mount.target inside the target (containerd 2.x) and applies propagation', function () {
      const root = dir('sub-root');
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, root);
      fs.mkdirSync(path.join(root, 'data'));
      mountRootfs(
        { type: 'tmpfs', source: 'tmpfs', target: '/data', options: ['size=1m', 'shared'] },
        root,
      );
      const inner = readMountInfo().find((m) => m.mountpoint === path.join(root, 'data'));
      assert.ok(inner, 'mounted at <root>/data');
      assert.equal(inner.fstype, 'tmpfs');
      assert.ok(
        inner.optional.some((o) => o.startsWith('shared:')),
        `propagation: ${inner.optional.join(' ')}`,
      );
      unmountRecursive(root);
      assert.deepEqual(mountsUnder(root), []);
    });

    it('unmounts nested and stacked mounts, deepest first', function () {
      const top = dir('nest');
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, top);
      fs.mkdirSync(path.join(top, 'a'));
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, path.join(top, 'a'));
      fs.mkdirSync(path.join(top, 'a', 'b'));
      const src = dir('nest-src');
      mountRootfs({ type: 'bind', source: src, options: ['bind'] }, path.join(top, 'a', 'b'));
      // a second tmpfs stacked on the top one: it hides a/ and a/b
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, top);
      // a busy mount: a cwd-like open directory fd makes plain umount fail with EBUSY
      const busy = fs.openSync(path.join(top), 'r');
      try {
        assert.equal(mountsUnder(top).length, 4);
        unmountRecursive(top);
      } finally {
        fs.closeSync(busy);
      }
      assert.deepEqual(mountsUnder(top), []);
      assert.equal(isMountPoint(top), false);
      unmountRecursive(top); // nothing left: a no-op
      unmountRecursive(path.join(base, 'does-not-exist'));
    });

    it('unmounts through a symlink, with a trailing slash, and under a name mountinfo escapes', function () {
      const spaced = dir('with space', 'rootfs');
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, spaced);
      fs.mkdirSync(path.join(spaced, 'in\tner'));
      mountRootfs(
        { type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        path.join(spaced, 'in\tner'),
      );
      assert.equal(mountsUnder(spaced).length, 2);
      // a neighbour whose name starts the same is not below it
      const neighbour = dir('with space', 'rootfs-other');
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, neighbour);
      const link = path.join(base, 'link-to-spaced');
      fs.symlinkSync(path.join(base, 'with space'), link);
      unmountRecursive(`${path.join(link, 'rootfs')}/`);
      assert.deepEqual(mountsUnder(spaced), []);
      assert.equal(isMountPoint(neighbour), true, 'the neighbour stays mounted');
      unmountRecursive(`${neighbour}/`);
      assert.equal(isMountPoint(neighbour), false);
    });

    it('mounts an overlay whose lower layer shows through and whose upper takes writes', function () {
      const lower = dir('ovl', 'lower');
      const upper = dir('ovl', 'upper');
      const work = dir('ovl', 'work');
      const merged = dir('ovl', 'merged');
      fs.writeFileSync(path.join(lower, 'from-lower'), 'lower');
      mountRootfs(
        {
          type: 'overlay',
          source: 'overlay',
          options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`, 'index=off'],
        },
        merged,
      );
      assert.equal(isMountPoint(merged), true);
      assert.equal(fs.readFileSync(path.join(merged, 'from-lower'), 'utf8'), 'lower');
      fs.writeFileSync(path.join(merged, 'new'), 'upper');
      assert.equal(fs.readFileSync(path.join(upper, 'new'), 'utf8'), 'upper');
      assert.equal(fs.existsSync(path.join(lower, 'new')), false);
      unmountRecursive(merged);
      assert.equal(isMountPoint(merged), false);
    });

    it('detaches mounts before it returns and lets their filesystems go on a thread of their own (detachRecursive)', async function () {
      const top = dir('detach');
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, top);
      const lower = dir('detach-ovl', 'lower');
      const upper = dir('detach-ovl', 'upper');
      const work = dir('detach-ovl', 'work');
      fs.writeFileSync(path.join(lower, 'from-lower'), 'lower');
      const merged = path.join(top, 'merged');
      fs.mkdirSync(merged);
      const ovl = [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`, 'index=off'];
      mountRootfs({ type: 'overlay', source: 'overlay', options: ovl }, merged);
      fs.writeFileSync(path.join(merged, 'new'), 'upper');
      // stacked on the top one, and a busy one (an open directory: plain umount fails with EBUSY)
      mountRootfs({ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, top);
      const busy = fs.openSync(top, 'r');
      const fds = (): number => fs.readdirSync('/proc/self/fd').length;
      const before = fds();
      try {
        assert.equal(mountsUnder(top).length, 3);
        detachRecursive(`${top}/`);
        // gone from the mount table (and from the path) when it returns, released or not
        assert.deepEqual(mountsUnder(top), []);
        assert.equal(isMountPoint(top), false);
        assert.deepEqual(fs.readdirSync(top), [], 'the directory under the mounts shows');
      } finally {
        fs.closeSync(busy);
      }
      // the descriptors that held the mounts are closed by the thread
      await within(
        20_000,
        'the detached mounts to be released',
        (async () => {
          while (fds() !== before - 1) await new Promise((resolve) => setTimeout(resolve, 5));
        })(),
      );
      assert.equal(fs.readFileSync(path.join(upper, 'new'), 'utf8'), 'upper');
      // the same layers mount again, and a second call is a no-op
      const again = dir('detach-again');
      mountRootfs({ type: 'overlay', source: 'overlay', options: ovl }, again);
      assert.equal(fs.readFileSync(path.join(again, 'new'), 'utf8'), 'upper');
      unmountRecursive(again);
      assert.equal(isMountPoint(again), false);
      detachRecursive(top);
      detachRecursive(path.join(base, 'does-not-exist'));
      assert.equal(fds(), before - 1);
    });

    it('mounts an overlay with options longer than a page by compacting the lowerdirs', function () {
      // 12 layers under a ~400-byte parent: ~5 KB of lowerdir, 36 bytes once relative.
      const parent = dir('long', 'p'.repeat(200), 'q'.repeat(200));
      const layers: string[] = [];
      for (let i = 0; i < 12; i++) {
        const layer = path.join(parent, String(i));
        fs.mkdirSync(layer);
        fs.writeFileSync(path.join(layer, `layer-${i}`), String(i));
        layers.push(layer);
      }
      fs.writeFileSync(path.join(layers[0], 'shadowed'), 'top');
      fs.writeFileSync(path.join(layers[11], 'shadowed'), 'bottom');
      const merged = dir('long-merged');
      const options = [`lowerdir=${layers.join(':')}`, 'ro'];
      assert.ok(options[0].length > 4096);
      mountRootfs({ type: 'overlay', source: 'overlay', options }, merged);
      try {
        for (let i = 0; i < 12; i++) {
          assert.equal(fs.readFileSync(path.join(merged, `layer-${i}`), 'utf8'), String(i));
        }
        assert.equal(fs.readFileSync(path.join(merged, 'shadowed'), 'utf8'), 'top');
        assert.throws(() => fs.writeFileSync(path.join(merged, 'x'), ''), { code: 'EROFS' });
      } finally {
        unmountRecursive(merged);
      }
      assert.equal(isMountPoint(merged), false);
    });

    it('refuses options that do not fit in a page with ERR_MOUNT_OPTIONS_TOO_LONG', function () {
      const target = dir('too-long');
      const lower = dir('too-long-lower');
      assert.throws(
        () =>
          mountRootfs(
            {
              type: 'overlay',
              source: 'overlay',
              options: [`lowerdir=${lower}`, `x=${'y'.repeat(5000)}`],
            },
            target,
          ),
        { code: 'ERR_MOUNT_OPTIONS_TOO_LONG' },
      );
      assert.throws(
        () =>
          mountRootfs(
            { type: 'tmpfs', source: 'tmpfs', options: [`x=${'y'.repeat(4096)}`] },
            target,
          ),
        { code: 'ERR_MOUNT_OPTIONS_TOO_LONG' },
      );
      assert.equal(isMountPoint(target), false);
    });

    it('mountAll mounts in order and undoes the earlier mounts when one fails', function () {
      const target = dir('all');
      const src = dir('all-src');
      fs.writeFileSync(path.join(src, 'f'), 'f');
      mountAll(
        [
          { type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
          { type: 'bind', source: src, options: ['bind', 'ro'] },
        ],
        target,
      );
      assert.equal(fs.readFileSync(path.join(target, 'f'), 'utf8'), 'f');
      assert.equal(mountsUnder(target).length, 2);
      unmountRecursive(target);
      assert.deepEqual(mountsUnder(target), []);

      assert.throws(
        () =>
          mountAll(
            [
              { type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
              { type: 'bind', source: path.join(base, 'missing-source'), options: ['bind'] },
            ],
            target,
          ),
        (err: NodeJS.ErrnoException & { mountIndex?: number }) =>
          err.code === 'ENOENT' && err.syscall === 'mount' && err.mountIndex === 1,
      );
      assert.deepEqual(mountsUnder(target), [], 'the tmpfs mounted first was undone');
    });

    it('isMountPoint: false for plain directories and missing paths', function () {
      assert.equal(isMountPoint('/proc'), true);
      assert.equal(isMountPoint(dir('plain')), false);
      assert.equal(isMountPoint(path.join(base, 'missing')), false);
    });
  });

  describe('cgroup files', function () {
    let tmp = '';
    beforeEach(function () {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cgfiles-'));
    });
    afterEach(function () {
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it('parses /proc/<pid>/cgroup for v1, hybrid and v2', function () {
      assert.deepEqual(
        parseProcCgroup('12:pids:/a\n4:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n'),
        {
          controllers: { pids: '/a', cpu: '/b', cpuacct: '/b', 'name=systemd': '/c' },
          unified: '/d',
        },
      );
      assert.deepEqual(parseProcCgroup('0::/system.slice/x.service\n'), {
        controllers: {},
        unified: '/system.slice/x.service',
      });
      assert.throws(() => parseProcCgroup('garbage\n'), { code: 'ERR_CGROUP_PARSE' });
    });

    it('detects this host mode and finds this process in it', function () {
      const mode = cgroupMode();
      assert.ok(mode === 'v1' || mode === 'v2');
      if (mode === 'v1') {
        const paths = cgroupV1Paths(process.pid);
        assert.ok(paths.memory?.startsWith('/sys/fs/cgroup/'), JSON.stringify(paths));
        assert.ok(!paths.memory.endsWith('/'));
      }
    });

    it('reads v1 metrics from controller files ("max" pids limit as 0, missing files unset)', function () {
      const write = (sub: string, name: string, text: string): void => {
        fs.mkdirSync(path.join(tmp, sub), { recursive: true });
        fs.writeFileSync(path.join(tmp, sub, name), text);
      };
      write('pids', 'pids.current', '3\n');
      write('pids', 'pids.max', 'max\n');
      write(
        'memory',
        'memory.stat',
        'cache 10\nrss 20\ntotal_rss 30\nhierarchical_memory_limit 9223372036854771712\n',
      );
      write('memory', 'memory.usage_in_bytes', '100\n');
      write('memory', 'memory.limit_in_bytes', '9223372036854771712\n');
      write('memory', 'memory.max_usage_in_bytes', '200\n');
      write('memory', 'memory.failcnt', '0\n');
      write('cpuacct', 'cpuacct.usage', '5000\n');
      write('cpuacct', 'cpuacct.stat', 'user 3\nsystem 2\n');
      write('cpuacct', 'cpuacct.usage_percpu', '2000 3000 \n');
      write('cpu', 'cpu.stat', 'nr_periods 7\nnr_throttled 1\nthrottled_time 99\n');
      write('blkio', 'blkio.throttle.io_serviced', '254:0 Read 5\n254:0 Write 6\nTotal 11\n');
      write('blkio', 'blkio.throttle.io_service_bytes', '254:0 Read 512\nTotal 512\n');
      const metrics = readMetricsV1({
        pids: path.join(tmp, 'pids'),
        memory: path.join(tmp, 'memory'),
        cpuacct: path.join(tmp, 'cpuacct'),
        cpu: path.join(tmp, 'cpu'),
        blkio: path.join(tmp, 'blkio'),
        hugetlb: path.join(tmp, 'missing'),
      });
      assert.deepEqual(metrics.pids, { current: 3, limit: 0 });
      assert.deepEqual(metrics.cpu, {
        usage: { total: 5000, user: 30_000_000, kernel: 20_000_000, perCpu: [2000, 3000] },
        throttling: { periods: 7, throttledPeriods: 1, throttledTime: 99 },
      });
      assert.equal(metrics.memory?.cache, 10);
      assert.equal(metrics.memory?.totalRss, 30);
      assert.equal(metrics.memory?.hierarchicalMemoryLimit, 9223372036854771712n);
      assert.deepEqual(metrics.memory?.usage, {
        usage: 100,
        max: 200,
        failcnt: 0,
        limit: 9223372036854771712n,
      });
      assert.equal(metrics.memory?.swap, undefined, 'no memsw files: no swap entry');
      assert.equal(metrics.memory?.kernel, undefined);
      assert.equal(metrics.memoryOomControl, undefined);
      assert.equal(metrics.hugetlb, undefined);
      const partition = /^\s*254\s+0\s+\d+\s+(\S+)\s*$/m.exec(
        fs.readFileSync('/proc/partitions', 'utf8'),
      );
      const dev = partition === null ? undefined : `/dev/${partition[1]}`;
      const serviced = metrics.blkio?.ioServicedRecursive ?? [];
      assert.deepEqual(
        serviced.map((e) => [e.major, e.minor, e.op, e.value]),
        [
          [254, 0, 'Read', 5],
          [254, 0, 'Write', 6],
        ],
      );
      if (dev !== undefined) assert.equal(serviced[0].device, dev);
      assert.equal(metrics.blkio?.ioServiceBytesRecursive?.[0].value, 512);
      // it encodes, and the bigints survive
      const decoded = cgroupsV1.Metrics.decode(cgroupsV1.Metrics.encode(metrics).finish());
      assert.equal(
        int64ToBigInt(decoded.memory?.usage?.limit as never, true),
        9223372036854771712n,
      );
      assert.deepEqual(readMetricsV1({}), {});
    });

    it('reads v2 metrics from cgroup2 files ("max" as 2^64-1, missing files unset)', function () {
      const write = (name: string, text: string): void =>
        fs.writeFileSync(path.join(tmp, name), text);
      write('pids.current', '4\n');
      write('pids.max', 'max\n');
      write(
        'cpu.stat',
        'usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 2\nnr_throttled 1\nthrottled_usec 9\n',
      );
      write(
        'cpu.pressure',
        'some avg10=1.50 avg60=0.00 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n',
      );
      write('memory.stat', 'anon 1000\nfile 2000\nworkingset_refault_file 7\npgfault 3\n');
      write('memory.current', '3000\n');
      write('memory.max', 'max\n');
      write('memory.swap.current', '0\n');
      write('memory.swap.max', '1048576\n');
      write('memory.events', 'low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\noom_group_kill 0\n');
      write('io.stat', '254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n');
      const metrics = readMetricsV2(tmp);
      const MAX = (1n << 64n) - 1n;
      assert.deepEqual(metrics.pids, { current: 4, limit: MAX });
      assert.deepEqual(metrics.cpu, {
        usageUsec: 100,
        userUsec: 60,
        systemUsec: 40,
        nrPeriods: 2,
        nrThrottled: 1,
        throttledUsec: 9,
        psi: {
          some: { avg10: 1.5, avg60: 0, avg300: 0, total: 1234 },
          full: { avg10: 0, avg60: 0, avg300: 0, total: 5 },
        },
      });
      assert.deepEqual(metrics.memory, {
        anon: 1000,
        file: 2000,
        workingsetRefaultFile: 7,
        pgfault: 3,
        usage: 3000,
        usageLimit: MAX,
        swapUsage: 0,
        swapLimit: 1048576,
      });
      assert.deepEqual(metrics.memoryEvents, {
        low: 0,
        high: 1,
        max: 2,
        oom: 3,
        oomKill: 4,
        oomGroupKill: 0,
      });
      assert.deepEqual(metrics.io, {
        usage: [{ major: 254, minor: 0, rbytes: 4096, wbytes: 8192, rios: 1, wios: 2 }],
      });
      assert.equal(metrics.rdma, undefined);
      assert.deepEqual(readMetricsV2(path.join(tmp, 'missing')), {});
    });
  });

  describe('cgroup v1 metrics of a real process', function () {
    const name = `shim-test-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
    const made: string[] = [];
    let child: ChildProcess | undefined;

    before(function () {
      requireEnvironment(
        this,
        {
          root: true,
          files: [
            '/sys/fs/cgroup/memory/memory.limit_in_bytes',
            '/sys/fs/cgroup/pids/cgroup.procs',
            '/sys/fs/cgroup/cpuacct/cpuacct.usage',
            '/sys/fs/cgroup/cpu/cpu.stat',
          ],
        },
        ROOT_HINT,
      );
      requireCondition(
        this,
        cgroupMode() === 'v1',
        'a cgroup v1 host',
        'these tests drive real v1 cgroups',
      );
    });

    after(async function () {
      await stopChild(child);
      await removeCgroups(made);
    });

    it('collectMetrics gives v1 Metrics with memory, pids and cpu usage of the cgroup', async function () {
      const dirs = makeV1Cgroups(name, ['memory', 'pids', 'cpu', 'cpuacct'], made);
      fs.writeFileSync(path.join(dirs.memory, 'memory.limit_in_bytes'), String(256 << 20));
      fs.writeFileSync(path.join(dirs.pids, 'pids.max'), '64');
      child = await startInCgroups(
        [...new Set(Object.values(dirs))],
        'const end = Date.now() + 400; while (Date.now() < end); ' +
          'console.log("ready"); setInterval(() => {}, 1000);',
      );
      const pid = child.pid as number;
      assert.deepEqual(
        cgroupV1Paths(pid).memory,
        dirs.memory,
        'the lookup finds the cgroup the process was moved to',
      );
      const any = collectMetrics(pid);
      assert.equal(any.type_url, METRICS_V1_TYPE_URL);
      const m = cgroupsV1.Metrics.decode(any.value);
      assert.equal(int64ToNumber(m.memory?.usage?.limit as never), 256 << 20);
      assert.ok(int64ToNumber(m.memory?.usage?.usage as never) > 0, 'memory usage > 0');
      assert.ok(int64ToNumber(m.memory?.totalRss as never) > 0, 'total_rss > 0');
      assert.equal(int64ToNumber(m.pids?.limit as never), 64);
      assert.ok(int64ToNumber(m.pids?.current as never) >= 1, 'pids.current >= 1');
      assert.ok(int64ToNumber(m.cpu?.usage?.total as never) > 100_000_000, 'cpu > 0.1 s');
      assert.ok(
        int64ToNumber(m.cpu?.usage?.user as never) + int64ToNumber(m.cpu?.usage?.kernel as never) >
          0,
      );
      assert.ok((m.cpu?.usage?.perCpu ?? []).length >= 1);
      assert.equal(int64ToNumber(m.memoryOomControl?.oomKill as never), 0);
      assert.ok(m.cpu?.throttling, 'cpu.stat read');
    });

    it('adjustOomScore sets the child one above this process', function () {
      assert.ok(child?.pid);
      const own = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
      adjustOomScore(child.pid);
      assert.equal(
        Number(fs.readFileSync(`/proc/${child.pid}/oom_score_adj`, 'utf8')),
        Math.min(own + 1, 1000),
      );
    });

    it('reads cgroup v2 metrics of the unified hierarchy (cpu.stat without controllers)', async function () {
      let root: string;
      try {
        root = cgroup2Mountpoint();
      } catch {
        requireCondition(this, false, 'a cgroup2 mount', 'mount cgroup2 (unified)');
        return;
      }
      assert.ok(child?.pid);
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      made.push(dir);
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(child.pid));
      await sleep(50);
      const m = readMetricsV2(dir);
      assert.ok(m.cpu, 'cpu.stat is always there in cgroup2');
      // the v2 counters start when the process moves in: >= 0, and the file parsed
      assert.ok(typeof m.cpu.usageUsec === 'number' && m.cpu.usageUsec >= 0);
      if (!fs.existsSync(path.join(dir, 'memory.current'))) {
        assert.equal(m.memory, undefined, 'no memory controller here: left unset');
        assert.equal(m.memoryEvents, undefined);
      }
      // move it back so the v2 cgroup can go
      fs.writeFileSync(path.join(root, 'cgroup.procs'), String(child.pid));
    });
  });

  describe('OOM notifications', function () {
    const made: string[] = [];
    let child: ChildProcess | undefined;

    afterEach(async function () {
      await stopChild(child);
      child = undefined;
      await removeCgroups(made.splice(0));
    });

    /** A new v1 memory cgroup limited to 8 MiB (swap included), for perl to run out of. */
    function limitedMemoryCgroup(test: Mocha.Context): string {
      requireEnvironment(
        test,
        { root: true, commands: ['perl'], files: ['/sys/fs/cgroup/memory/cgroup.event_control'] },
        `${ROOT_HINT}; apt-get install perl-base`,
      );
      requireCondition(
        test,
        cgroupMode() === 'v1',
        'a cgroup v1 host',
        'these tests drive real v1 cgroups',
      );
      const name = `shim-oom-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
      const { memory } = makeV1Cgroups(name, ['memory'], made);
      fs.writeFileSync(path.join(memory, 'memory.limit_in_bytes'), String(8 << 20));
      if (fs.existsSync(path.join(memory, 'memory.memsw.limit_in_bytes'))) {
        fs.writeFileSync(path.join(memory, 'memory.memsw.limit_in_bytes'), String(8 << 20));
      }
      return memory;
    }

    it('v1: an OOM kill in a memory cgroup calls onOom; removing the cgroup ends the watch', async function () {
      const memory = limitedMemoryCgroup(this);
      // sh joins the cgroup, says ready, waits for a line, then perl builds a 64 MiB string.
      child = spawn(
        '/bin/sh',
        [
          '-c',
          'echo $$ > "$1/cgroup.procs" || exit 90; echo ready; read go; ' +
            'exec perl -e \'my $x = "a" x (64 * 1024 * 1024); sleep 30\'',
          'sh',
          memory,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      await within(10_000, 'the child to join the cgroup', waitForLine(child, 'ready'));
      let ooms = 0;
      let oomSeen!: () => void;
      const oom = new Promise<void>((resolve) => (oomSeen = resolve));
      let closedBy: ((error?: Error) => void) | undefined;
      const ended = new Promise<Error | undefined>((resolve) => (closedBy = resolve));
      const watcher = watchOom(
        child.pid as number,
        () => {
          ooms++;
          oomSeen();
        },
        { onClose: (error) => closedBy?.(error) },
      );
      try {
        const exited = once(child, 'exit');
        child.stdin?.write('go\n');
        await within(30_000, 'the OOM notification', oom);
        const [code, signal] = (await within(30_000, 'the OOM-killed child to exit', exited)) as [
          number | null,
          string | null,
        ];
        assert.equal(signal, 'SIGKILL', `the child was OOM-killed (exit ${code})`);
        const control = fs.readFileSync(path.join(memory, 'memory.oom_control'), 'utf8');
        assert.match(control, /oom_kill [1-9]/);
        assert.ok(int64ToNumber(readMetricsV1({ memory }).memoryOomControl?.oomKill as never) >= 1);
        assert.ok(ooms >= 1);
        assert.equal(watcher.closed, false);
        // rmdir signals the eventfd once more: the watch sees the cgroup gone and ends itself
        const before = ooms;
        await removeCgroups(made.splice(0));
        const error = await within(10_000, 'the watch to end on rmdir', ended);
        assert.equal(error, undefined);
        assert.equal(watcher.closed, true);
        assert.equal(ooms, before, 'the removal is not reported as an OOM');
      } finally {
        watcher.close();
      }
    });

    it('v1: close() before the cgroup goes away releases the eventfd quietly', async function () {
      requireEnvironment(
        this,
        { root: true, files: ['/sys/fs/cgroup/memory/cgroup.event_control'] },
        ROOT_HINT,
      );
      requireCondition(
        this,
        cgroupMode() === 'v1',
        'a cgroup v1 host',
        'these tests drive real v1 cgroups',
      );
      const name = `shim-oom-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
      const { memory } = makeV1Cgroups(name, ['memory'], made);
      let calls = 0;
      const watcher = watchOomV1(memory, () => calls++, { onClose: () => calls++ });
      watcher.close();
      watcher.close();
      assert.equal(watcher.closed, true);
      await removeCgroups(made.splice(0));
      await sleep(100);
      assert.equal(calls, 0);
      assert.throws(() => watchOomV1(path.join(memory, 'gone'), () => {}), { code: 'ENOENT' });
    });

    it('v1: poll() reports an OOM kill that happened before the watch, once', async function () {
      const memory = limitedMemoryCgroup(this);
      let calls = 0;
      // No OOM yet: nothing to report.
      const quiet = watchOomV1(memory, () => calls++);
      quiet.poll();
      quiet.close();
      assert.equal(calls, 0);
      const oomed = spawn(
        '/bin/sh',
        [
          '-c',
          'echo $$ > "$1/cgroup.procs" || exit 90; ' +
            'exec perl -e \'my $x = "a" x (64 * 1024 * 1024); sleep 30\'',
          'sh',
          memory,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const [code, signal] = (await within(
        30_000,
        'the OOM-killed child to exit',
        once(oomed, 'exit'),
      )) as [number | null, string | null];
      assert.equal(signal, 'SIGKILL', `the child was OOM-killed (exit ${code})`);
      // The watch starts after the kill: the eventfd never hears of it, the counter does.
      const watcher = watchOomV1(memory, () => calls++);
      try {
        watcher.poll();
        assert.equal(calls, 1);
        watcher.poll();
        assert.equal(calls, 1, 'reported once');
      } finally {
        watcher.close();
      }
    });

    it('v2: onOom when oom_kill in memory.events grows; ends when cgroup.events says empty', async function () {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oomv2-'));
      const events = path.join(tmp, 'memory.events');
      const state = path.join(tmp, 'cgroup.events');
      const counters = (oom: number, kill: number): string =>
        `low 0\nhigh 0\nmax ${oom}\noom ${oom}\noom_kill ${kill}\noom_group_kill 0\n`;
      fs.writeFileSync(events, counters(0, 0));
      fs.writeFileSync(state, 'populated 1\nfrozen 0\n');
      let ooms = 0;
      let closes = 0;
      let oomWaiter: (() => void) | undefined;
      const nextOom = (): Promise<void> => new Promise((resolve) => (oomWaiter = resolve));
      const watcher = watchOomV2(
        tmp,
        () => {
          ooms++;
          oomWaiter?.();
        },
        { onClose: () => closes++ },
      );
      try {
        await sleep(50);
        assert.equal(ooms, 0);
        let waiting = nextOom();
        fs.writeFileSync(events, counters(1, 1));
        await within(5_000, 'the first OOM', waiting);
        assert.equal(ooms, 1);
        // oom without a new kill: nothing
        fs.writeFileSync(events, counters(2, 1));
        await sleep(100);
        assert.equal(ooms, 1);
        waiting = nextOom();
        fs.writeFileSync(events, counters(3, 3));
        await within(5_000, 'the second OOM', waiting);
        assert.equal(ooms, 2);
        fs.writeFileSync(state, 'populated 0\nfrozen 0\n');
        for (let i = 0; i < 100 && !watcher.closed; i++) await sleep(20);
        assert.equal(watcher.closed, true);
        assert.equal(closes, 1);
      } finally {
        watcher.close();
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });

    it('v2: an oom_kill from before the watch is reported once; removal ends the watch', async function () {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oomv2-'));
      const events = path.join(tmp, 'memory.events');
      fs.writeFileSync(events, 'oom 1\noom_kill 1\n');
      let ooms = 0;
      let closes = 0;
      const watcher = watchOomV2(tmp, () => ooms++, { onClose: () => closes++ });
      try {
        await sleep(50);
        assert.equal(ooms, 1);
        fs.rmSync(events);
        for (let i = 0; i < 100 && !watcher.closed; i++) await sleep(20);
        assert.equal(watcher.closed, true);
        assert.equal(closes, 1);
        assert.equal(ooms, 1);
      } finally {
        watcher.close();
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      assert.throws(() => watchOomV2(tmp, () => {}), { code: 'ERR_CGROUP_NO_MEMORY' });
    });
  });
});

// ---- cgroup test helpers ----

/** Creates `name` in the v1 hierarchy of each controller (one directory per hierarchy). */
function makeV1Cgroups(
  name: string,
  controllers: string[],
  made: string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const controller of controllers) {
    const mount = readMountInfo().find(
      (m) => m.fstype === 'cgroup' && m.superOptions.split(',').includes(controller),
    );
    assert.ok(mount, `the ${controller} controller is mounted`);
    const dir = path.join(mount.mountpoint, name);
    if (!made.includes(dir)) {
      fs.mkdirSync(dir);
      made.push(dir);
    }
    out[controller] = dir;
  }
  return out;
}

async function removeCgroups(dirs: string[]): Promise<void> {
  for (const dir of [...dirs].reverse()) {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt >= 100) throw err;
        await sleep(20);
      }
    }
  }
}

function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.setEncoding('utf8');
    const onData = (chunk: string): void => {
      buffered += chunk;
      if (buffered.split('\n').includes(line)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`child exited (${code ?? signal}) before printing "${line}"`)),
    );
  });
}

/** A Node child that first joins the cgroups (through sh), then runs `script`, which says "ready". */
async function startInCgroups(dirs: string[], script: string): Promise<ChildProcess> {
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'for d in "$@"; do echo $$ > "$d/cgroup.procs" || exit 90; done; ' +
        'exec "$NODE_BIN" -e "$SCRIPT"',
      'sh',
      ...dirs,
    ],
    {
      env: { ...process.env, NODE_BIN: process.execPath, SCRIPT: script, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await within(30_000, 'the child to start', waitForLine(child, 'ready'));
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
