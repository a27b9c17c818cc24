// Garbage-collection probes for the leak tests: a forced GC without --expose-gc on the command
// line, and a count of native channels that were created and collected.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { addonPlatform, linux, posix } from '../../lib/native';

setFlagsFromString('--expose_gc');
const forceGc = runInNewContext('gc') as () => void;

/** Collects until FinalizationRegistry callbacks and deferred native finalizers have run. */
export async function collectGarbage(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    forceGc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits (collecting) until `done()` holds, or gives up after `rounds` rounds. */
export async function collectUntil(done: () => boolean, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) await collectGarbage(1);
}

export const mib = (bytes: number): number => bytes / (1 << 20);

/**
 * process.memoryUsage() once caches have settled: past the channel's reuse of freed payload blocks
 * (each kept at most 1 s), collected, and with malloc's free memory returned to the kernel
 * (malloc_trim), so RSS counts what is kept rather than what the allocator happens to cache.
 */
export async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await collectGarbage();
  if (addonPlatform === 'linux') linux.mallocTrim();
  return process.memoryUsage();
}

export interface Tracker<T extends object> {
  track(target: T): T;
  readonly created: number;
  readonly collected: number;
}

/** Counts objects handed to `track` and how many of them were garbage-collected since. */
export function tracker<T extends object>(): Tracker<T> {
  let created = 0;
  let collected = 0;
  const registry = new FinalizationRegistry<number>(() => collected++);
  return {
    track(target) {
      created++;
      registry.register(target, 0);
      return target;
    },
    get created() {
      return created;
    },
    get collected() {
      return collected;
    },
  };
}

/**
 * Tracks every native Channel the transports create from now until `restore()` (the binding's
 * constructor is wrapped in a Proxy; transports look it up on each connection).
 */
export function trackChannels(): Tracker<object> & { restore(): void } {
  const t = tracker<object>();
  const original = posix.Channel;
  posix.Channel = new Proxy(original, {
    construct(target, args: ConstructorParameters<typeof original>) {
      return t.track(Reflect.construct(target, args) as object);
    },
  });
  return Object.assign(t, {
    restore: () => {
      posix.Channel = original;
    },
  });
}
