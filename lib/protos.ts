// containerd's protobuf messages, grouped by API (each group is a separately loaded module).
import './proto/int64';
import * as bootstrapPb from './generated/bootstrap';
import * as cgroupsPb from './generated/cgroups';
import * as eventsPb from './generated/events';
import * as runcPb from './generated/runc';
import * as taskPb from './generated/task';
import * as taskV3Pb from './generated/task-v3';

/** containerd.task.v2: the shim Task API's requests and responses. */
export import task = taskPb.containerd.task.v2;
/** containerd.task.v3: the same messages under the v3 package. */
export import taskV3 = taskV3Pb.containerd.task.v3;
/** containerd.types: Mount and friends. */
export import types = taskPb.containerd.types;
/** containerd.v1.types: task Status and ProcessInfo. */
export import taskTypes = taskPb.containerd.v1.types;
/** containerd.events: TaskCreate, TaskExit, ... */
export import events = eventsPb.containerd.events;
/** containerd.runc.v1: runc shim Options, CheckpointOptions, ProcessDetails. */
export import runc = runcPb.containerd.runc.v1;
/** io.containerd.cgroups.v1 metrics. */
export import cgroupsV1 = cgroupsPb.io.containerd.cgroups.v1;
/** io.containerd.cgroups.v2 metrics. */
export import cgroupsV2 = cgroupsPb.io.containerd.cgroups.v2;
/** containerd.runtime.bootstrap.v1 (containerd 2.3+ start protocol). */
export import bootstrap = bootstrapPb.containerd.runtime.bootstrap.v1;
/** containerd.types of the bootstrap bundle: RuntimeInfo (what `-info` prints). */
export import introspection = bootstrapPb.containerd.types;
/** google.protobuf well-known types (Any, Timestamp, Empty). */
export import protobuf = taskPb.google.protobuf;
