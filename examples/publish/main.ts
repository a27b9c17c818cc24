// The Rust crate's shim-proto-publish: publishes one TaskOOM event to containerd, as a shim does.
//   node dist/examples/publish/main.js <ttrpc-address> <namespace> [container-id]
// e.g. node dist/examples/publish/main.js /run/containerd/containerd.sock.ttrpc default 123
// and watch it arrive with `ctr events`.
import { RemotePublisher, TOPICS, toAny } from 'containerd-shim';
import type { Logger } from 'containerd-shim';
import { events } from 'containerd-shim/protos/events';

const DELIVERY_TIMEOUT_MS = 10_000;

// Warnings (containerd unreachable, event rejected) go to stderr; stdout is the result.
const stderrLogger: Logger = {
  debug: () => undefined,
  warn: (obj: object | string, msg?: string) => {
    if (typeof obj === 'string') return console.error(`warning: ${obj}`);
    const { err, ...fields } = obj as { err?: Error };
    const cause = err ? `: ${err.message}` : '';
    console.error(`warning: ${msg ?? ''}${cause} ${JSON.stringify(fields)}`);
  },
};

async function main(): Promise<void> {
  const [address, namespace, containerId = '123'] = process.argv.slice(2);
  if (!address || !namespace) {
    console.error('usage: publish <ttrpc-address> <namespace> [container-id]');
    process.exit(2);
  }
  const publisher = new RemotePublisher(address, { logger: stderrLogger });
  const event = toAny(events.TaskOOM, { containerId });
  await publisher.publish(TOPICS.TASK_OOM, namespace, event);
  try {
    // publish() only queues: wait until containerd has accepted the event.
    await publisher.flush(DELIVERY_TIMEOUT_MS);
  } finally {
    await publisher.close(0);
  }
  console.log(`published ${TOPICS.TASK_OOM} for ${containerId} to ${address}`);
}

main().catch((err: Error & { code?: string }) => {
  console.error(`error: ${err.code ?? 'ERROR'}: ${err.message}`);
  process.exit(1);
});
