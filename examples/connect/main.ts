// The Rust crate's shim-proto-connect: sends Connect and Shutdown to a shim and prints the answers.
//   node dist/examples/connect/main.js unix:///run/containerd/s/<hash>
import { Client, TaskClient } from 'containerd-shim';

async function main(): Promise<void> {
  const address = process.argv[2];
  if (!address) {
    console.error('usage: connect <shim address>');
    process.exit(1);
  }
  console.log(`Connecting to ${address}...`);
  const client = await Client.connect(address);
  const task = new TaskClient(client);

  console.log('Sending `Connect` request...');
  const connected = await task.connect({ id: '1' });
  console.log(`Connect response: version: ${JSON.stringify(connected.version)}`);

  console.log('Sending `Shutdown` request...');
  const shutdown = await task.shutdown({ id: '1', now: true });
  console.log(
    `Shutdown response: ${JSON.stringify(Object.keys(shutdown.toJSON()).length ? shutdown.toJSON() : '')}`,
  );
  client.close();
}

main().catch((err: Error & { codeName?: string }) => {
  console.error(
    `error: ${err.codeName ?? (err as NodeJS.ErrnoException).code ?? 'ERROR'}: ${err.message}`,
  );
  process.exit(1);
});
