// The transport implementation of the running platform (only that one is loaded).
import type { Platform } from './transport';

export const platform: Platform =
  process.platform === 'win32'
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./transport-win') as typeof import('./transport-win')).winPlatform
    : // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('./transport-unix') as typeof import('./transport-unix')).unixPlatform;
