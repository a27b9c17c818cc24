// Environment checks for suites that need real system tools (containerd, runc, root, ...).
//
// Outside CI a missing prerequisite skips the suite with one line on stderr; under CI=true it is a
// hard failure, so no suite can silently skip in CI.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Resolves `name` through PATH (or checks it directly if it contains a slash). */
export function findCommand(name: string): string | undefined {
  const isExecutable = (p: string): boolean => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export interface EnvironmentNeeds {
  commands?: string[];
  root?: boolean;
  files?: string[];
}

/**
 * Skips the current suite/test (outside CI) or throws (CI=true) when something in `needs` is
 * missing. Call it from a `before` hook or a test: `requireEnvironment(this, {...}, 'apt-get install x')`.
 */
export function requireEnvironment(
  ctx: Mocha.Context,
  needs: EnvironmentNeeds,
  hint: string,
): void {
  const missing: string[] = [];
  for (const cmd of needs.commands ?? []) {
    if (findCommand(cmd) === undefined) missing.push(`command ${cmd}`);
  }
  if (needs.root === true && process.getuid?.() !== 0) missing.push('root privileges');
  for (const file of needs.files ?? []) {
    if (!fs.existsSync(file)) missing.push(`file ${file}`);
  }
  if (missing.length === 0) return;
  const what = missing.join(', ');
  if (process.env.CI === 'true') {
    throw new Error(`missing ${what} (${hint}); suites may not skip in CI`);
  }
  process.stderr.write(`skipped: missing ${what} (${hint})\n`);
  ctx.skip();
}

/**
 * Like requireEnvironment, for any other precondition (platform, cgroup mode): skips outside CI
 * with one line naming `what`, fails under CI=true.
 */
export function requireCondition(
  ctx: Mocha.Context,
  ok: boolean,
  what: string,
  hint: string,
): void {
  if (ok) return;
  if (process.env.CI === 'true') throw new Error(`${what} (${hint}); suites may not skip in CI`);
  process.stderr.write(`skipped: ${what} (${hint})\n`);
  ctx.skip();
}

/** requireCondition for Linux-only suites: `hint` says why (e.g. "the reaper is Linux-only"). */
export function requireLinux(ctx: Mocha.Context, hint: string): void {
  requireCondition(
    ctx,
    process.platform === 'linux',
    `a Linux host (this is ${process.platform})`,
    hint,
  );
}
