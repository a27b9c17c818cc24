// Probing a shim address, on any platform: how `start` tells a live shim of its group from a stale
// socket, and how Windows waits for its daemon's pipe.
import { Client } from '../ttrpc/client';

/** Whether something accepts connections on `address` (containerd's CanConnect, 100 ms). */
export async function canConnect(address: string, timeoutMs = 100): Promise<boolean> {
  let client: Client | undefined;
  try {
    client = await Client.connect(address, { connectTimeoutMs: timeoutMs });
    return true;
  } catch {
    return false;
  } finally {
    client?.close();
  }
}
