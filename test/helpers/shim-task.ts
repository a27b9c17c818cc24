// A TTRPC client talking to the shim that serves a container, as containerd does: the address
// (and task API version) the shim told containerd, read from the bundle.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Client, TaskClient, TaskV3Client } from '../../lib';
import type { Testbed } from './testbed';

/** A TTRPC client for the shim serving `id`, task API v2 or v3 as the shim told containerd. */
export async function shimTask(
  tb: Testbed,
  id: string,
): Promise<{ task: TaskClient | TaskV3Client; close(): void }> {
  const bundle = path.join(tb.bundleRoot, id);
  let address: string;
  let version = 2;
  try {
    const bootstrap = JSON.parse(fs.readFileSync(path.join(bundle, 'bootstrap.json'), 'utf8')) as {
      address: string;
      version?: number;
    };
    address = bootstrap.address;
    version = bootstrap.version ?? 2;
  } catch {
    address = fs.readFileSync(path.join(bundle, 'address'), 'utf8').trim();
  }
  const client = await Client.connect(address);
  return {
    task: version >= 3 ? new TaskV3Client(client) : new TaskClient(client),
    close: () => void client.close(),
  };
}
