// A private containerd with the CRI plugin, as a kubelet sees it: one containerd generation (1.6,
// 1.7 or 2.1, test/helpers/peers.ts), its own root/state/sockets in a temp dir, a pod network of
// Debian's CNI plugins (a bridge of its own without a gateway, host-local addresses, one netns
// per pod: nothing leaves the machine), a locally built pause image and busybox image (never a
// registry), and two RuntimeClass handlers: `runc` (that release's containerd-shim-runc-v2) and
// `runcts` (examples/runc-shim: the binary `npm run build` packages, so warm start is on, with
// its standbys in a pool root of this testbed's own). Pod cgroups go under a parent of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CriClient } from './cri-client';
import type { Message } from './cri-client';
import { buildBusyboxImage, buildPauseImage } from './image';
import type { ContainerdPeer } from './peers';
import {
  SHIM_SOCKET_DIR,
  Testbed,
  childrenMap,
  listPids,
  procAlive,
  runCommand,
  unescapeMountPath,
  waitGone,
} from './testbed';
import { killStandbys, standbyPids } from './warm';

/** The RuntimeClass handlers every CRI testbed configures, and their containerd runtimes. */
export const HANDLERS = {
  runc: 'io.containerd.runc.v2',
  runcts: 'io.containerd.runcts.v2',
} as const;
export type Handler = keyof typeof HANDLERS;

/** Where Debian's containernetworking-plugins puts the CNI plugins. */
export const CNI_BIN_DIR = '/usr/lib/cni';

const top = path.resolve(__dirname, '..', '..', '..');
const RUNCTS_DIR = path.join(top, 'examples', 'runc-shim');
/** The runcts runtime binary `npm run build` packages (`containerd-shim package`). */
export const RUNCTS_BINARY = path.join(RUNCTS_DIR, 'containerd-shim-runcts-v2');
/** The trailer's last bytes in a packaged shim binary (lib/shim/package.ts). */
const PACKAGED_MAGIC = 'CSHIMLN1';
const NAMESPACE = 'k8s.io';
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const CGROUP_ROOT = '/sys/fs/cgroup';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const toml = (s: string): string => JSON.stringify(s);

export interface CriLeftovers {
  shims: number[];
  mounts: string[];
  sockets: string[];
  bundles: string[];
  netns: string[];
  cgroups: string[];
  addresses: string[];
  cniResults: string[];
}

export interface CriTestbedOptions {
  /** Environment variables removed from containerd's (so the shims') environment. */
  dropEnv?: string[];
}

/** A /24 in 10.200.0.0/13 that no route of this machine (but the default one) overlaps. */
function pickSubnet(): string {
  // /proc/net/route prints addresses as little-endian hex of the network-order bytes.
  const routes = fs
    .readFileSync('/proc/net/route', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 7)
    .map((f) => ({
      dest: Buffer.from(f[1]!, 'hex').readUInt32LE(),
      mask: Buffer.from(f[7]!, 'hex').readUInt32LE(),
    }))
    .filter((r) => r.mask !== 0);
  for (let attempt = 0; attempt < 100; attempt++) {
    const a = 200 + crypto.randomInt(8);
    const b = crypto.randomInt(256);
    const net = ((10 << 24) | (a << 16) | (b << 8)) >>> 0;
    const clash = routes.some(({ dest, mask }) => {
      const common = (mask & 0xffffff00) >>> 0;
      return (dest & common) >>> 0 === (net & common) >>> 0;
    });
    if (!clash) return `10.${a}.${b}.0/24`;
  }
  throw new Error('cri testbed: no free /24 in 10.200.0.0/13 for the pod network');
}

export class CriTestbed {
  readonly namespace = NAMESPACE;
  readonly pauseImage = 'localhost/ctb/pause:1';
  readonly image = 'localhost/ctb/busybox:1';
  readonly address: string;
  readonly ttrpcAddress: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly stateDir: string;
  readonly podLogDir: string;
  /** cgroupfs parent of every pod (relative to each controller's root). */
  readonly cgroupParent: string;
  /** Where the runcts shims keep their warm-start standbys (CONTAINERD_SHIM_WARM_DIR). */
  readonly warmRoot: string;
  /** The warm-start trace (CONTAINERD_SHIM_WARM_LOG). */
  readonly warmLog: string;
  readonly network: { name: string; bridge: string; subnet: string };
  /** Milliseconds from spawning containerd until CRI answered ready. */
  bootMs = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private client: CriClient | undefined;
  /** Pod and container ids created through this testbed (their shim sockets are checked). */
  private readonly ids = new Set<string>();

