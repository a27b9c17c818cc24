// The transport implementation of the running platform.
import type { Platform } from './transport';
import { unixPlatform } from './transport-unix';

export const platform: Platform = unixPlatform;
