// containerd.task.v3: the same messages as v2 under the v3 package.
import '../int64/encode';
import * as pb from '../generated/task-v3';

export import taskV3 = pb.containerd.task.v3;
