// How a shim's serving process (the daemon) runs Node. A daemon lives as long as its containers,
// next to thousands of others, and spends nearly all of that time idle: what counts is the memory
// it keeps, not peak speed. Two halves:
//
//  - what it boots with: the Node/V8 flags and environment below, which boot.ts's nodeBoot()
//    gives every Node process of a shim (a cold daemon on any platform, and the standbys the
//    launcher boots, which take the daemon role);
//  - what it does while serving: give freed malloc memory back to the kernel once start-up is
//    over and after bursts of work (Go shims call debug.FreeOSMemory every 30 s for the same
//    reason; V8's own heap is shrunk by its memory reducer when the daemon goes idle, and by the
//    releaser once start-up is over: reduceHeap()).
//
// Every choice here was measured with `npm run bench:shim` (README, "Memory"); the ones that did
// not pay off are listed there too.
import { addonPlatform, linux } from '../native';

/**
 * Node/V8 flags the daemon boots with (before any of the shim binary's own execArgv, which win).
 * None: every V8 flag measured (smaller semi-spaces, --single-threaded-gc, --v8-pool-size,
 * --lite-mode, --jitless, --no-expose-wasm, --optimize-for-size, --bytecode-old-age) saved at most
 * 0.3 MiB of V8 heap, and any flag that changes V8's flag hash makes Node reject its embedded
 * code cache for the built-in modules, which it then compiles and caches again in malloc memory
 * (+0.35 MiB in a daemon that loads child_process and net), so none paid off. What pays off is
 * set at run time instead: SERVING_V8_FLAGS.
 */
export function daemonNodeOptions(): string[] {
  return [];
}

/**
 * V8 flags the daemon sets on itself once start-up is over (servingV8Flags(), at the releaser's
 * start-up release, right before reduceHeap()): V8 may then drop the bytecode (and feedback) of
 * any function that did not run between two full GCs instead of five. Start-up code (module
 * bodies, the shim's set-up, a standby's preload) goes in reduceHeap()'s collections: −0.2 to
 * −0.3 MiB per daemon, bytecode 0.40 → 0.10 MB (README, "Memory per container"). A function
 * that runs again is compiled again from its source (kept anyway), once; what serves requests
 * runs between GCs and keeps its code. Not set as soon as the daemon serves: a container that
 * lives seconds (`ctr run --rm`, a burst) would then see the first full GC drop its daemon's
 * Kill/Delete/Shutdown code (from the boot cache, not run yet), compiled again at the teardown,
 * on containerd's clock (~5 ms of CPU per container; README, "CPU per container"). Set at run time, not on
 * the command line: any V8 flag on the command line changes V8's flag hash before Node compiles
 * its built-in modules, which then miss Node's embedded code cache (+0.35 MiB); set now, only
 * built-ins loaded later do.
 */
export const SERVING_V8_FLAGS: readonly string[] = ['--bytecode-old-age=1'];

/**
 * V8's defaults of SERVING_V8_FLAGS: what a process boots with, hence the flag hash a code
 * cache made at boot carries (boot-cache.ts checks V8's tag before writing one with them).
 */
const BOOT_V8_FLAGS: readonly string[] = ['--bytecode-old-age=5'];

let servingFlagsSet = false;

/**
 * V8's flags of the boot (true), or back to the ones this process runs with (false:
 * SERVING_V8_FLAGS once servingV8Flags() ran, else the boot's), around a code cache made while
 * serving.
 */
export function setV8Flags(boot: boolean): void {
  setFlags(boot || !servingFlagsSet ? BOOT_V8_FLAGS : SERVING_V8_FLAGS);
}

/** Sets SERVING_V8_FLAGS in this process (the serving daemon, once start-up is over); returns them. */
export function servingV8Flags(): readonly string[] {
  servingFlagsSet = true;
  return setFlags(SERVING_V8_FLAGS);
}

function setFlags(flags: readonly string[]): readonly string[] {
  // Loaded here: node:v8 costs a `start` or `delete` (which load this file too) 1-8 ms.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('node:v8') as typeof import('node:v8')).setFlagsFromString(flags.join(' '));
  return flags;
}

