// containerd generations the suites run against: 1.6 is bookworm's installed package; 1.7 (trixie)
// and 2.1 (sid) are unpacked, not installed, by scripts/debian-peers.sh (called from
// scripts/ci-setup.sh) and run from there with bookworm's runc.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { findCommand, requireCondition } from './env';

const top = path.resolve(__dirname, '..', '..', '..');
const script = path.join(top, 'scripts', 'debian-peers.sh');

export type ContainerdGeneration = '1.6' | '1.7' | '2.1';

/** Every generation, oldest first. `CONTAINERD_VERSIONS=1.6,2.1` narrows a local run. */
export function containerdGenerations(): ContainerdGeneration[] {
  const all: ContainerdGeneration[] = ['1.6', '1.7', '2.1'];
  const only = process.env.CONTAINERD_VERSIONS;
  if (!only) return all;
  return all.filter((g) => only.split(',').includes(g));
}

export interface ContainerdPeer {
  generation: ContainerdGeneration;
  containerd: string;
  ctr: string;
  /** That release's own containerd-shim-runc-v2, the reference shim. */
  shimRuncV2: string;
  /** Directory holding those three, to put first on containerd's PATH. */
  binDir: string;
}

const SUITES: Record<Exclude<ContainerdGeneration, '1.6'>, string> = {
  '1.7': 'trixie',
  '2.1': 'sid',
};

/** Where scripts/debian-peers.sh unpacked `suite` (whether or not it has run). */
export function peerRoot(suite: string): string {
  return execFileSync('bash', [script, '--root', suite], { encoding: 'utf8' }).trim();
}

function fromDir(generation: ContainerdGeneration, binDir: string): ContainerdPeer | undefined {
  const peer = {
    generation,
    binDir,
    containerd: path.join(binDir, 'containerd'),
    ctr: path.join(binDir, 'ctr'),
    shimRuncV2: path.join(binDir, 'containerd-shim-runc-v2'),
  };
  return [peer.containerd, peer.ctr, peer.shimRuncV2].every((f) => fs.existsSync(f))
    ? peer
    : undefined;
}

/** The binaries of one generation, or undefined when they are not there. */
export function findContainerd(generation: ContainerdGeneration): ContainerdPeer | undefined {
  if (generation === '1.6') {
    const containerd = findCommand('containerd');
    return containerd ? fromDir('1.6', path.dirname(containerd)) : undefined;
  }
  return fromDir(generation, path.join(peerRoot(SUITES[generation]), 'usr', 'bin'));
}

/** Like findContainerd, but skips the test (fails under CI) naming what is missing. */
export function requireContainerd(
  ctx: Mocha.Context,
  generation: ContainerdGeneration,
): ContainerdPeer {
  const peer = findContainerd(generation);
  const hint =
    generation === '1.6'
      ? 'apt-get install containerd'
      : `bash scripts/debian-peers.sh ${SUITES[generation]} containerd`;
  requireCondition(ctx, peer !== undefined, `containerd ${generation} not found`, hint);
  return peer!;
}

const CRI_PROTO = 'usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto';

/**
 * The CRI v1 `api.proto` of Debian's golang-k8s-cri-api-dev (sid, else trixie), unpacked by
 * scripts/debian-peers.sh; undefined when it is not there.
 */
export function findCriProto(): string | undefined {
  for (const suite of ['sid', 'trixie']) {
    const file = path.join(peerRoot(suite), CRI_PROTO);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}
