// What a standby loads before it waits: the modules the SDK's serving path and `start` load on
// first use (a cold `start` or `delete` keeps them out to start fast; a standby has the time).
import { traceBootCache } from './boot-hook';
import { trace } from './trace';

/**
 * The generated messages every container's lifecycle decodes or encodes (Connect, Create, Start,
 * State, Wait, Kill, Delete, Shutdown and their events), by root: each is a module of its own,
 * loaded on first access (scripts/proto-gen.js). A daemon loads them for its first container
 * anyway, so loading them here costs it nothing and takes ~25 module loads (a file lookup and a
 * compile each) off containerd's clock.
 */
const LIFECYCLE_TASK = [
  'ConnectRequest',
  'ConnectResponse',
  'CreateTaskRequest',
  'CreateTaskResponse',
  'StartRequest',
  'StartResponse',
  'StateRequest',
  'StateResponse',
  'WaitRequest',
  'WaitResponse',
  'KillRequest',
  'DeleteRequest',
  'DeleteResponse',
  'ShutdownRequest',
];
const LIFECYCLE_COMMON = [
  'containerd.types.Mount',
  'google.protobuf.Empty',
  'google.protobuf.Timestamp',
  'google.protobuf.Any',
];
const LIFECYCLE_EVENTS = [
  'containerd.events.TaskCreate',
  'containerd.events.TaskStart',
  'containerd.events.TaskIO',
  'containerd.events.TaskExit',
  'containerd.events.TaskDelete',
  'containerd.types.Envelope',
  'containerd.services.events.ttrpc.v1.ForwardRequest',
];

/** The Task API methods of a container's lifecycle (their names in the service descriptors). */
const LIFECYCLE_METHODS = [
  'connect',
  'create',
  'start',
  'state',
  'wait',
  'kill',
  'delete',
  'shutdown',
];

type Methods = Record<string, { requestType: unknown; responseType: unknown }>;

/**
 * Resolves the message types of a service's methods through the service module itself: its
 * first `require` of the generated messages resolves their path afresh (Node caches resolutions
 * per requiring directory and request, ~0.5 ms of stats, a package.json read and the resolver's
 * code), which an adopted daemon would otherwise do while containerd waits on Create, and the
 * publisher on its first event.
 */
function touchMethods(methods: Methods, names: readonly string[]): void {
  for (const name of names) {
    const method = methods[name];
    if (method === undefined) throw new Error(`preload: no method ${name}`);
    if (method.requestType === undefined || method.responseType === undefined) {
      throw new Error(`preload: method ${name} has no message types`);
    }
  }
}

function touch(root: unknown, names: readonly string[]): void {
  for (const name of names) {
    let node = root as Record<string, unknown> | undefined;
    for (const part of name.split('.')) node = node?.[part] as Record<string, unknown> | undefined;
    if (node === undefined) throw new Error(`preload: no generated type ${name}`);
  }
}

/**
 * The task API versions a daemon booted in this environment may serve: containerd 1.6 sets no
 * MAX_SHIM_VERSION (v2 only, containerd-version.ts); later ones may use either, so both.
 */
function taskApis(): Array<'v2' | 'v3'> {
  const max = process.env.MAX_SHIM_VERSION;
  if (max === undefined || max === '') return ['v2'];
  return Number(max) >= 3 ? ['v3'] : ['v2', 'v3'];
}

/* eslint-disable @typescript-eslint/no-require-imports */
export function preloadServing(): void {
  require('node:v8'); // servingV8Flags() (~1 ms to load)
  require('../../int64/encode');
  require('../../generated/bootstrap'); // start: containerd 2.3's stdin
  const apis = taskApis();
  if (apis.includes('v2')) {
    const task = require('../../generated/task') as unknown;
    touch(
      task,
      LIFECYCLE_TASK.map((t) => `containerd.task.v2.${t}`),
    );
    touch(task, LIFECYCLE_COMMON);
    const service = require('../../generated/task-service') as {
      TaskService: { methods: Methods };
    };
    touchMethods(service.TaskService.methods, LIFECYCLE_METHODS);
    const { rehearseCreateDecode } = require('./warmup') as typeof import('./warmup');
    if (rehearseCreateDecode() !== 1) throw new Error('preload: Create decoded without its rootfs');
  }
  if (apis.includes('v3')) {
    const task = require('../../generated/task-v3') as unknown;
    touch(
      task,
      LIFECYCLE_TASK.map((t) => `containerd.task.v3.${t}`),
    );
    touch(task, LIFECYCLE_COMMON);
    const service = require('../../generated/task-v3-service') as {
      TaskV3Service: { methods: Methods };
    };
    touchMethods(service.TaskV3Service.methods, LIFECYCLE_METHODS);
  }
  require('../../generated/ttrpc');
  touch(require('../../generated/events') as unknown, [...LIFECYCLE_EVENTS, ...LIFECYCLE_COMMON]);
  const events = require('../../generated/events-service') as {
    EventsService: { methods: Methods };
  };
  touchMethods(events.EventsService.methods, ['forward']);
  // libuv's thread pool is not started: a daemon's container lifecycle makes no asynchronous
  // file operation (the runc client stats its log synchronously), so it starts on demand alike
  // in an adopted and a cold daemon.
}

/**
 * Node's path functions made hot, as node's module loader makes them in a boot without the boot
 * cache's resolutions, so that V8 optimizes them (`normalizeString`, behind `path.join`, `resolve`
 * and `normalize`) on a worker thread of the standby, in the background. A standby booted from
 * the cache leaves them just short of V8's tier-up budget, and the adopted daemon's first
 * container tipped them over: TurboFan's compile (~4 ms of a worker thread) ran while containerd
 * and runc waited (README, CPU per container). 50 rounds cost the standby ~0.5-1 ms.
 */
export function warmPathFunctions(rounds = 50): number {
  const path = require('node:path') as typeof import('node:path');
  const dir = '/run/containerd/io.containerd.runtime.v2.task/default';
  let n = 0;
  for (let i = 0; i < rounds; i++) {
    const bundle = path.join(dir, `c${i & 7}`);
    n += path.resolve(bundle, 'rootfs').length + path.dirname(bundle).length;
  }
  return n;
}

/**
 * What a standby does before it waits for work: load the serving path (the SDK's and the
 * shim's `preload`) and, with CONTAINERD_SHIM_WARM_WARMUP=1, rehearse it (warmup.ts, then the
 * shim's `warmup`) so that V8 has compiled it. Opt-in: measured, it costs a daemon 0.3-0.4 MiB
 * private and gains no latency within bench:shim's noise (README, Warm start). A failure ends
 * the standby (the work then goes to the cold path), saying why in the trace.
 */
export async function prepareStandby(shim: {
  preload?: () => void;
  warmup?: () => Promise<void> | void;
}): Promise<void> {
  try {
    preloadServing();
    shim.preload?.();
    if (process.env.CONTAINERD_SHIM_WARM_WARMUP === '1') {
      const { warmUpServing } = require('./warmup') as typeof import('./warmup');
      await warmUpServing();
      await shim.warmup?.();
    }
    // Before the standby publishes itself: its modules are loaded (boot-cache.ts).
    const cache = (require('./boot-cache') as typeof import('./boot-cache')).closeBootCache();
    // Before the trace line, which tells tests the boot is over.
    if (cache !== undefined && cache.resolved > 0) warmPathFunctions();
    traceBootCache('standby', cache);
  } catch (err) {
    trace(`standby could not start: ${(err as Error).message}`);
    process.exit(1);
  }
}
