// Mocha root hooks (.mocharc.json `require`): every shim binary the suite runs outside a testbed
// keeps its warm-start standbys in a private pool root with a short idle timeout, and after the
// suite no standby may be left, neither there nor in any testbed's pool: idle standbys must
// exit on their own, testbeds kill theirs when destroyed.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Testbed } from './testbed';
import { BOOT_GROUP, cpuCgroupDir, killStandbys, waitNoStandbys } from './warm';

let root: string | undefined;

export const mochaHooks = {
  beforeAll(): void {
    if (process.env.CONTAINERD_SHIM_WARM_DIR !== undefined) return;
    root = fs.mkdtempSync('/tmp/csw-');
    process.env.CONTAINERD_SHIM_WARM_DIR = root;
    process.env.CONTAINERD_SHIM_WARM_IDLE_MS ??= '3000';
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    const roots = [...(root ? [root] : []), ...Testbed.warmRoots];
    const left: string[] = [];
    for (const r of roots) {
      // Idle standbys exit after CONTAINERD_SHIM_WARM_IDLE_MS; allow for a busy machine.
      const pids = await waitNoStandbys(r, 60_000);
      if (pids.length > 0) left.push(`${r}: ${pids.join(' ')}`);
      await killStandbys(r);
    }
    if (root) fs.rmSync(root, { recursive: true, force: true });
    // A boot killed while it waited in the idle cpu cgroup never left it (the next top-up would
    // remove it, pool.cc): the suite's boots were started from this cgroup.
    const dir = cpuCgroupDir('self');
    try {
      if (dir !== undefined) fs.rmdirSync(path.join(dir, BOOT_GROUP));
    } catch {
      // none (ENOENT), or in use by boots of shims outside the suite (EBUSY)
    }
    if (left.length > 0) throw new Error(`standbys left after the suite: ${left.join('; ')}`);
  },
};
