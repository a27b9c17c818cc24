// The running platform's shim runtime parts (platform-api.ts): platform-unix.ts (Linux, macOS,
// the BSDs) or platform-win.ts; only that one is loaded. The same pattern as lib/ttrpc/platform.ts
// for the TTRPC transports. What only Linux has (subreaper, reaper) is decided by the addon's
// layers (lib/native), not by the OS name.
import type { ShimPlatform } from './platform-api';

export const platform: ShimPlatform =
  process.platform === 'win32'
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./platform-win') as typeof import('./platform-win')).winShim
    : // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./platform-unix') as typeof import('./platform-unix')).unixShim;
