// Runs in Windows node.exe (test/windows.test.ts, under Wine): runs a shim's `start` the way
// containerd does, with stdout and stderr on pipes it reads to EOF (Go's CombinedOutput), so a
// daemon that inherited them would hold `start` up until it exits. Then connects to the printed
// address, sends Connect and Shutdown, and prints one JSON line.
//   node.exe containerd-start.js <bundle> <shim script> <shim args...>
import { spawn } from 'node:child_process';

import { Client, TaskClient } from '../../../lib';

function combinedOutput(
  file: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ status: number | null; output: string; ms: number; timedOut: boolean }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let output = '';
    let open = 2;
    let status: number | null = null;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.stdout.destroy();
      child.stderr.destroy();
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      resolve({ status, output, ms: Date.now() - started, timedOut });
    };
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (output += d));
      // EOF on both: every holder of the write ends (the daemon too, if it inherited them) closed.
      stream.on('close', () => {
        if (--open === 0) finish();
      });
    }
    child.on('exit', (code) => (status = code));
    child.on('error', reject);
  });
}

async function main(): Promise<void> {
  const [bundle = '.', script = '', ...args] = process.argv.slice(2);
  const start = await combinedOutput(process.execPath, [script, ...args], bundle, 20_000);
  const result: Record<string, unknown> = { start };
  if (start.status === 0 && !start.timedOut) {
    const client = await Client.connect(start.output.trim());
    const task = new TaskClient(client);
    result.version = (await task.connect({ id: 'x' })).version;
    await task.shutdown({ id: 'x', now: true });
    client.close();
  }
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
