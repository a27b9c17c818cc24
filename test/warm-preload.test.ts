// What a standby does before it waits (lib/shim/warm/preload.ts): the serving path's message
// modules resolved the way the daemon will ask for them, and Create's request decoded once,
// leaving nothing behind.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { warmPathFunctions } from '../lib/shim/warm/preload';
import { rehearseCreateDecode } from '../lib/shim/warm/warmup';

const dist = path.resolve(__dirname, '..', 'lib');

/**
 * What this process holds open (handles, requests, timers), sorted. Not 'Immediate': node's
 * own immediates (such as the one that runs N-API finalizers after a garbage collection) come
 * and go during any call, whatever it does (an extra one was seen once in a quiet CI run).
 */
function openResources(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r !== 'Immediate')
    .sort();
}

/**
 * In a fresh node: optionally the preload, then how many module lookups that go to the file
 * system (misses of node's path cache: stats, package.json reads) the daemon's first Connect,
 * Create and Start and its first event make, as the server and the publisher get their messages.
 */
function lookupsOnFirstUse(preload: boolean): number {
  const script = `
    const Module = require('node:module');
    ${preload ? `require(${JSON.stringify(path.join(dist, 'shim/warm/preload.js'))}).preloadServing();` : ''}
    const { TaskService } = require(${JSON.stringify(path.join(dist, 'generated/task-service.js'))});
    const { EventsService } = require(${JSON.stringify(path.join(dist, 'generated/events-service.js'))});
    let n = 0;
    const findPath = Module._findPath;
    Module._findPath = function (request, paths, ...rest) {
      if (!((request + '\\x00' + paths.join('\\x00')) in Module._pathCache)) n++;
      return findPath.call(this, request, paths, ...rest);
    };
    const { connect, create, start } = TaskService.methods;
    for (const m of [connect, create, start, EventsService.methods.forward]) {
      if (typeof m.requestType.decode !== 'function' || typeof m.responseType.encode !== 'function')
        throw new Error('no message type');
    }
    process.stdout.write(String(n));
  `;
  const env = { ...process.env };
  delete env.MAX_SHIM_VERSION; // containerd 1.6: the v2 API
  return Number(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }));
}

describe('standby preload', () => {
  it("resolves the Task and Events services' messages: the daemon's first requests and event look up no file", () => {
    assert.ok(lookupsOnFirstUse(false) > 0, 'without the preload the first use looks files up');
    assert.equal(lookupsOnFirstUse(true), 0);
  });

  it('loads nothing of pino: a daemon loads it with its first line at an enabled level', () => {
    const script = `
      require(${JSON.stringify(path.join(dist, 'shim/warm/preload.js'))}).preloadServing();
      const pino = Object.keys(require.cache).filter((k) => /[\\\\/]pino[\\\\/]/.test(k));
      process.stdout.write(JSON.stringify(pino));`;
    assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }), '[]');
  });

  it("runs node's path functions only (after a boot from the cache): nothing opened, same answer each time", () => {
    const before = openResources();
    const dir = '/run/containerd/io.containerd.runtime.v2.task/default';
    const one = `${dir}/c0/rootfs`.length + dir.length;
    assert.equal(warmPathFunctions(8), 8 * one);
    assert.equal(warmPathFunctions(), warmPathFunctions());
    assert.deepEqual(openResources(), before);
  });

  it('decodes a Create request (rootfs, runc options) and leaves nothing open', () => {
    const before = openResources();
    assert.equal(rehearseCreateDecode(), 1);
    assert.deepEqual(openResources(), before);
  });
});
