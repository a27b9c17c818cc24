// containerd.runc.v1: runc shim Options, CheckpointOptions, ProcessDetails.
import '../proto/int64';
import * as pb from '../generated/runc';

export import runc = pb.containerd.runc.v1;