  private constructor(
    readonly dir: string,
    readonly peer: ContainerdPeer,
    private readonly protoFile: string,
    private readonly options: CriTestbedOptions,
  ) {
    this.address = path.join(dir, 'containerd.sock');
    this.ttrpcAddress = path.join(dir, 'containerd.sock.ttrpc');
    this.configPath = path.join(dir, 'config.toml');
    this.logPath = path.join(dir, 'containerd.log');
    this.stateDir = path.join(dir, 'state');
    this.podLogDir = path.join(dir, 'pods');
    this.warmRoot = path.join(dir, 'warm');
    this.warmLog = path.join(dir, 'warm.log');
    Testbed.warmRoots.push(this.warmRoot); // the suite's root hook checks none is left
    const suffix = path
      .basename(dir)
      .replace(/[^a-zA-Z0-9]/g, '')
      .slice(-8);
    this.cgroupParent = `/ctb-${suffix}`;
    this.network = { name: `ctb-${suffix}`, bridge: `ctb${suffix}`, subnet: pickSubnet() };
  }

  get generation(): string {
    return this.peer.generation;
  }

  /** The CRI client (RuntimeService and ImageService). */
  get cri(): CriClient {
    if (!this.client) throw new Error('cri testbed: containerd is not running');
    return this.client;
  }

  get bundleRoot(): string {
    return path.join(this.stateDir, 'io.containerd.runtime.v2.task', NAMESPACE);
  }

  static async start(
    peer: ContainerdPeer,
    protoFile: string,
    options: CriTestbedOptions = {},
  ): Promise<CriTestbed> {
    const image = fs.readFileSync(RUNCTS_BINARY);
    if (image.subarray(image.length - PACKAGED_MAGIC.length).toString('latin1') !== PACKAGED_MAGIC)
      throw new Error(`cri testbed: ${RUNCTS_BINARY} is not a packaged shim (npm run build)`);
    const dir = await fs.promises.mkdtemp('/tmp/ctb-');
    const tb = new CriTestbed(dir, peer, protoFile, options);
    try {
      for (const sub of ['root', 'state', 'cni', 'cni-ipam', 'pods', 'images']) {
        await fs.promises.mkdir(path.join(dir, sub), { mode: 0o711 });
      }
      await fs.promises.writeFile(tb.configPath, tb.renderConfig());
      await fs.promises.writeFile(path.join(dir, 'cni', '10-ctb.conflist'), tb.renderCni());
      const [pause, busybox] = await Promise.all([
        buildPauseImage(path.join(dir, 'images'), tb.pauseImage),
        buildBusyboxImage(path.join(dir, 'images'), tb.image),
      ]);
      await tb.launch();
      for (const tarball of [pause, busybox]) await tb.importImage(tarball);
      await fs.promises.rm(path.join(dir, 'images'), { recursive: true, force: true });
    } catch (e) {
      await tb.destroy().catch(() => undefined);
      throw e;
    }
    return tb;
  }