/**
 * Environment the daemon boots with, added to what containerd passed. A variable the
 * environment already sets is left as it is (an operator's choice wins).
 */
export function daemonEnv(environment: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(DAEMON_ENV))
    if (environment[key] === undefined) out[key] = value;
  return out;
}

// One malloc arena: node's threads (V8's platform workers, libuv's pool) would otherwise each get
// an arena whose free top chunk malloc_trim cannot return (glibc trims only the main arena's
// top): -0.3 MiB per daemon. A shim's threads seldom allocate at the same time, and each has its
// tcache, so the shared lock costs nothing measurable.
const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/**
 * Returns free malloc memory to the kernel now (glibc's malloc_trim: every arena, not only the
 * top of the heap). True if anything was released; false off glibc or when nothing was free.
 */
export function releaseMemory(): boolean {
  if (addonPlatform !== 'linux') return false; // malloc_trim is in the addon's Linux layer
  return linux.mallocTrim();
}

/**
 * Shrinks V8's heap now, as its memory reducer does once a process goes idle: two full
 * collections in V8's memory-reducing mode (critical memory pressure, native/linux/memory.cc;
 * two, as the reducer runs at least two, so that code that ran in neither is dropped,
 * SERVING_V8_FLAGS). True if they ran; false off Linux or where node does not export the call.
 *
 * Why a daemon needs it: V8's memory reducer runs its collections once per heap, ~8 s after the
 * heap grew and once allocation has gone low, and then rests until the heap grows by 10 MB more,
 * which a daemon's never does. A standby that waited more than ~9 s for the daemon role has had
 * them already, and nothing then collected the garbage of the daemon's first container nor
 * dropped its start-up code: such a daemon kept 7.9-8.4 MiB private for good where one adopted
 * from a standby just booted (its reducer still to come) or a cold daemon kept 7.3-7.5 (README,
 * "Memory per container"); with this, 7.7-7.8. And where the reducer does come, its timing is
 * V8's guess: 8 s more each time the allocation rate does not look low yet (seen: 28 s).
 */
export function reduceHeap(): boolean {
  if (addonPlatform !== 'linux') return false;
  return linux.v8ReduceMemory() && linux.v8ReduceMemory();
}

/** What the releaser runs: the first time reduceHeap() then malloc_trim, then malloc_trim alone. */
export function releaseAfter(startUp: boolean): boolean {
  if (startUp) reduceHeap();
  return releaseMemory();
}

export interface MemoryReleaseOptions {
  /** First release this long after start (after V8's memory reducer has run); default 10 s. */
  afterStartMs?: number;
  /** Then once this long after the last reported activity; default 5 s. */
  afterActivityMs?: number;
  /** And at least this often while active; default 30 s. */
  maxIntervalMs?: number;
}

/**
 * Schedules releaseMemory() for a serving daemon: once start-up has settled (with reduceHeap()
 * first), then after each burst of work (call activity() on every request) — never while
 * nothing happens, so an idle daemon is never woken for it. The timer never keeps the process alive; stop() cancels it.
 */
export class MemoryReleaser {
  private readonly afterActivityMs: number;
  private readonly maxIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private pendingSince = 0;
  private stopped = false;
  /** How many releases ran (for tests and diagnostics). */
  releases = 0;

  constructor(
    options: MemoryReleaseOptions = {},
    private readonly release: (startUp: boolean) => unknown = releaseAfter,
  ) {
    this.afterActivityMs = options.afterActivityMs ?? 5000;
    this.maxIntervalMs = options.maxIntervalMs ?? 30_000;
    this.arm(options.afterStartMs ?? 10_000);
  }

  /** Work happened (a request was served): release memory once things calm down again. */
  activity(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.timer === undefined) {
      this.pendingSince = now;
      this.arm(this.afterActivityMs);
    } else if (now - this.pendingSince < this.maxIntervalMs) {
      this.timer.refresh(); // push the release back: the burst is still going on
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.pendingSince ||= Date.now();
    this.timer = setTimeout(() => this.fire(), ms);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.pendingSince = 0;
    if (this.stopped) return;
    this.release(this.releases++ === 0);
  }
}
