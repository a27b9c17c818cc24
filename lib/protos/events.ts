// containerd.events: TaskCreate, TaskExit, ... (what shims publish).
import '../int64/encode';
import * as pb from '../generated/events';

export import events = pb.containerd.events;
