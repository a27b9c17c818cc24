// lib/int64/lazy-long.ts: protobufjs gets a stand-in for long.js, which loads on first use; int64
// values still decode to long.js Longs. Each case runs in a fresh node (a module cache without
// protobufjs), as a shim daemon starts.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const dist = path.resolve(__dirname, '..');

function inFreshNode(body: string): Promise<Record<string, unknown>> {
  const script = `
    const util = require('node:util');
    const lib = (p) => require(${JSON.stringify(dist)} + '/lib/' + p);
    const longLoaded = () => {
      const file = Object.keys(require.cache).find((k) => /[\\\\/]long[\\\\/]/.test(k));
      return file !== undefined && !util.types.isProxy(require.cache[file].exports);
    };
    const out = {};
    ${body}
    process.stdout.write(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
  });
}

describe('lazy long.js for protobufjs', () => {
  it('a shim serving Task calls without int64 fields never loads long.js', async () => {
    const out = await inFreshNode(`
      const { task } = lib('protos/task');
      const { events } = lib('protos/events');
      const req = task.CreateTaskRequest;
      const decoded = req.decode(req.encode({ id: 'c1', bundle: '/b', terminal: true }).finish());
      out.id = decoded.id;
      events.TaskCreate.encode({ containerId: 'c1', pid: 42 }).finish();
      // an event with an int64 field (Timestamp.seconds) encoded, as a shim publishes it
      const exit = { containerId: 'c1', exitedAt: { seconds: 1700000000, nanos: 1 } };
      out.exit = events.TaskExit.encode(exit).finish().length > 0;
      out.isLong = require('protobufjs/minimal').util.Long.isLong({ __isLong__: true });
      out.loaded = longLoaded();`);
    assert.deepEqual(out, { id: 'c1', exit: true, isLong: true, loaded: false });
  });

  it('int64 fields decode to long.js Longs, exactly, and convert both ways', async () => {
    const out = await inFreshNode(`
      const { protobuf } = lib('protos/task');
      const pb = require('protobufjs/minimal');
      const T = protobuf.Timestamp;
      const d = T.decode(T.encode({ seconds: 2n ** 62n + 3n, nanos: 7 }).finish());
      out.loaded = longLoaded();
      out.seconds = d.seconds.toString();
      out.isRealLong = d.seconds instanceof require('long') && d.seconds instanceof pb.util.Long;
      out.isLong = pb.util.Long.isLong(d.seconds);
      out.toObject = T.toObject(d, { longs: String });
      out.fromObject = T.fromObject({ seconds: '-5' }).seconds.toString();
      out.fromBits = pb.util.Long.fromBits(1, 2).toString();
      out.negative = T.decode(T.encode({ seconds: -1 }).finish()).seconds.toNumber();
      out.default = T.prototype.seconds.toString() + ' ' + new T().seconds.unsigned;
      const t = new T({ seconds: 5 });
      out.own = [Object.prototype.hasOwnProperty.call(t, 'seconds'), t.seconds];
      t.seconds = 6;
      out.assigned = [t.seconds, Object.keys(t).join(',')];`);
    assert.deepEqual(out, {
      loaded: true,
      seconds: '4611686018427387907',
      isRealLong: true,
      isLong: true,
      toObject: { seconds: '4611686018427387907', nanos: 7 },
      fromObject: '-5',
      fromBits: '8589934593',
      negative: -1,
      default: '0 false',
      own: [true, 5],
      assigned: [6, 'seconds'],
    });
  });

  it('protobufjs loaded before lib/int64: nothing is replaced, long.js loads as usual', async () => {
    const out = await inFreshNode(`
      const pb = require('protobufjs/minimal');
      lib('int64/encode');
      out.loaded = longLoaded();
      out.same = pb.util.Long === require('long');`);
    assert.deepEqual(out, { loaded: true, same: true });
  });
});
