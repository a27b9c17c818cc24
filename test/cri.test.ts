// The runc shim as a Kubernetes RuntimeClass handler: pods driven through containerd's CRI API as
// the kubelet drives them, on containerd 1.6, 1.7 and 2.1 (one private containerd per generation
// for the whole suite). Every scenario runs under the `runc` handler (that release's
// containerd-shim-runc-v2) and the `runcts` handler (examples/runc-shim, the binary `npm run build`
// packages: warm start on), and what the kubelet would see must be the same; at the end nothing
// may be left behind, warm-start standbys included.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CriError } from './helpers/cri-client';
import type { Message } from './helpers/cri-client';
import { CNI_BIN_DIR, CriTestbed, HANDLERS } from './helpers/cri-testbed';
import type { Handler } from './helpers/cri-testbed';
import { requireCondition, requireEnvironment } from './helpers/env';
import { containerdGenerations, findCriProto, requireContainerd } from './helpers/peers';
import { standbyPids, traceLines } from './helpers/warm';

const MiB = 1 << 20;
const handlers = Object.keys(HANDLERS) as Handler[];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Pod {
  id: string;
  config: Message;
  containers: Map<string, string>;
}

/** containerd's messages name pods, containers and execs by random ids. */
function normalize(text: string): string {
  return text.replace(/[0-9a-f]{64}/g, '<id>');
}

/** A CRI log file as [stream, tag, message] lines (the timestamps dropped). */
function criLog(file: string): string[][] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ').slice(1, 3).concat(l.split(' ').slice(3).join(' ')));
}

/** The outcome of a CRI call: the response, or the error's code and normalized text. */
async function outcome<T>(call: Promise<T>): Promise<T | { error: string; message: string }> {
  try {
    return await call;
  } catch (err) {
    if (!(err instanceof CriError)) throw err;
    return { error: String(err.status), message: normalize(err.details) };
  }
}

function execResult(r: Message | { error: string; message: string }): unknown {
  if ('error' in r) return r;
  return {
    stdout: Buffer.from(r.stdout as Uint8Array).toString(),
    stderr: Buffer.from(r.stderr as Uint8Array).toString(),
    exit_code: r.exit_code as number,
  };
}

/** The version a shim answered `start` with, as containerd 2.x recorded it (1.x: 2). */
function shimVersion(bundle: string): number {
  const file = path.join(bundle, 'bootstrap.json');
  if (!fs.existsSync(file)) return 2;
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: number }).version;
}

/** Reads a cgroup file of a container (cgroup v1 controller file, or v2 unified name). */
function cgroupValue(cgroupsPath: string, v1: [string, string], v2: string): string {
  const unified = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const file = unified
    ? path.join('/sys/fs/cgroup', cgroupsPath, v2)
    : path.join('/sys/fs/cgroup', v1[0], cgroupsPath, v1[1]);
  return fs.readFileSync(file, 'utf8').trim();
}

