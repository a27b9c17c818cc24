// What a handler (and an interceptor) is told about the call it serves. Its own module so the
// service descriptors (service.ts) and the server (server.ts) both use it without importing
// each other.
import type { Metadata } from './metadata';
import type { PeerInfo } from './transport';

/** What a handler (and an interceptor) knows about the call it serves. */
export interface CallContext {
  /** Fully-qualified service name. */
  readonly service: string;
  readonly method: string;
  /** `/service/method`, as Go's interceptors see it. */
  readonly fullMethod: string;
  readonly metadata: Metadata;
  /** Aborted when the deadline passes, the client disconnects or the server closes. */
  readonly signal: AbortSignal;
  /** Deadline from the request's timeout_nano, in Date.now() milliseconds. */
  readonly deadline: number | undefined;
  readonly peer: PeerInfo;
}
