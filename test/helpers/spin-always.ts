// A mocha --require hook (test/ttrpc-polling.test.ts): busy polling spins on every wait, for its
// whole bound, however busy the CPU, so the suites it runs exercise the spinning path on every
// call; at exit the spin counts go to the file named by SPIN_STATS_FILE.
import * as fs from 'node:fs';

import { posix } from '../../lib/native';

posix.spinAlways(true);
const out = process.env.SPIN_STATS_FILE;
if (out) process.once('exit', () => fs.writeFileSync(out, JSON.stringify(posix.spinStats())));
