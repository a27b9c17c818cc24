// run(): the shim binary's main. Parses containerd's flags and performs the action: `start`
// (spawn or reuse the serving process, print its address), `delete` (clean up, print a
// DeleteResponse), `-v`, `-info`, or serve (log, subreaper, reaper, TTRPC server with the Task
// service, event publisher, graceful shutdown on SIGTERM/SIGINT or when the shim's wait() ends).
import * as fs from 'node:fs';

import { codedError } from '../error-codes';
import type { containerd as taskTypes } from '../generated/task';
import { registerTaskService } from '../generated/task-service';
import { registerTaskV3Service } from '../generated/task-v3-service';
import { addonPlatform, posix } from '../native';
import { Server } from '../ttrpc/server';
import {
  encodeRuntimeInfo,
  formatStartOutput,
  logLevelName,
  parseStartInput,
  readStdin,
} from './bootstrap';
import type { RuntimeInfoProperties, StartResult } from './bootstrap';
import { takeDeleteReceipt } from './delete-receipt';
import { encodeDeleteResponse } from './delete-response';
import { MemoryReleaser, releaseAfter, servingV8Flags, setV8Flags } from './daemon-runtime';
import { parseFlags } from './flags';
import type { Flags } from './flags';
import { closeShimLog, logger, openServingLog, setShimLogger } from './logger';
import { platform } from './platform';
import { RemotePublisher } from './publisher';
import { removeSocket } from './socket';
import type { StartOpts } from './spawn';
import type { Task } from './task';
import { timestamp, type Any } from './util';
import { endColdBoot, writeServingCode } from './warm/boot-hook';
import { warmEnv } from './warm/env';
import { prepareStandby } from './warm/preload';
import { openStandby } from './warm/standby';

/** Framework settings a shim may change in its constructor (like the Rust crate's `&mut Config`). */
export interface Config {
  /** Don't open the bundle's log; the shim sets up logging itself. */
  noSetupLogger: boolean;
  /** Level when containerd did not pass `-debug`; default "info". */
  defaultLogLevel: string;
  /** Don't reap children on SIGCHLD (the shim waits for its own processes). */
  noReaper: boolean;
  /** Don't become a child subreaper. */
  noSubReaper: boolean;
  /**
   * Warm start: called once in each standby process (a Node process of this shim booted ahead
   * of demand) before it waits for work. require() here what your shim loads lazily on its
   * serving path, so a daemon taken over from a standby answers containerd at once.
   */
  preload?: () => void;
  /**
   * Warm start: a standby that ran an action (`start`, `delete`, `-v`, `-info`) waits for the
   * next one when the action left nothing behind (default true). Set false when your actions
   * keep state in module scope that the next action must not see: each then exits.
   */
  reuseStandby?: boolean;
  /**
   * Warm start, with CONTAINERD_SHIM_WARM_WARMUP=1: called once in each standby after `preload`
   * and the SDK's own rehearsal of the serving path, before it waits for work. Exercise your serving code here (parse a sample
   * request or spec, build a command line) so V8 compiles it ahead of demand; it must be cheap
   * and touch nothing outside the process (no containers, mounts, files or timers left).
   */
  warmup?: () => Promise<void> | void;
}

export type DeleteResponse = taskTypes.task.v2.DeleteResponse.$Properties;

/** What a shim implements (the Rust crate's `Shim` trait). */
export interface Shim {
  /** `start`: spawn (or find) the serving process; return its address. */
  startShim(opts: StartOpts): Promise<string | StartResult> | string | StartResult;
  /** `delete`: clean up after a dead shim; the response is printed for containerd. */
  deleteShim(): Promise<DeleteResponse> | DeleteResponse;
  /** Serving: resolves when the shim should exit (typically after Shutdown). */
  wait(): Promise<void>;
  /** Serving: the Task service to register. */
  createTaskService(publisher: RemotePublisher): Promise<Task> | Task;
  /** `-info` (containerd 2.0+): what this runtime is; defaults to its name and version. */
  info?(options: Any | undefined): Promise<RuntimeInfoProperties> | RuntimeInfoProperties;
}

/** A Shim class: constructed with the runtime id, the parsed flags and the (mutable) config. */
export type ShimConstructor = new (runtimeId: string, flags: Flags, config: Config) => Shim;

const VERSION = '0.1.0';

function write(fd: number, data: Uint8Array | string): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let offset = 0;
  while (offset < buf.length) offset += fs.writeSync(fd, buf, offset);
}

