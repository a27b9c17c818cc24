// What a standby loads before it waits: the modules the SDK's serving path and `start` load on
// first use (a cold `start` or `delete` keeps them out to start fast; a standby has the time).
import { trace } from './trace';

/* eslint-disable @typescript-eslint/no-require-imports */
export function preloadServing(): void {
  require('pino'); // the serving log
  require('../../int64/encode');
  require('../../generated/bootstrap'); // start: containerd 2.3's stdin
  require('../../generated/task');
  require('../../generated/ttrpc');
  require('../../generated/events');
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
    if (process.env.CONTAINERD_SHIM_WARM_WARMUP !== '1') return; // opt-in: see the README
    const { warmUpServing } = require('./warmup') as typeof import('./warmup');
    await warmUpServing();
    await shim.warmup?.();
  } catch (err) {
    trace(`standby could not start: ${(err as Error).message}`);
    process.exit(1);
  }
}
