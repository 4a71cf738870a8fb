import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStaleSocket, socketAddress, socketPath } from '../../../src/shim/socket.js';
import { native } from '../../../src/native/index.js';

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

test('a refused or missing socket is stale; a live one is not, even when the loop stalls', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sock-test-'));
  try {
    const stalePath = join(dir, 'stale');
    // Bound and closed without unlinking: the file remains, connecting is refused.
    native.closeFd(native.listenUnix(stalePath, 1));
    assert.equal(await isStaleSocket(stalePath), true);
    assert.equal(await isStaleSocket(join(dir, 'missing')), true);

    const livePath = join(dir, 'live');
    const server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(livePath, resolve));
    try {
      const pending = isStaleSocket(livePath);
      // A busy process: the loop stalls before it sees the connect complete (as `start` does
      // under load). This used to pass for a dead socket and the live group was taken over.
      const until = Date.now() + 300;
      while (Date.now() < until) {
        // spin
      }
      assert.equal(await pending, false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
