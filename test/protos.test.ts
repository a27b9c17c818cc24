// Generated protobuf code and typed service stubs: exact int64, Any packing, and a Task service
// whose missing methods answer UNIMPLEMENTED.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  Client,
  Code,
  Server,
  TASK_METHODS,
  TaskClient,
  fromAny,
  registerTaskService,
  toAny,
} from '../lib';
import * as protos from '../lib/protos';
import { int64ToBigInt } from '../lib/int64/encode';

describe('generated protobuf code', () => {
  it('encodes int64 from number and bigint exactly, never silently as 0', () => {
    const big = 2n ** 62n + 12345n;
    const fromBigint = protos.protobuf.Timestamp.decode(
      protos.protobuf.Timestamp.encode({ seconds: big }).finish(),
    );
    assert.equal(int64ToBigInt(fromBigint.seconds), big);
    const fromNumber = protos.protobuf.Timestamp.decode(
      protos.protobuf.Timestamp.encode({ seconds: 1700000000 }).finish(),
    );
    assert.equal(int64ToBigInt(fromNumber.seconds), 1700000000n);
    const negative = protos.protobuf.Timestamp.decode(
      protos.protobuf.Timestamp.encode({ seconds: -5n }).finish(),
    );
    assert.equal(int64ToBigInt(negative.seconds), -5n);
  });

  it('rejects values that are not 64-bit integers with ERR_PROTOBUF_INT64', () => {
    for (const seconds of [1.5, Number.NaN, 2n ** 64n, -(2n ** 63n) - 1n, 'twelve']) {
      assert.throws(
        () => protos.protobuf.Timestamp.encode({ seconds: seconds as never }).finish(),
        { code: 'ERR_PROTOBUF_INT64' },
      );
    }
  });

  it('packs events as Any with the bare proto name containerd expects', () => {
    const any = toAny(protos.events.TaskOOM, { containerId: 'c1' });
    assert.equal(any.type_url, 'containerd.events.TaskOOM');
    assert.equal(fromAny(protos.events.TaskOOM, any).containerId, 'c1');
    assert.throws(() => fromAny(protos.events.TaskExit, any), { code: 'ERR_ANY_TYPE' });
  });
});

describe('typed Task service stubs', () => {
  let dir: string;
  let server: Server;
  let client: Client;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'task-stub-'));
    server = new Server();
    registerTaskService(server, { connect: () => ({ version: 'stub', shimPid: 7 }) });
    await server.listen(path.join(dir, 's.sock'));
    client = await Client.connect(path.join(dir, 's.sock'));
  });

  after(async () => {
    client.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers every method the implementation lacks with UNIMPLEMENTED', async () => {
    const task = new TaskClient(client);
    assert.equal(TASK_METHODS.length, 17);
    for (const method of TASK_METHODS) {
      if (method === 'connect') continue;
      const call = (task[method] as (req: object) => Promise<unknown>).bind(task);
      await assert.rejects(call({ id: 'x' }), (err: { code?: number; message?: string }) => {
        assert.equal(err.code, Code.UNIMPLEMENTED, method);
        assert.match(err.message ?? '', /^\/containerd\.task\.v2\.Task\/\w+ is not implemented$/);
        return true;
      });
    }
    const connected = await task.connect({ id: 'x' });
    assert.deepEqual([connected.version, connected.shimPid], ['stub', 7]);
  });
});

describe('the hand-written DeleteResponse encoder', () => {
  it('matches the generated encoder', async () => {
    const { encodeDeleteResponse } = await import('../lib/shim/delete-response.js');
    const cases = [
      {},
      { pid: 0xffffffff, exitStatus: 137, exitedAt: { seconds: 1700000000, nanos: 5 } },
      { pid: 42, exitedAt: { seconds: -62135596800n, nanos: 999999999 } },
      { exitStatus: 1, exitedAt: {} },
    ];
    for (const c of cases) {
      assert.deepEqual(
        Buffer.from(encodeDeleteResponse(c)),
        Buffer.from(protos.task.DeleteResponse.encode(c).finish()),
      );
    }
  });
});
