// containerd's protobuf messages, grouped by API. Each group is its own module
// (`containerd-shim/protos/task`, `/events`, `/runc`, `/cgroups`, `/bootstrap`, `/task-v3`), so a
// shim loads only what it uses; this module loads them all.
export * from './task';
export * from './task-v3';
export * from './events';
export * from './runc';
export * from './cgroups';
export * from './bootstrap';
