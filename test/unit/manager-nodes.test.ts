/** The manager's checks of what a node reports about its resources. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { impossibleResources, registrationMismatch } from '../../src/cluster/manager/nodes.js';

test('plausible engines pass; impossible CPU or memory figures are named', () => {
  assert.equal(impossibleResources({ NCPU: 2, MemTotal: 24 * 2 ** 30 }), undefined);
  assert.equal(impossibleResources({ NCPU: 0, MemTotal: 1024 }), 'engine reports impossible resources (NCPU 0)');
  assert.equal(impossibleResources({ NCPU: 2, MemTotal: -5 }), 'engine reports impossible resources (MemTotal -5)');
  assert.equal(impossibleResources({ NCPU: 1e9, MemTotal: 2 ** 60 }), 'engine reports impossible resources (NCPU 1000000000, MemTotal 1152921504606847000)');
  assert.equal(impossibleResources({ NCPU: 1.5, MemTotal: undefined }), 'engine reports impossible resources (NCPU 1.5, MemTotal undefined)');
});

test('a registration claiming other resources than its engine is reported', () => {
  assert.equal(registrationMismatch({ addr: 'a:2376', cpus: 2, memory: 100 }, { NCPU: 2, MemTotal: 100 }), undefined);
  assert.equal(registrationMismatch({ addr: 'a:2376' }, { NCPU: 2, MemTotal: 100 }), undefined);
  assert.equal(
    registrationMismatch({ addr: 'a:2376', cpus: 64, memory: 2 ** 40 }, { NCPU: 2, MemTotal: 100 }),
    'registration disagrees with the engine (64 CPUs registered, engine reports 2; 1099511627776 bytes of memory registered, engine reports 100)',
  );
});
