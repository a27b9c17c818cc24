// containerd.events: TaskCreate, TaskExit, ... (what shims publish).
import '../proto/int64';
import * as pb from '../generated/events';

export import events = pb.containerd.events;
