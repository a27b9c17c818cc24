// The serving daemon, handed to a standby (`start`'s side, called by spawn()): the standby takes
// the listening socket as its fd 3 and becomes exactly what spawning `command` would have made.
import { addonPlatform, linux } from '../../native';
import type { ServeCommand } from '../boot';
import { warmEnv } from './env';
import { trace } from './trace';

/** A claimed standby that does not answer within this is killed and the daemon started cold. */
export const HANDOVER_TIMEOUT_MS = 5000;

/**
 * Hands the daemon role to a ready standby of this shim's pool (only when the launcher started
 * this process and warm start is on). True when a standby took it over; false when the caller
 * must start the daemon itself (no standby, or it failed: then it is dead, never half-serving).
 */
export function handDaemonToStandby(command: ServeCommand, cwd: string, listener: number): boolean {
  const pool = warmEnv.pool;
  if (pool === undefined || addonPlatform !== 'linux') return false; // warm start is Linux's
  const result = linux.warmHandDaemon(
    pool,
    command.file,
    cwd,
    command.argv,
    command.env,
    [listener],
    HANDOVER_TIMEOUT_MS,
  );
  const skipped = result.skipped ? ` (skipped: ${result.skipped})` : '';
  trace(
    result.pid > 0
      ? `daemon warm standby=${result.pid}${skipped}`
      : `daemon cold: ${result.reason}`,
  );
  return result.pid > 0;
}
