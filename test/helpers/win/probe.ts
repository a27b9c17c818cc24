// Runs in Windows node.exe (test/windows.test.ts, under Wine): which of the given pipes accept a
// connection. Prints one JSON line: { "<pipe>": "ok" | "<error code>" }.
//   node.exe probe.js <pipe>...
import { win } from '../../../lib/native';

async function main(): Promise<void> {
  const out: Record<string, string> = {};
  for (const pipe of process.argv.slice(2)) {
    try {
      const { handle } = await win.pipeConnect(pipe, 1000);
      win.closeHandle(handle);
      out[pipe] = 'ok';
    } catch (err) {
      out[pipe] = (err as NodeJS.ErrnoException).code ?? 'error';
    }
  }
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
