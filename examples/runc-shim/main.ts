// containerd-shim-runcts-v2: a runc shim written against this package's public API.
import { run } from 'containerd-shim';
import { RuncShim, preload, warmup } from './manager';

void run('io.containerd.runcts.v2', RuncShim, { preload, warmup });