for (const generation of containerdGenerations()) {
  describe(`CRI on containerd ${generation}: the runcts handler vs runc`, function () {
    this.timeout(180_000);
    let tb: CriTestbed;
    const pods = new Map<Handler, Pod>();

    before(async function () {
      this.timeout(300_000);
      requireEnvironment(
        this,
        {
          commands: ['runc', 'gcc', 'ip'],
          root: true,
          files: [
            '/bin/busybox',
            ...['bridge', 'host-local', 'loopback'].map((p) => path.join(CNI_BIN_DIR, p)),
          ],
        },
        'bash scripts/ci-setup.sh (containernetworking-plugins, gcc, busybox-static); run as root',
      );
      const peer = requireContainerd(this, generation);
      const proto = findCriProto();
      requireCondition(
        this,
        proto !== undefined,
        'the CRI api.proto (golang-k8s-cri-api-dev) is missing',
        'bash scripts/debian-peers.sh sid golang-k8s-cri-api-dev',
      );
      tb = await CriTestbed.start(peer, proto!);
    });

    after(async () => {
      if (!tb) return;
      await tb.destroy();
      assert.deepEqual(standbyPids(tb.warmRoot), [], 'standbys left by the CRI testbed');
    });

    /** The pod of `handler` with its two long-running containers (created on first use). */
    const podFor = async (handler: Handler): Promise<Pod> => {
      let p = pods.get(handler);
      if (!p) {
        const pod = await tb.runPod(handler, `pod-${handler}`);
        p = { ...pod, containers: new Map() };
        pods.set(handler, p);
        for (const [name, command] of [
          ['work', ['sh', '-c', 'echo out; echo err >&2; exec sleep 300']],
          ['second', ['sleep', '300']],
        ] as const) {
          p.containers.set(name, await tb.container(pod, name, [...command]));
        }
      }
      return p;
    };

    /** Runs `scenario` under each handler in turn (runc first), in that handler's pod. */
    const both = async <T>(
      scenario: (handler: Handler, pod: Pod) => Promise<T>,
    ): Promise<Record<Handler, T>> => {
      const results = {} as Record<Handler, T>;
      for (const h of handlers) results[h] = await scenario(h, await podFor(h));
      return results;
    };

    const status = async (id: string): Promise<Message> =>
      (await tb.cri.runtime('ContainerStatus', { container_id: id, verbose: true })) as Message;

    const waitExited = async (id: string): Promise<Message> => {
      const until = Date.now() + 30_000;
      for (;;) {
        const s = (await status(id)).status as Message;
        if (s.state === 'CONTAINER_EXITED') return s;
        if (Date.now() > until) assert.fail(`container ${id} did not exit: ${JSON.stringify(s)}`);
        await sleep(100);
      }
    };

    /**
     * The status of an exited container once containerd recorded its OOM kill, or the last one
     * seen (liveness bound only). containerd learns of the exit (task Wait) and of the OOM kill
     * (a TaskOOM event) by separate paths: the status may show the exit, reason Error, first.
     */
    const waitOomKilled = async (id: string): Promise<Message> => {
      const until = Date.now() + 30_000;
      for (;;) {
        const s = await waitExited(id);
        if (s.reason === 'OOMKilled' || Date.now() > until) return s;
        await sleep(100);
      }
    };

    /** The kubelet's view of an exited container. */
    const exitView = (s: Message): unknown => ({
      state: s.state,
      exit_code: s.exit_code,
      reason: s.reason,
      started: BigInt(s.started_at as string) > 0n,
      finished: BigInt(s.finished_at as string) > 0n,
    });

    it('RunPodSandbox and two containers: ready pod in its own netns with an address on the test bridge, logs, one shim per pod', async () => {
      const results = await both(async (_handler, p) => {
        const pod = p;
        const sandbox = (await tb.cri.runtime('PodSandboxStatus', {
          pod_sandbox_id: pod.id,
          verbose: true,
        })) as Message;
        const pausePid = (JSON.parse(sandbox.info.info as string) as { pid: number }).pid;
        const work = await status(p.containers.get('work')!);
        const workPid = (JSON.parse(work.info.info as string) as { pid: number }).pid;
        const netns = (pid: number): string => fs.readlinkSync(`/proc/${pid}/ns/net`);
        const ip = sandbox.status.network.ip as string;
        const prefix = tb.network.subnet.split('.').slice(0, 3).join('.') + '.';
        const bundle = path.join(tb.bundleRoot, p.containers.get('second')!);
        // The CRI log copier may still be writing: wait (bounded) for both lines.
        const logFile = path.join(pod.config.log_directory as string, 'work.log');
        const until = Date.now() + 10_000;
        while ((fs.existsSync(logFile) ? criLog(logFile) : []).length < 2 && Date.now() < until)
          await sleep(50);
        return {
          state: sandbox.status.state,
          handler: sandbox.status.runtime_handler,
          ipOnBridge: ip.startsWith(prefix),
          ownNetns: netns(pausePid) !== netns(process.pid),
          sharesPodNetns: netns(workPid) === netns(pausePid),
          containers: (
            (await tb.cri.runtime('ListContainers', { filter: { pod_sandbox_id: pod.id } }))
              .containers as Message[]
          )
            .map((c) => [c.metadata.name, c.state])
            .sort(),
          log: criLog(logFile).sort(),
          // The task API version the shim answered `start` with (2.x records it in
          // bootstrap.json; 1.x reads the plain address), and containerd 2.x's fast path for a
          // version-3 shim: further containers of the pod attached without `start`.
          shimVersion: shimVersion(path.join(tb.bundleRoot, pod.id)),
          attachedWithoutStart: fs.existsSync(path.join(bundle, 'sandbox')),
        };
      });
      assert.deepEqual(results.runc, {
        state: 'SANDBOX_READY',
        handler: 'runc',
        ipOnBridge: true,
        ownNetns: true,
        sharesPodNetns: true,
        containers: [
          ['second', 'CONTAINER_RUNNING'],
          ['work', 'CONTAINER_RUNNING'],
        ],
        log: [
          ['stderr', 'F', 'err'],
          ['stdout', 'F', 'out'],
        ],
        shimVersion: generation.startsWith('1.') ? 2 : 3,
        attachedWithoutStart: !generation.startsWith('1.'),
      });
      assert.deepEqual(results.runcts, { ...results.runc, handler: 'runcts' });
      // Two pods, each with its pause and two containers: one shim each. A `start` action of a
      // pod's later container may still be exiting (containerd has its answer; on a loaded
      // machine a standby that served it exits late): wait (bounded) for the daemons alone.
      const until = Date.now() + 20_000;
      while (tb.findShims().length > 2 && Date.now() < until) await sleep(100);
      const shims = tb.findShims().map((pid) => {
        try {
          return `${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')}`;
        } catch {
          return `${pid}: gone`;
        }
      });
      assert.equal(shims.length, 2, shims.join('\n'));
    });

    it('ExecSync: output, a failing command, a missing command, a timeout', async () => {
      const results = await both(async (_handler, pod) => {
        const id = pod.containers.get('work')!;
        // The call's deadline stays well below the minute containerd 1.6 waits for a Wait
        // that never answers (an exec that failed to start must settle at once).
        const exec = (cmd: string[], timeout = 20): Promise<unknown> =>
          outcome(tb.cri.runtime('ExecSync', { container_id: id, cmd, timeout }, 30_000)).then(
            execResult,
          );
        return {
          ok: await exec(['echo', 'hello']),
          failing: await exec(['sh', '-c', 'echo bad >&2; exit 3']),
          missing: await exec(['/nope']),
          timeout: await exec(['sleep', '30'], 1),
          // The timed-out exec was killed: only the container's own process is left.
          left: await exec(['sh', '-c', 'ps -o comm | grep -c sleep']),
        };
      });
      assert.deepEqual(results.runc.ok, { stdout: 'hello\n', stderr: '', exit_code: 0 });
      assert.deepEqual(results.runc.failing, { stdout: '', stderr: 'bad\n', exit_code: 3 });
      assert.deepEqual(results.runcts, results.runc);
    });

    it('a terminal container (tty) through the CRI log path', async () => {
      const results = await both(async (_handler, pod) => {
        const id = await tb.container(pod, 'tty', ['sh', '-c', 'tty; echo done'], { tty: true });
        const s = await waitExited(id);
        await tb.cri.runtime('RemoveContainer', { container_id: id });
        return {
          exit: exitView(s),
          log: criLog(path.join(pod.config.log_directory as string, 'tty.log')),
        };
      });
      assert.deepEqual((results.runc.exit as Message).exit_code, 0);
      assert.deepEqual(results.runcts, results.runc);
    });

    it('ContainerStats and ListContainerStats', async () => {
      const results = await both(async (_handler, pod) => {
        const id = pod.containers.get('work')!;
        const { stats } = (await tb.cri.runtime('ContainerStats', { container_id: id })) as Message;
        const listed = (
          await tb.cri.runtime('ListContainerStats', { filter: { pod_sandbox_id: pod.id } })
        ).stats as Message[];
        const positive = (v: Message | null | undefined): boolean =>
          v !== null && v !== undefined && BigInt(v.value as string) > 0n;
        return {
          name: stats.attributes.metadata.name,
          cpu: positive(stats.cpu?.usage_core_nano_seconds),
          memory: positive(stats.memory?.working_set_bytes),
          writableLayer: stats.writable_layer !== null && stats.writable_layer !== undefined,
          listed: listed.map((s) => s.attributes.metadata.name).sort(),
        };
      });
      assert.deepEqual(results.runc, {
        name: 'work',
        cpu: true,
        memory: true,
        writableLayer: true,
        listed: ['second', 'work'],
      });
      assert.deepEqual(results.runcts, results.runc);
    });

    it('UpdateContainerResources reaches the container cgroup', async () => {
      const results = await both(async (_handler, pod) => {
        const id = pod.containers.get('work')!;
        await tb.cri.runtime('UpdateContainerResources', {
          container_id: id,
          linux: {
            memory_limit_in_bytes: 64 * MiB,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 256,
          },
        });
        const info = JSON.parse((await status(id)).info.info as string) as {
          runtimeSpec: { linux: { cgroupsPath: string } };
        };
        const cg = info.runtimeSpec.linux.cgroupsPath;
        return {
          memory: cgroupValue(cg, ['memory', 'memory.limit_in_bytes'], 'memory.max'),
          cpu: cgroupValue(cg, ['cpu', 'cpu.cfs_quota_us'], 'cpu.max'),
        };
      });
      assert.equal(results.runc.memory, String(64 * MiB));
      assert.deepEqual(results.runcts, results.runc);
    });

    it('containers that exit at once: exit code and reason; finished_at not before started_at', async () => {
      const QUICK = 8;
      const results = await both(async (_handler, pod) => {
        const views: unknown[] = [];
        for (let i = 0; i < QUICK; i++) {
          const id = await tb.container(pod, `quick${i}`, ['true']);
          const s = await waitExited(id);
          views.push(exitView(s));
          await tb.cri.runtime('RemoveContainer', { container_id: id });
        }
        const failed = await tb.container(pod, 'fails', ['sh', '-c', 'exit 7']);
        views.push(exitView(await waitExited(failed)));
        await tb.cri.runtime('RemoveContainer', { container_id: failed });
        const missing = await outcome(tb.container(pod, 'missing', ['/nope']));
        const missingLog = criLog(path.join(pod.config.log_directory as string, 'missing.log'));
        return { views, missing, missingLog };
      });
      assert.deepEqual(results.runc.views[0], {
        state: 'CONTAINER_EXITED',
        exit_code: 0,
        reason: 'Completed',
        started: true,
        finished: true,
      });
      assert.deepEqual((results.runc.views[QUICK] as Message).exit_code, 7);
      assert.match(
        (results.runc.missing as { message: string }).message,
        /^failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "\/nope": stat \/nope: no such file or directory(: unknown)?$/,
      );
      assert.deepEqual(results.runcts.views, results.runc.views);
      assert.deepEqual(results.runcts.missing, results.runc.missing);
      // The one difference (README): runc also prints its error on its stderr, which runcts
      // hands to the container directly, so it lands in the container's log.
      assert.deepEqual(results.runc.missingLog, []);
      assert.deepEqual(results.runcts.missingLog, [
        [
          'stderr',
          'F',
          (results.runc.missing as { message: string }).message.replace(
            /^.*OCI runtime create failed: (.*?)(: unknown)?$/,
            '$1',
          ),
        ],
      ]);
      // finished_at >= started_at is a race with containerd in both shims (containerd stamps
      // started_at after Start returns, the shim stamps the exit), lost more often under load by
      // either: no count of it is asserted here. What ours controls, stamping an exit reaped
      // during Start only once the Start answer is on the wire, is tested deterministically in
      // runc-shim-process.test.ts.
    });

    it('OOM: the container is OOMKilled with exit code 137', async () => {
      const results = await both(async (_handler, pod) => {
        const id = await tb.container(
          pod,
          'oom',
          ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'],
          {
            linux: { resources: { memory_limit_in_bytes: 16 * MiB }, security_context: {} },
          },
        );
        const view = exitView(await waitOomKilled(id));
        await tb.cri.runtime('RemoveContainer', { container_id: id });
        return view;
      });
      const expected = {
        state: 'CONTAINER_EXITED',
        exit_code: 137,
        reason: 'OOMKilled',
        started: true,
        finished: true,
      };
      assert.deepEqual(results.runcts, expected);
      // runc-v2 watches memory.events apart from its reaper: on a loaded machine the cgroup can
      // be gone (runc delete after the exit) before it looks, and the OOM kill is never reported
      // (seen under 2.1: reason Error). Ours reports it before the exit it caused.
      assert.deepEqual(
        results.runc,
        (results.runc as { reason?: string }).reason === 'Error'
          ? { ...expected, reason: 'Error' }
          : expected,
      );
    });

    it('StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox: nothing left behind', async () => {
      const results = await both(async (_handler, pod) => {
        const stopped: unknown[] = [];
        for (const id of pod.containers.values()) {
          await tb.cri.runtime('StopContainer', { container_id: id, timeout: 1 });
          stopped.push(exitView((await status(id)).status as Message));
          await tb.cri.runtime('RemoveContainer', { container_id: id });
        }
        await tb.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod.id });
        const sandbox = (
          (await tb.cri.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id })) as Message
        ).status.state;
        await tb.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod.id });
        await tb.removePodCgroups(pod);
        return { stopped, sandbox };
      });
      assert.deepEqual(results.runc.sandbox, 'SANDBOX_NOTREADY');
      assert.deepEqual(results.runcts, results.runc);
      assert.deepEqual(await tb.settle(), {
        shims: [],
        mounts: [],
        sockets: [],
        bundles: [],
        netns: [],
        cgroups: [],
        addresses: [],
        cniResults: [],
      });
    });

    it('runcts ran as the packaged binary: its launcher traced its starts and daemons', function () {
      // Whether containerd also runs the binary's `delete` (its clean-up after a shim's exit)
      // depends on the generation and on timing: start and the daemon handover are certain.
      const lines = traceLines(tb.warmLog);
      for (const action of ['start', 'daemon'])
        assert.ok(
          lines.some((l) => new RegExp(`^${action} (warm|cold)`).test(l)),
          `no ${action} in the launcher trace: ${lines.join('; ')}`,
        );
    });
  });
}