function defaultConfig(config: Partial<Config> | undefined): Config {
  return {
    noSetupLogger: false,
    defaultLogLevel: 'info',
    noReaper: false,
    noSubReaper: false,
    ...config,
  };
}

/**
 * Runs a shim binary: call it from your program's entry point with your runtime id (e.g.
 * `io.containerd.example.v1`) and Shim class. Never returns: the process exits with the action's
 * status (errors print `runtimeId: message` on stderr and exit 1).
 */
export async function run(
  runtimeId: string,
  shim: ShimConstructor,
  config?: Partial<Config>,
): Promise<never> {
  // containerd merges our stdout and stderr into the result of `start`: nothing else may appear.
  process.removeAllListeners('warning');
  // (`node --no-deprecation` makes the property read-only: assigning it again would throw.)
  if (!process.noDeprecation) process.noDeprecation = true;
  const settings = defaultConfig(config);
  if (warmEnv.standby !== undefined && addonPlatform === 'linux') {
    await prepareStandby(settings); // loads (and, opted in, rehearses) the serving path
    const standby = openStandby(warmEnv.standby, () => undefined);
    // Each time it is handed work, this process is what a cold start would be. An action that
    // returned leaves it waiting again when it is clean (standby.ts); the daemon role, or an
    // action that is not, ends as in a cold process.
    while ((await standby.work()) === 'action') {
      const status = await perform(runtimeId, shim, settings);
      if (!(await standby.reuse(status, settings.reuseStandby !== false))) process.exit(status);
    }
  }
  const status = await perform(runtimeId, shim, settings);
  endColdBoot();
  process.exit(status);
}

