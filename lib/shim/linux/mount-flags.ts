// mount(2) flags (MS_* from <linux/mount.h>). Their values are the same on every Linux
// architecture, so they are constants here rather than read from the addon: option parsing works
// (and this module loads) on any platform. test/linux-helpers.test.ts checks them against the
// values the addon was compiled with.
export const MS = {
  MS_RDONLY: 0x1,
  MS_NOSUID: 0x2,
  MS_NODEV: 0x4,
  MS_NOEXEC: 0x8,
  MS_SYNCHRONOUS: 0x10,
  MS_REMOUNT: 0x20,
  MS_MANDLOCK: 0x40,
  MS_DIRSYNC: 0x80,
  MS_NOATIME: 0x400,
  MS_NODIRATIME: 0x800,
  MS_BIND: 0x1000,
  MS_MOVE: 0x2000,
  MS_REC: 0x4000,
  MS_SILENT: 0x8000,
  MS_UNBINDABLE: 0x20000,
  MS_PRIVATE: 0x40000,
  MS_SLAVE: 0x80000,
  MS_SHARED: 0x100000,
  MS_RELATIME: 0x200000,
  MS_STRICTATIME: 0x1000000,
} as const;
