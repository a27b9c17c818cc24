// What a standby loads before it waits: the modules the SDK's serving path and `start` load on
// first use (a cold `start` or `delete` keeps them out to start fast; a standby has the time).
/* eslint-disable @typescript-eslint/no-require-imports */
export function preloadServing(): void {
  require('pino'); // the serving log
  require('../../int64/encode');
  require('../../generated/bootstrap'); // start: containerd 2.3's stdin
  require('../../generated/task');
  require('../../generated/ttrpc');
  require('../../generated/events');
}
