// cgroup v1 and v2 metrics (what the Stats RPC carries).
import '../int64/encode';
import * as pb from '../generated/cgroups';

/** io.containerd.cgroups.v1 metrics. */
export import cgroupsV1 = pb.io.containerd.cgroups.v1;
/** io.containerd.cgroups.v2 metrics. */
export import cgroupsV2 = pb.io.containerd.cgroups.v2;
