// runc failures in the words containerd-shim-runc-v2 uses, so what the kubelet (or ctr) shows is
// the same whichever shim ran the container: "OCI runtime create failed: <runc's error>", and
// the NOT_FOUND answers containerd expects from Kill on a finished process.
import { Code, TtrpcError } from 'containerd-shim';
import { isRuncError } from 'containerd-shim/runc';

/** Go's Init.runtimeError: `<what>: <runc's last logged error>`, else `<what>: <the failure>`. */
export function runtimeError(err: unknown, what: string): unknown {
  if (!isRuncError(err)) return err;
  const detail = err.runcMessage ?? err.message;
  return new TtrpcError(Code.UNKNOWN, `${what}: ${detail}`, { cause: err });
}

/** Go's checkKillError: a process or container that is gone is NOT_FOUND, the rest UNKNOWN. */
export function killError(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown; runcMessage?: unknown } | null;
  const text = [e?.message, e?.runcMessage].filter((t) => typeof t === 'string').join('\n');
  if (
    e?.code === 'ESRCH' ||
    /os: process already finished|container not running|no such process/i.test(text)
  ) {
    return processFinished();
  }
  if (/does not exist/.test(text))
    return new TtrpcError(Code.NOT_FOUND, 'no such container: not found', { cause: err });
  return new TtrpcError(Code.UNKNOWN, `unknown error after kill: ${String(e?.message ?? err)}`, {
    cause: err,
  });
}

/** What Kill answers for a process that already exited. */
export function processFinished(): TtrpcError {
  return new TtrpcError(Code.NOT_FOUND, 'process already finished: not found');
}
