// node dist/bench/spawn.js [--runs N] [--rss MiB] [--file PATH]: the main thread's synchronous
// time of one process spawn from a Node process of a given resident size (default 60 MiB, about
// a shim daemon's), child_process.spawn against the addon's spawn (spawnProcess: clone with
// CLONE_VM | CLONE_VFORK on Linux, exits through the reaper). The figure that matters for runc
// commands: the time the event loop stands still per spawn. Linux only (the reaper).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import { spawnProcess } from '../lib/shim/monitor';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const runs = Number(arg('--runs', '200'));
const rssMiB = Number(arg('--rss', '60'));
const file = arg('--file', '/bin/true');

// Resident memory the way a daemon has it: heap objects plus touched buffers.
const ballast: unknown[] = [];
while (process.memoryUsage().rss < rssMiB * 1024 * 1024) {
  ballast.push(
    Buffer.alloc(1024 * 1024, 1),
    Array.from({ length: 4096 }, (_, i) => ({ i })),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length * 0.9)];
}

async function viaChildProcess(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(file, [], { stdio: 'ignore' });
  const t = performance.now() - t0;
  await new Promise((resolve) => child.once('exit', resolve));
  return t;
}

async function viaAddon(): Promise<number> {
  const t0 = performance.now();
  const child = spawnProcess(file, [], { stdio: [-1, -1, -1] });
  const t = performance.now() - t0;
  await child.exited;
  return t;
}

async function main(): Promise<void> {
  const cp: number[] = [];
  const addon: number[] = [];
  for (let i = 0; i < 10; i++) {
    await viaChildProcess();
    await viaAddon();
  }
  for (let i = 0; i < runs; i++) {
    cp.push(await viaChildProcess());
    addon.push(await viaAddon());
  }
  const rss = Math.round(process.memoryUsage().rss / 1024 / 1024);
  const line = (label: string, xs: number[]): string =>
    `${label.padEnd(20)} median ${median(xs).toFixed(3)} ms  p90 ${p90(xs).toFixed(3)} ms`;
  console.log(`spawn ${file}, ${runs} runs each, alternating, RSS ${rss} MiB`);
  console.log(line('child_process.spawn', cp));
  console.log(line('addon spawn', addon));
  console.log(`ratio (addon / child_process) ${(median(addon) / median(cp)).toFixed(3)}`);
  void ballast;
}

void main();
