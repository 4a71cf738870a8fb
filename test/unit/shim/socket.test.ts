import { test } from 'node:test';
import assert from 'node:assert/strict';
import { socketAddress, socketPath } from '../../../src/shim/socket.js';

test('socket address matches the reference hash (spec example)', () => {
  const address = socketAddress('/run/containerd/containerd.sock', 'k8s.io', '0123abcd');
  assert.equal(
    address,
    'unix:///run/containerd/s/48e2587efba6512f6445a3c9f275a26bd275dbb5c4d690f9c54bf5c95d13b5b5',
  );
  assert.equal(socketPath(address).length, 82);
});

test('path.Join cleaning applies before hashing', () => {
  assert.equal(
    socketAddress('/run/containerd//containerd.sock/', 'k8s.io', '0123abcd'),
    socketAddress('/run/containerd/containerd.sock', 'k8s.io', '0123abcd'),
  );
});
