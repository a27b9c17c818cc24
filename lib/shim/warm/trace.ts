// One line per warm-start decision in CONTAINERD_SHIM_WARM_LOG (when set), in the launcher's
// format: "<unix time> pid=<pid> <what>".
import * as fs from 'node:fs';

export function trace(line: string): void {
  const file = process.env.CONTAINERD_SHIM_WARM_LOG;
  if (!file || !file.startsWith('/')) return;
  const now = Date.now();
  try {
    fs.appendFileSync(
      file,
      `${Math.floor(now / 1000)}.${String(now % 1000).padStart(3, '0')} pid=${process.pid} ${line}\n`,
      { mode: 0o600 },
    );
  } catch {
    // tracing never fails a shim
  }
}
