// The transport implementation of the running platform.
import type { Platform } from './transport';
import { unixPlatform } from './transport-unix';
import { winPlatform } from './transport-win';

export const platform: Platform = process.platform === 'win32' ? winPlatform : unixPlatform;
