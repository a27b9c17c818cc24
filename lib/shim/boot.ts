// How a shim's Node processes are booted, in one place: the node flags and environment every
// Node process of a shim gets (the serving daemon, standbys, and the cold `start`/`delete`),
// and the exact command line and environment of the serving daemon. The launcher
// (`containerd-shim package`) bakes nodeBoot() into the shim binary; spawn() uses serveCommand()
// for a cold daemon (every platform) and for a standby taking the daemon role alike, so the two
// never differ.
import { daemonEnv, daemonNodeOptions } from './daemon-runtime';
import { serveArgs } from './flags';
import type { Flags } from './flags';
import type { SpawnEnv } from './start-opts';

/** Node flags and environment for a shim's Node processes. */
export interface NodeBoot {
  /** node flags, before the entry script (e.g. heap sizing). */
  execArgv: string[];
  /** Environment added to every Node process of the shim (read while node boots). */
  env: Record<string, string>;
}

/**
 * The node flags and environment a shim's Node processes boot with. Everything a Node process
 * reads while booting belongs here (flags, `MALLOC_*`, ...): standbys boot with it long before
 * they are handed work, so it must not depend on the container.
 */
export function nodeBoot(): NodeBoot {
  // daemon-runtime.ts: what a serving process boots with (measured, README "Memory").
  return { execArgv: daemonNodeOptions(), env: daemonEnv({}) };
}

/** What a daemon is executed with: `argv[0]` is `file`; `env` as NAME=value. */
export interface ServeCommand {
  file: string;
  argv: string[];
  env: string[];
}

/**
 * nodeBoot().env, this process's environment over it (an operator's setting wins), and `extra`
 * (a shim's additions) on top.
 */
export function daemonEnvironment(extra: SpawnEnv = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...nodeBoot().env, ...process.env }))
    if (v !== undefined) env[k] = v;
  for (const [k, v] of Array.isArray(extra) ? extra : Object.entries(extra)) env[k] = v;
  return env;
}

/**
 * The serving daemon's command line and environment: this node with this process's node flags
 * (plus nodeBoot()'s) and entry script, the serve flags, and daemonEnvironment(extra). Every
 * platform's daemon start uses it (spawn-unix.ts, spawn-win.ts, and a standby taking the role).
 */
export function serveCommand(
  flags: Pick<Flags, 'namespace' | 'id' | 'address' | 'debug'>,
  extra: SpawnEnv = [],
): ServeCommand {
  const execArgv = [...process.execArgv];
  for (const flag of nodeBoot().execArgv) if (!execArgv.includes(flag)) execArgv.push(flag);
  const script = process.argv[1];
  return {
    file: process.execPath,
    argv: [process.execPath, ...execArgv, ...(script ? [script] : []), ...serveArgs(flags)],
    env: Object.entries(daemonEnvironment(extra)).map(([k, v]) => `${k}=${v}`),
  };
}
