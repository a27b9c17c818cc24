// spawn(): `start`'s work for a shim — resolve the group (spec annotations first), then start the
// serving daemon or find the one already serving the group, the platform's way (platform.ts).
import { platform } from './platform';
import type { SpawnEnv, StartOpts } from './start-opts';
import { readSpec } from './util';

export type { SpawnEnv, StartOpts } from './start-opts';

/** Spec annotations that put containers into one shim, in order of precedence (runc shims'). */
export const GROUP_LABELS = ['io.containerd.runc.v2.group', 'io.kubernetes.cri.sandbox-id'];

/** The group a bundle's spec asks for, or undefined. Malformed specs fail with ERR_INVALID_SPEC. */
export function specGroup(bundle: string): string | undefined {
  const annotations = readSpec(bundle).annotations ?? {};
  for (const label of GROUP_LABELS) {
    const value = annotations[label];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/**
 * Starts the shim's serving process (or finds the running one of this group) and returns the
 * address to print. `grouping` is the default group key (usually the task id); a group named in
 * the bundle's spec annotations takes precedence, so all containers of a pod share one shim. The
 * daemon re-executes this program with the serve flags, cwd = bundle, stdio on /dev/null and
 * `env` added to the environment (boot.ts serveCommand): on POSIX in a new session with the
 * listening socket on fd 3, on Windows with `-socket <pipe>` (it creates the pipe; spawn waits
 * until it accepts). On Linux under the launcher a standby takes the daemon role when one is
 * ready (warm/handover.ts) and becomes that same process.
 */
export async function spawn(
  opts: StartOpts,
  grouping: string,
  env: SpawnEnv = [],
): Promise<string> {
  return platform.startDaemon(opts, specGroup(opts.bundle) ?? grouping, env);
}