/** Runs the action (or serves): 0, or 1 once `runtimeId: message` is on stderr. */
async function perform(
  runtimeId: string,
  shim: ShimConstructor,
  settings: Config,
): Promise<number> {
  try {
    await dispatch(runtimeId, shim, settings);
    return 0;
  } catch (err) {
    logger.error({ err }, 'shim failed');
    await closeShimLog(logger, 500); // Windows: the log pipe is asynchronous
    write(2, `${runtimeId}: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}

async function dispatch(runtimeId: string, Ctor: ShimConstructor, config: Config): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.version) {
    write(1, `${runtimeId}:\n  Version:  ${VERSION}\n  Runtime:  node ${process.version}\n`);
    return;
  }
  if (flags.info) {
    const input = readStdin();
    const options = input.length > 0 ? parseStartInput(input, '', '').options : undefined;
    const shim = new Ctor(runtimeId, flags, config);
    const info = shim.info
      ? await shim.info(options)
      : { name: runtimeId, version: { version: VERSION } };
    write(1, encodeRuntimeInfo(info));
    return;
  }
  if (flags.namespace === '')
    throw codedError('ERR_INVALID_FLAG', 'shim namespace cannot be empty');
  const shim = new Ctor(runtimeId, flags, config);
  switch (flags.action) {
    case 'start':
      await start(shim, flags);
      return;
    case 'delete': {
      // A missing bundle is no error (runc-v2 2.x answers too): containerd 2.x may remove it
      // while this process starts, and then expects the DeleteResponse all the same.
      // A receipt (the daemon deleted the container completely) leaves nothing to clean.
      const receipt = takeDeleteReceipt(flags.bundle || process.cwd(), flags.id);
      const response = receipt ? { ...receipt, exitedAt: timestamp() } : await shim.deleteShim();
      write(1, encodeDeleteResponse(response));
      return;
    }
    case '':
      await serve(runtimeId, shim, flags, config);
      return;
    default:
      throw codedError(
        'ERR_INVALID_FLAG',
        `unknown action "${flags.action}" (want start, delete, or none to serve)`,
      );
  }
}

async function start(shim: Shim, flags: Flags): Promise<void> {
  const input = parseStartInput(readStdin(), flags.id, flags.namespace);
  const p = input.params;
  const opts: StartOpts = {
    id: flags.id,
    namespace: flags.namespace,
    address: p?.containerdGrpcAddress || flags.address,
    ttrpcAddress: p?.containerdTtrpcAddress || process.env.TTRPC_ADDRESS || '',
    publishBinary: p?.containerdBinary || flags.publishBinary,
    debug: flags.debug || (p?.logLevel !== undefined && p.logLevel !== null && p.logLevel < 0),
    bundle: process.cwd(),
    socketDir: p?.socketDir || undefined,
    containerdVersion: p?.containerdVersion || undefined,
    logLevel: logLevelName(p?.logLevel),
    options: input.options,
    bootstrap: input.bootstrap,
  };
  const result = await shim.startShim(opts);
  write(1, formatStartOutput(input, result));
}

async function serve(runtimeId: string, shim: Shim, flags: Flags, config: Config): Promise<void> {
  if (!config.noSetupLogger) {
    setShimLogger(
      openServingLog({
        debug: flags.debug,
        level: config.defaultLogLevel,
        base: { runtime: runtimeId, namespace: flags.namespace, id: flags.id },
        redirectStderr: true,
      }),
    );
  }
  // A vanished log reader must not kill the shim (Node ignores SIGPIPE; make it explicit).
  process.on('SIGPIPE', () => undefined);
  platform.prepareServe({ subreaper: !config.noSubReaper, reaper: !config.noReaper });

  const ttrpcAddress = process.env.TTRPC_ADDRESS ?? '';
  if (ttrpcAddress === '')
    throw codedError(
      'ERR_TTRPC_ADDRESS_UNSET',
      'TTRPC_ADDRESS is not set (containerd sets it to its ttrpc socket)',
    );
  const publisher = new RemotePublisher(ttrpcAddress, { logger });
  const task = await shim.createTaskService(publisher);
  // The pool's cache re-made with the serving path's code (once per pool build), before the
  // start-up release drops the code that ran only once, or at the teardown if sooner.
  const releaser = new MemoryReleaser({}, (startUp) => {
    if (startUp) {
      writeServingCode(setV8Flags);
      // Start-up is over: what ran only until now may lose its code (in releaseAfter's GCs).
      logger.debug({ v8Flags: servingV8Flags() }, 'start-up over');
    }
    return releaseAfter(startUp);
  });
  let served = false;
  const server = new Server({
    handshaker: platform.handshaker(),
    logger,
    interceptors: [
      (_context, request, next) => {
        releaser.activity();
        // The events connection is made once containerd talks to us, after the first request's
        // synchronous work (Create has started runc by then): not on the first event's clock.
        if (!served) {
          served = true;
          setImmediate(() => publisher.prepare());
          // A cold daemon's boot ends with its first request: the messages it loads on first
          // use (Create's, its answer's) still come from the boot cache, the rest as usual.
          return next(request).finally(() => setImmediate(endColdBoot));
        }
        return next(request);
      },
    ],
  });
  registerTaskService(server, task);
  registerTaskV3Service(server, task);
  await server.listen(flags.socket !== '' ? flags.socket : 'fd://3');
  const ownSocket = flags.socket !== '' ? flags.socket : listenerPath(3);
  logger.debug('server listen started');
  logger.debug('server started');
  logger.debug('Shim successfully started, waiting for exit signal...');

  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    // Windows: Ctrl-Break too (Go's os.Interrupt covers both console events).
    for (const signal of platform.stopSignals) process.once(signal, () => resolve(signal));
  });
  const why = await Promise.race([shim.wait().then(() => 'exit signal'), signalled]);
  // The Shutdown call that fired wait() is still settling its answer (microtasks): let it go out
  // before the teardown's own work (logging, closing the listener), since containerd runs
  // `<shim> delete` only once that answer arrived and the connection closed.
  await new Promise<void>((resolve) => setImmediate(resolve));
  logger.debug({ reason: why }, 'Shutting down shim instance');
  releaser.stop();
  await server.shutdown({ timeoutMs: 5000 });
  logger.debug('ttrpc server stopped');
  await publisher.close(5000);
  cleanupSockets(ownSocket);
  writeServingCode(setV8Flags);
  logger.debug('shim exited');
  await closeShimLog(logger);
}

/** The path of the socket inherited on `fd` (undefined for an abstract one or on failure). */
function listenerPath(fd: number): string | undefined {
  try {
    const address = posix.localAddress(fd);
    return address === '' || address.startsWith('@') ? undefined : address;
  } catch (err) {
    logger.warn({ err }, 'cannot tell which socket the shim serves');
    return undefined;
  }
}

// The socket outlives the fd we inherited: remove it so no stale file lingers in
// /run/containerd/s. Which one it is was noted at start-up: by now the bundle that named it may be
// gone (a grouped shim exits after containerd deleted its first container's bundle).
function cleanupSockets(address: string | undefined): void {
  if (!address) return;
  try {
    removeSocket(address);
  } catch (err) {
    logger.warn({ err, address }, 'failed to remove shim socket');
  }
}
