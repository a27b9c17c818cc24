// examples/runc-shim's RUNCTS_SHIM_GROUP: which shim a container goes to (the parity suite runs
// a namespace-grouped shim under containerd).
import { strict as assert } from 'node:assert';

import { GROUP_ENV, shimGroup } from '../examples/runc-shim/manager';

describe('runc shim grouping option (RUNCTS_SHIM_GROUP)', () => {
  const saved = process.env[GROUP_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[GROUP_ENV];
    else process.env[GROUP_ENV] = saved;
  });

  it('unset, empty or "container": one shim per container (its id)', () => {
    for (const value of [undefined, '', 'container']) {
      if (value === undefined) delete process.env[GROUP_ENV];
      else process.env[GROUP_ENV] = value;
      assert.equal(shimGroup({ id: 'c1', namespace: 'default' }), 'c1');
    }
  });

  it('"namespace": one shim per namespace, a key no container id can take', () => {
    process.env[GROUP_ENV] = 'namespace';
    assert.equal(shimGroup({ id: 'c1', namespace: 'k8s.io' }), 'namespace:k8s.io');
    assert.equal(
      shimGroup({ id: 'c2', namespace: 'k8s.io' }),
      shimGroup({ id: 'c1', namespace: 'k8s.io' }),
    );
    assert.notEqual(shimGroup({ id: 'c1', namespace: 'other' }), 'namespace:k8s.io');
  });

  it('anything else is a clear error', () => {
    process.env[GROUP_ENV] = 'pod';
    assert.throws(() => shimGroup({ id: 'c1', namespace: 'default' }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /RUNCTS_SHIM_GROUP=pod: expected "namespace" or "container"/,
    });
  });
});
