// Streaming interop with Go's ttrpc 1.2.7 under flow control: the six volume cases with slow
// consumers, Node client → Go server and Go client → Node server; every message, in order.
// (Go 1.2.0–1.2.7 servers panic on DATA for a stream never opened: no test sends that.)
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Client, Server } from '../lib/ttrpc';
import { VOLUME_CASES, expectedSummary, runVolumeCase, serveStreaming } from './fixtures/streaming';
import { goStreamClient, requireGoPeer12, startGoServer } from './helpers/go-peer';
import type { GoServer } from './helpers/go-peer';

describe('interop with Go ttrpc 1.2.7: slow consumers, every message in order', function () {
  this.timeout(180_000);
  let dir: string;
  let binary: string;

  before(function () {
    binary = requireGoPeer12(this);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-go12-'));
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('Node client → Go 1.2.7 server', () => {
    let go: GoServer;
    let client: Client;

    before(async () => {
      go = await startGoServer(path.join(dir, 'go.sock'), { binary });
      client = await Client.connect(go.address);
    });

    after(async () => {
      client?.close();
      await go?.stop();
    });

    for (const c of VOLUME_CASES) {
      it(c.name, async () => {
        assert.deepEqual(await runVolumeCase(client, c), expectedSummary(c));
      });
    }
  });

  describe('Go 1.2.7 client → Node server', () => {
    let server: Server;
    let address: string;

    before(async () => {
      address = path.join(dir, 'node.sock');
      server = new Server();
      serveStreaming(server);
      await server.listen(address);
    });

    after(async () => {
      await server?.close();
    });

    for (const c of VOLUME_CASES) {
      it(c.name, async () => {
        assert.deepEqual(
          await goStreamClient(address, c.kind, c.count, c.size),
          expectedSummary(c),
        );
      });
    }
  });
});
