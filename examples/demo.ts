// npm run demo: a shim's life with no containerd. It starts the skeleton shim the way
// containerd 2.3 does (`start` in a bundle, BootstrapParams on stdin, socket in a private dir),
// connects with the connect example (Connect, Shutdown), and prints the shim's log.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as protos from 'containerd-shim/protos';

const top = path.resolve(__dirname, '..', '..');
const shim = path.join(top, 'examples', 'skeleton', 'containerd-shim-skeleton-v1');
const connect = path.join(top, 'dist', 'examples', 'connect', 'main.js');

function drain(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    try {
      const n = fs.readSync(fd, buf);
      if (n <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    } catch {
      break; // EAGAIN: nothing more
    }
  }
  return Buffer.concat(chunks).toString();
}

async function waitGone(file: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (fs.existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-demo-'));
  const bundle = path.join(dir, 'bundle');
  const socketDir = path.join(dir, 's');
  fs.mkdirSync(bundle);
  fs.writeFileSync(
    path.join(bundle, 'config.json'),
    JSON.stringify({ ociVersion: '1.0.2', annotations: {} }),
  );
  // containerd creates the log FIFO and holds it open read-write before running `start`.
  execFileSync('mkfifo', [path.join(bundle, 'log')]);
  const log = fs.openSync(path.join(bundle, 'log'), fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  try {
    // As containerd at level debug runs it: the SDK's own lines are debug, the skeleton's info.
    const args = [
      '-debug',
      '-namespace',
      'default',
      '-id',
      '1234',
      '-address',
      '/run/containerd/containerd.sock',
      '-publish-binary',
      '/usr/bin/containerd',
      'start',
    ];
    console.log(`$ containerd-shim-skeleton-v1 ${args.join(' ')}`);
    const params = protos.bootstrap.BootstrapParams.encode({
      instanceId: '1234',
      namespace: 'default',
      containerdTtrpcAddress: path.join(dir, 'containerd.sock.ttrpc'),
      containerdGrpcAddress: '/run/containerd/containerd.sock',
      socketDir,
    }).finish();
    const started = spawnSync(shim, args, {
      cwd: bundle,
      input: params,
      env: { ...process.env, TTRPC_ADDRESS: path.join(dir, 'containerd.sock.ttrpc') },
    });
    if (started.status !== 0)
      throw new Error(`start failed (${started.status}): ${started.stdout}${started.stderr}`);
    const result = protos.bootstrap.BootstrapResult.decode(started.stdout);
    console.log(
      `BootstrapResult: version ${result.version}, protocol ${result.protocol}, address ${result.address}\n`,
    );

    console.log(`$ connect ${result.address}`);
    const connected = spawnSync(process.execPath, [connect, result.address], { encoding: 'utf8' });
    process.stdout.write(connected.stdout + connected.stderr);
    if (connected.status !== 0) throw new Error('connect failed');

    await waitGone(result.address.replace('unix://', ''), 5000);
    console.log('\n$ cat log');
    process.stdout.write(drain(log));
  } finally {
    fs.closeSync(log);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`demo: ${err.message}`);
  process.exit(1);
});
