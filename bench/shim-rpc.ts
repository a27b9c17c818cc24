// Helper of bench/shim.ts: what a Task call costs a running shim. Through the same client for
// every runtime (this package's TaskClient on the shim's socket, like containerd's): State calls
// one after another (latency), then a few calls per second as containerd and a kubelet make them
// (the shim's CPU time per call: all its threads' run time from /proc/<pid>/task/*/schedstat),
// then nothing (the shim's CPU time while idle: timers, polling).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Client, TaskClient } from '../lib';

export interface RpcStats {
  label: string;
  /** Serial State calls. */
  calls: number;
  p50Us: number;
  p99Us: number;
  /** CPU ms (user + system) the shim spent per call while paced. */
  cpuMsPerCall: number;
  /** Paced rate, calls per second. */
  pacedRate: number;
  /** CPU ms per minute while idle. */
  idleCpuMsPerMin: number;
}

/** CPU time of a process's live threads, ms (schedstat: ns on the CPU, user and system). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited meanwhile
    }
  }
  return ns / 1e6;
}

/** The shim's address, from the bundle (bootstrap.json on containerd 2.3+, else `address`). */
function shimAddress(bundle: string): string {
  try {
    const b = JSON.parse(fs.readFileSync(path.join(bundle, 'bootstrap.json'), 'utf8')) as {
      address: string;
    };
    return b.address;
  } catch {
    return fs.readFileSync(path.join(bundle, 'address'), 'utf8').trim();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

export interface RpcOptions {
  serialCalls: number;
  pacedRate: number;
  pacedMs: number;
  idleMs: number;
}

/** Measures one running container's shim (`pid`) through its bundle's address. */
export async function measureRpc(
  label: string,
  id: string,
  bundle: string,
  pid: number,
  o: RpcOptions,
): Promise<RpcStats> {
  const client = await Client.connect(shimAddress(bundle));
  try {
    const task = new TaskClient(client);
    for (let i = 0; i < 20; i++) await task.state({ id }); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < o.serialCalls; i++) {
      const t = process.hrtime.bigint();
      await task.state({ id });
      samples.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    const interval = 1000 / o.pacedRate;
    const before = cpuMs(pid);
    const paced = Math.round(o.pacedMs / interval);
    for (let i = 0; i < paced; i++) {
      await task.state({ id });
      await sleep(interval);
    }
    const perCall = (cpuMs(pid) - before) / paced;
    const idleBefore = cpuMs(pid);
    await sleep(o.idleMs);
    const idle = ((cpuMs(pid) - idleBefore) * 60_000) / o.idleMs;
    return {
      label,
      calls: samples.length,
      p50Us: quantile(samples, 0.5),
      p99Us: quantile(samples, 0.99),
      cpuMsPerCall: perCall,
      pacedRate: o.pacedRate,
      idleCpuMsPerMin: idle,
    };
  } finally {
    client.close();
  }
}
