// containerd's task API messages (one generated module; see ./index.ts for all groups).
import '../int64/encode';
import * as pb from '../generated/task';

/** containerd.task.v2: the shim Task API's requests and responses. */
export import task = pb.containerd.task.v2;
/** containerd.types: Mount and friends. */
export import types = pb.containerd.types;
/** containerd.v1.types: task Status and ProcessInfo. */
export import taskTypes = pb.containerd.v1.types;
/** google.protobuf well-known types (Any, Timestamp, Empty). */
export import protobuf = pb.google.protobuf;
