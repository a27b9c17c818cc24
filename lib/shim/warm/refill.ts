// The adopted daemon's part in refilling the pool. The claim that made it a daemon may defer
// the boot of its replacement (native/warm/pool.h DeferRefill: r-<pid> in the pool) so that the
// boot does not run beside the container's start (`runc create`, `runc start`) and teardown;
// the launcher's helper boots it once this daemon removed the marker as it shuts down, or at
// most CONTAINERD_SHIM_WARM_DEFER_MS (1 s) after the claim: a long-lived container's.
import * as fs from 'node:fs';
import * as path from 'node:path';

let marker: string | undefined;

/** In a standby taking the daemon role of `pool`: where a deferred refill would be marked. */
export function owesRefill(pool: string): void {
  marker = path.join(pool, `r-${process.pid}`);
}

/**
 * The daemon shuts down (its container is gone): a refill deferred for it may boot now. Once;
 * nothing in a daemon that was not a standby.
 */
export function refillDue(): void {
  if (marker === undefined) return;
  const file = marker;
  marker = undefined;
  try {
    fs.unlinkSync(file);
  } catch {
    // not deferred (ENOENT), or the pool is gone: nothing waits for it
  }
}
