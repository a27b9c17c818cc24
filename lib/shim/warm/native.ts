// The addon's warm-start functions (native/linux/warm.cc), typed. Linux only.
import { native } from '../../native';

/** A handover request as a standby receives it. */
export interface WarmRequest {
  kind: 'action' | 'daemon';
  cwd: string;
  /** action: the arguments after the entry script; daemon: the full command line. */
  args: string[];
  env: string[];
  /** action: stdin, stdout, stderr; daemon: the listening socket. Close-on-exec, ours. */
  fds: number[];
}

export interface WarmBinding {
  warmHandDaemon(
    pool: string,
    node: string,
    cwd: string,
    args: string[],
    env: string[],
    fds: number[],
    timeoutMs: number,
  ): { pid: number; reason?: string; skipped?: string };
  warmHello(fd: number, pool: string, stale: boolean): void;
  warmReceive(fd: number, timeoutMs: number): WarmRequest;
  warmReply(fd: number, status: number, final?: boolean): void;
  warmAdopt(pid: number): void;
  warmRenice(nice: number): void;
  warmSetImage(argv: string[], env: string[]): void;
  warmTopUp(
    pool: string,
    target: number,
    maxBoots: number,
    node: string,
    argv: string[],
    env: string[],
  ): void;
}

export const warmNative = native as unknown as WarmBinding;

/** RESULT status of a standby that did nothing (native/warm/protocol.h kDeclined). */
export const DECLINED = -1;
