// containerd.runc.v1: runc shim Options, CheckpointOptions, ProcessDetails.
import '../int64/encode';
import * as pb from '../generated/runc';

export import runc = pb.containerd.runc.v1;