  private renderConfig(): string {
    const v2 = this.generation !== '1.6' && this.generation !== '1.7';
    const lines = [
      `version = ${v2 ? 3 : 2}`,
      `root = ${toml(path.join(this.dir, 'root'))}`,
      `state = ${toml(this.stateDir)}`,
      `disabled_plugins = [${[
        'io.containerd.internal.v1.opt',
        'io.containerd.internal.v1.restart',
        'io.containerd.monitor.v1.cgroups',
        'io.containerd.snapshotter.v1.aufs',
        'io.containerd.snapshotter.v1.btrfs',
        'io.containerd.snapshotter.v1.devmapper',
        'io.containerd.snapshotter.v1.zfs',
      ]
        .map(toml)
        .join(', ')}]`,
      '[grpc]',
      `  address = ${toml(this.address)}`,
      '[ttrpc]',
      `  address = ${toml(this.ttrpcAddress)}`,
      '[debug]',
      '  address = ""',
      '  level = "info"',
      '[metrics]',
      '  address = ""',
    ];
    const runtimes = (prefix: string): string[] =>
      Object.entries(HANDLERS).flatMap(([name, type]) => [
        `[${prefix}.containerd.runtimes.${name}]`,
        `  runtime_type = ${toml(type)}`,
      ]);
    // restrict_oom_score_adj: a pod's oom_score_adj (-998 for the sandbox) needs
    // CAP_SYS_RESOURCE, which containers and some VMs lack; kept no lower than containerd's.
    const common = [
      '  restrict_oom_score_adj = true',
      '  enable_selinux = false',
      '  disable_apparmor = true',
      '  netns_mounts_under_state_dir = true',
    ];
    if (v2) {
      const images = '[plugins."io.containerd.cri.v1.images"]';
      const rt = 'plugins."io.containerd.cri.v1.runtime"';
      lines.push(
        images,
        '  snapshotter = "overlayfs"',
        '[plugins."io.containerd.cri.v1.images".pinned_images]',
        `  sandbox = ${toml(this.pauseImage)}`,
        `[${rt}]`,
        ...common,
        `[${rt}.containerd]`,
        '  default_runtime_name = "runc"',
        ...runtimes(rt),
        `[${rt}.cni]`,
        `  bin_dirs = [${toml(CNI_BIN_DIR)}]`,
        `  conf_dir = ${toml(path.join(this.dir, 'cni'))}`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        '  disable_tcp_service = true',
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        '[plugins."io.containerd.nri.v1.nri"]',
        '  disable = true',
      );
    } else {
      const cri = 'plugins."io.containerd.grpc.v1.cri"';
      lines.push(
        `[${cri}]`,
        `  sandbox_image = ${toml(this.pauseImage)}`,
        '  disable_tcp_service = true',
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        ...common,
        `[${cri}.containerd]`,
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        ...runtimes(cri),
        `[${cri}.cni]`,
        `  bin_dir = ${toml(CNI_BIN_DIR)}`,
        `  conf_dir = ${toml(path.join(this.dir, 'cni'))}`,
      );
      if (this.generation === '1.7')
        lines.push('[plugins."io.containerd.nri.v1.nri"]', '  disable = true');
    }
    return lines.join('\n') + '\n';
  }

