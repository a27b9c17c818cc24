// Linux helpers for shims: rootfs mounts, cgroups (metrics, shim cgroup, OOM score) and OOM
// notifications — the counterparts of the Rust crate's `mount` and `cgroup` modules.
export * from './mount';
export * from './cgroup';
export * from './oom';
