// containerd-shim: write containerd runtime v2 shims in TypeScript.
export * from './ttrpc';
export { int64ToBigInt, int64ToNumber } from './proto/int64';
