// The Task service a shim implements: containerd.task.v2.Task's 17 RPCs. Every method is optional;
// those a shim leaves out answer UNIMPLEMENTED, which containerd treats as "not supported".
import type { TaskHandlers } from '../generated/task-service';

export type { TaskHandlers };

/** A Task implementation: any subset of the 17 task RPCs (class instances work, `this` is kept). */
export type Task = Partial<TaskHandlers>;

/** The names of the Task RPCs, in the order of shim.proto. */
export const TASK_METHODS = [
  'state',
  'create',
  'start',
  'delete',
  'pids',
  'pause',
  'resume',
  'checkpoint',
  'kill',
  'exec',
  'resizePty',
  'closeIO',
  'update',
  'wait',
  'stats',
  'connect',
  'shutdown',
] as const satisfies readonly (keyof TaskHandlers)[];
