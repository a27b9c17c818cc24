// Imported first by the SDK's main module (lib/index.ts): in a standby (the launcher's marker
// in its environment), the boot cache (boot-cache.ts) is installed before the SDK's and the
// shim's modules load. Any other process loads nothing more.
import { warmEnv } from './env';

if (warmEnv.standby !== undefined && process.platform === 'linux') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('./boot-cache') as typeof import('./boot-cache')).openBootCache(warmEnv.standby);
}