  /** A bridge without a gateway address: pods reach each other, never the host or beyond. */
  private renderCni(): string {
    return JSON.stringify(
      {
        cniVersion: '0.4.0',
        name: this.network.name,
        plugins: [
          {
            type: 'bridge',
            bridge: this.network.bridge,
            isGateway: false,
            ipMasq: false,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: this.network.subnet }]],
              dataDir: path.join(this.dir, 'cni-ipam'),
            },
          },
        ],
      },
      null,
      2,
    );
  }

  private environment(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of this.options.dropEnv ?? []) delete env[name];
    const dirs = [this.peer.binDir, RUNCTS_DIR, ...(process.env.PATH ?? '').split(':')];
    env.PATH = [...new Set(dirs.filter((d) => d !== ''))].join(':');
    env.CONTAINERD_SHIM_WARM_DIR = this.warmRoot;
    env.CONTAINERD_SHIM_WARM_LOG = this.warmLog;
    return env;
  }

  private async launch(): Promise<void> {
    const begin = Date.now();
    const log = fs.openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.peer.containerd, ['--config', this.configPath], {
        stdio: ['ignore', log, log],
        cwd: this.dir,
        env: this.environment(),
      });
    } finally {
      fs.closeSync(log);
    }
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = '';
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`cri testbed: containerd exited during start-up\n${this.logTail()}`);
      }
      if (fs.existsSync(this.address)) {
        this.client ??= new CriClient(this.protoFile, this.address);
        try {
          const status = await this.client.runtime('Status', {}, 5_000);
          const conditions = (status.status?.conditions ?? []) as Message[];
          const ready = (type: string): boolean =>
            conditions.some((c) => c.type === type && c.status === true);
          if (ready('RuntimeReady') && ready('NetworkReady')) {
            this.bootMs = Date.now() - begin;
            return;
          }
          last = JSON.stringify(conditions);
        } catch (err) {
          last = (err as Error).message;
        }
      }
      await sleep(100);
    }
    throw new Error(
      `cri testbed: CRI not ready after ${READY_TIMEOUT_MS} ms (${last})\n${this.logTail()}`,
    );
  }

  private async importImage(tarball: string): Promise<void> {
    const res = await runCommand(
      this.peer.ctr,
      [
        '-a',
        this.address,
        '-n',
        NAMESPACE,
        'images',
        'import',
        '--snapshotter',
        'overlayfs',
        tarball,
      ],
      60_000,
    );
    if (res.code !== 0)
      throw new Error(`cri testbed: ctr images import failed: ${res.stderr.trim()}`);
  }

  /** Last lines of containerd's log. */
  logTail(lines = 30): string {
    try {
      const text = fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
      return `--- ${this.logPath} (last ${lines} lines) ---\n` + text.slice(-lines).join('\n');
    } catch {
      return `(no log at ${this.logPath})`;
    }
  }

  /** Remembers an id whose shim socket must be gone at the end. */
  track(id: string): void {
    this.ids.add(id);
  }

  /** The PodSandboxConfig of pod `name`: its own log dir and cgroup under ours. */
  podConfig(name: string, extra: Message = {}): Message {
    const uid = crypto
      .createHash('sha256')
      .update(`${this.dir}/${name}`)
      .digest('hex')
      .slice(0, 32);
    const logDirectory = path.join(this.podLogDir, name);
    fs.mkdirSync(logDirectory, { recursive: true });
    return {
      metadata: { name, uid, namespace: 'ctb', attempt: 0 },
      hostname: name,
      log_directory: logDirectory,
      labels: { ctb: 'yes' },
      linux: {
        cgroup_parent: `${this.cgroupParent}/pod${uid}`,
        security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
      },
      ...extra,
    };
  }

  /** RunPodSandbox under `handler`; returns the pod's id and config. */
  async runPod(handler: Handler, name: string): Promise<{ id: string; config: Message }> {
    const config = this.podConfig(name);
    const res = await this.cri.runtime('RunPodSandbox', { config, runtime_handler: handler });
    const id = res.pod_sandbox_id as string;
    this.track(id);
    return { id, config };
  }

  /** CreateContainer (+ StartContainer unless `start` is false) of `command` in busybox. */
  async container(
    pod: { id: string; config: Message },
    name: string,
    command: string[],
    extra: Message = {},
    start = true,
  ): Promise<string> {
    const res = await this.cri.runtime('CreateContainer', {
      pod_sandbox_id: pod.id,
      config: {
        metadata: { name, attempt: 0 },
        image: { image: this.image },
        command,
        log_path: `${name}.log`,
        linux: { resources: {}, security_context: {} },
        ...extra,
      },
      sandbox_config: pod.config,
    });
    const id = res.container_id as string;
    this.track(id);
    if (start) await this.cri.runtime('StartContainer', { container_id: id });
    return id;
  }

  /** Stops and removes every pod (and so its containers) still known to CRI. */
  async removeAllPods(): Promise<void> {
    const pods = ((await this.cri.runtime('ListPodSandbox', {})).items ?? []) as Message[];
    for (const pod of pods) {
      await this.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod.id });
      await this.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod.id });
    }
  }

  /** Shim processes serving this containerd (`-address <our socket>` in their command line). */
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

  /** Warm-start standbys of this testbed's runcts shims, by pid. */
  standbys(): number[] {
    return standbyPids(this.warmRoot);
  }

  /** Mount points at or below our dir (rootfs, shm, netns), deepest first. */
  findMounts(): string[] {
    const prefix = this.dir + '/';
    const mounts: string[] = [];
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const fields = line.split(' ');
      if (fields.length < 5) continue;
      const mountPoint = unescapeMountPath(fields[4]!);
      if (mountPoint === this.dir || mountPoint.startsWith(prefix)) mounts.push(mountPoint);
    }
    return mounts
      .map((m, i) => ({ m, i }))
      .sort((a, b) => b.m.split('/').length - a.m.split('/').length || b.i - a.i)
      .map(({ m }) => m);
  }

  /**
   * Cgroup directories below our parent, in every hierarchy, deepest first; `depth` 2 are the
   * containers' (runc's to remove), 1 the pods' (the kubelet's, see removePodCgroups).
   */
  findCgroups(minDepth = 1): string[] {
    const found: string[] = [];
    const walk = (dir: string, depth: number): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        walk(path.join(dir, e.name), depth + 1);
        if (depth + 1 >= minDepth) found.push(path.join(dir, e.name));
      }
    };
    for (const hierarchy of this.hierarchies()) walk(path.join(hierarchy, this.cgroupParent), 0);
    return found;
  }

  /** The kubelet's part after RemovePodSandbox: the pod-level cgroups it created go. */
  async removePodCgroups(pod: { config: Message }): Promise<void> {
    const parent = (pod.config.linux as Message).cgroup_parent as string;
    for (const hierarchy of this.hierarchies()) {
      await fs.promises.rmdir(path.join(hierarchy, parent)).catch(() => undefined);
    }
  }

  private hierarchies(): string[] {
    try {
      const roots = fs
        .readdirSync(CGROUP_ROOT, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => path.join(CGROUP_ROOT, e.name));
      return fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers')) ? [CGROUP_ROOT] : roots;
    } catch {
      return [];
    }
  }

  /** What must be gone once every pod is removed. */
  async leftovers(): Promise<CriLeftovers> {
    const list = (dir: string): string[] => {
      try {
        return fs.readdirSync(dir).map((n) => path.join(dir, n));
      } catch {
        return [];
      }
    };
    const mounts = this.findMounts();
    const netnsDirs = list(this.stateDir).map((d) => path.join(d, 'netns'));
    const sockets = [...this.ids]
      .map((id) =>
        path.join(
          SHIM_SOCKET_DIR,
          crypto
            .createHash('sha256')
            .update(path.join(this.address, NAMESPACE, id))
            .digest('hex'),
        ),
      )
      .filter((p) => fs.existsSync(p));
    return {
      shims: this.findShims(),
      mounts,
      sockets,
      bundles: list(this.bundleRoot),
      netns: netnsDirs.flatMap(list),
      cgroups: this.findCgroups(2),
      addresses: list(path.join(this.dir, 'cni-ipam', this.network.name)).filter(
        (p) => !/\/(last_reserved_ip\.\d+|lock)$/.test(p),
      ),
      cniResults: list('/var/lib/cni/results').filter((p) =>
        path.basename(p).startsWith(`${this.network.name}-`),
      ),
    };
  }

  /** Waits (bounded) until nothing is left; resolves with what still is. */
  async settle(timeoutMs = 20_000): Promise<CriLeftovers> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const left = await this.leftovers();
      if (Object.values(left).every((v: unknown[]) => v.length === 0)) return left;
      if (Date.now() > until) return left;
      await sleep(100);
    }
  }

  /**
   * Tears everything down: pods through CRI (while containerd runs), containerd, then by pid
   * whatever shim is left and its processes and the warm-start standbys, mounts under our dir,
   * our cgroups, the bridge, CNI results of our network, and the dir.
   */
  async destroy(): Promise<void> {
    if (this.client && this.child?.exitCode === null) {
      await this.removeAllPods().catch(() => undefined);
    }
    this.client?.close();
    this.client = undefined;
    await this.stop();

    const shims = this.findShims();
    if (shims.length > 0) {
      const children = childrenMap();
      const victims: number[] = [];
      const visit = (pid: number): void => {
        for (const c of children.get(pid) ?? []) visit(c);
        victims.push(pid);
      };
      for (const shim of shims) visit(shim);
      for (const pid of victims) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await waitGone(victims, 5_000);
    }
    await killStandbys(this.warmRoot);
    await this.deleteRuncContainers();
    for (const p of (await this.leftovers()).sockets) await fs.promises.rm(p, { force: true });
    for (const mountPoint of this.findMounts()) {
      const res = await runCommand('umount', [mountPoint], 10_000);
      if (res.code !== 0) await runCommand('umount', ['-l', mountPoint], 10_000);
    }
    for (const cgroup of this.findCgroups()) await fs.promises.rmdir(cgroup).catch(() => undefined);
    for (const hierarchy of this.hierarchies()) {
      await fs.promises.rmdir(path.join(hierarchy, this.cgroupParent)).catch(() => undefined);
    }
    await runCommand('ip', ['link', 'del', this.network.bridge], 10_000);
    for (const p of (await this.leftovers()).cniResults) await fs.promises.rm(p, { force: true });
    const remaining = this.findMounts();
    if (remaining.length > 0) {
      throw new Error(`cri testbed: could not unmount ${remaining.join(', ')}; left ${this.dir}`);
    }
    await fs.promises.rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** runc state of containers whose bundle is ours (left when a shim was killed). */
  private async deleteRuncContainers(): Promise<void> {
    const runcRoot = path.join('/run/containerd/runc', NAMESPACE);
    let ids: string[];
    try {
      ids = await fs.promises.readdir(this.bundleRoot);
    } catch {
      return;
    }
    for (const id of ids) {
      let state: { config?: { labels?: string[] } };
      try {
        state = JSON.parse(
          await fs.promises.readFile(path.join(runcRoot, id, 'state.json'), 'utf8'),
        ) as typeof state;
      } catch {
        continue;
      }
      if (!(state.config?.labels ?? []).includes(`bundle=${path.join(this.bundleRoot, id)}`))
        continue;
      await runCommand('runc', ['--root', runcRoot, 'delete', '--force', id], 10_000);
    }
  }

  /** SIGTERM containerd, then SIGKILL (bounded). Shims keep running, as in production. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
      return;
    const exited = this.exited;
    const within = (ms: number): Promise<boolean> =>
      Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
    child.kill('SIGTERM');
    if (!(await within(STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await within(STOP_TIMEOUT_MS);
    }
    this.child = undefined;
  }
}
