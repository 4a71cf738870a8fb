import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bindPrivate,
  ensureSocketDir,
  isStaleSocket,
  socketPath,
} from '../../../src/shim/socket.js';
import { socketAddress } from '../../../src/shim/socket-address.js';
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

test('socket dir: created 0700, loosened modes tightened, a non-directory refused', () => {
  const base = mkdtempSync(join(tmpdir(), 'sockdir-'));
  try {
    const fresh = join(base, 'a', 's');
    ensureSocketDir(fresh);
    assert.equal(statSync(fresh).mode & 0o7777, 0o700);

    const loose = join(base, 'loose');
    mkdirSync(loose);
    chmodSync(loose, 0o755);
    ensureSocketDir(loose);
    assert.equal(statSync(loose).mode & 0o7777, 0o700);

    // The reference's 0600 has no group or other access: left as it is.
    const reference = join(base, 'ref');
    mkdirSync(reference);
    chmodSync(reference, 0o600);
    ensureSocketDir(reference);
    assert.equal(statSync(reference).mode & 0o7777, 0o600);

    const file = join(base, 'file');
    writeFileSync(file, '');
    assert.throws(() => {
      ensureSocketDir(file);
    });
    const link = join(base, 'link');
    symlinkSync(loose, link);
    assert.throws(() => {
      ensureSocketDir(link);
    }, /not a directory/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('the socket is bound under umask 077, and the umask is restored', () => {
  const base = mkdtempSync(join(tmpdir(), 'sockbind-'));
  const old = process.umask(0o022);
  try {
    const fd = bindPrivate(join(base, 'sock'));
    native.closeFd(fd);
    assert.equal(statSync(join(base, 'sock')).mode & 0o077, 0);
    // Setting it returns the previous one: ours, untouched by bindPrivate.
    assert.equal(process.umask(old), 0o022);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
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
