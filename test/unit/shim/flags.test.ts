import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, parseFlags } from '../../../src/shim/flags.js';

test('parses containerd 1.6 start argv', () => {
  const f = parseFlags([
    '-namespace',
    'default',
    '-address',
    '/run/containerd/containerd.sock',
    '-publish-binary',
    '/usr/bin/containerd',
    '-id',
    'c1',
    '-debug',
    'start',
  ]);
  assert.equal(f.namespace, 'default');
  assert.equal(f.address, '/run/containerd/containerd.sock');
  assert.equal(f.publishBinary, '/usr/bin/containerd');
  assert.equal(f.id, 'c1');
  assert.equal(f.debug, true);
  assert.equal(f.action, 'start');
});

test('accepts --flag, -flag=value and bool=false like Go flag', () => {
  const f = parseFlags([
    '--namespace=k8s.io',
    '--id',
    'x',
    '-debug=false',
    '-bundle=/b',
    'delete',
    'extra',
  ]);
  assert.equal(f.namespace, 'k8s.io');
  assert.equal(f.id, 'x');
  assert.equal(f.debug, false);
  assert.equal(f.bundle, '/b');
  assert.equal(f.action, 'delete');
  assert.deepEqual(f.rest, ['extra']);
});

test('stops at -- and leaves the action empty for the daemon', () => {
  assert.equal(parseFlags(['-namespace', 'n', '--', 'start']).action, 'start');
  assert.equal(parseFlags(['-namespace', 'n', '-id', 'x']).action, '');
  assert.equal(parseFlags(['-v']).version, true);
  assert.equal(parseFlags(['-info']).info, true);
});

test('rejects unknown flags, missing values and bad booleans', () => {
  assert.throws(() => parseFlags(['-nope']), FlagError);
  assert.throws(() => parseFlags(['-id']), FlagError);
  assert.throws(() => parseFlags(['-debug=maybe']), FlagError);
  assert.throws(() => parseFlags(['---id', 'x']), FlagError);
});
