import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  mkdtempSync,
  readSync,
  rmSync,
  writeFileSync,
  readFileSync,
  writeSync,
  openSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native, POLL_READABLE, POLL_WRITABLE } from '../../../src/native/index.js';

test('pipe gives a working close-on-exec pair', () => {
  const [r, w] = native.pipe();
  writeSync(w, 'abc');
  const buf = Buffer.alloc(3);
  assert.equal(readSync(r, buf), 3);
  assert.equal(buf.toString(), 'abc');
  native.closeFd(r);
  native.closeFd(w);
});

test('listenUnix + SCM_RIGHTS round trip passes a usable fd', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fdpass-'));
  try {
    const path = join(dir, 's.sock');
    const lfd = native.listenUnix(path, 4);
    assert.throws(() => native.listenUnix(path, 4), { code: 'EADDRINUSE' });
    assert.throws(() => native.acceptRecvFd(lfd), { code: 'EAGAIN' });
    const file = join(dir, 'payload');
    writeFileSync(file, 'passed over the socket');
    const sock = connect(path);
    await new Promise((resolve) => sock.once('connect', resolve));
    const payloadFd = openSync(file, 'r');
    const sockFd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    native.sendFd(sockFd, payloadFd, 'label');
    closeSync(payloadFd);
    const got = native.acceptRecvFd(lfd);
    assert.equal(got.name, 'label');
    assert.equal(readFileSync(got.fd, 'utf8'), 'passed over the socket');
    closeSync(got.fd);
    sock.destroy();
    native.closeFd(lfd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('setWinsize rejects a non-tty, eventfd counts, spawn reports ENOENT', () => {
  const [r, w] = native.pipe();
  assert.throws(
    () => {
      native.setWinsize(r, 24, 80);
    },
    { code: 'ENOTTY' },
  );
  native.closeFd(r);
  native.closeFd(w);
  const efd = native.eventfd(0, 0);
  writeSync(efd, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]));
  const buf = Buffer.alloc(8);
  readSync(efd, buf);
  assert.equal(buf.readBigUInt64LE(), 2n);
  closeSync(efd);
  assert.throws(
    () => native.spawn({ file: '/nonexistent', argv: ['x'], env: [], fds: [-1, -1, -1] }),
    {
      code: 'ENOENT',
    },
  );
});

test('mount and umount2 a tmpfs (root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnt-'));
  try {
    native.mount('tmpfs', dir, 'tmpfs', 0, 'size=1m');
    writeFileSync(join(dir, 'f'), 'x');
    native.umount2(dir, 0);
    assert.throws(() => readFileSync(join(dir, 'f')), { code: 'ENOENT' });
    assert.throws(
      () => {
        native.umount2(dir, 0);
      },
      { code: 'EINVAL' },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FdWatcher reports readiness of a pipe and is silent once closed', async () => {
  const [r, w] = native.pipe();
  const seen: { status: number; events: number }[] = [];
  const watcher = new native.FdWatcher(r, (status, events) => {
    seen.push({ status, events });
    watcher.start(0); // level-triggered: stop until the test asks again
  });
  watcher.start(POLL_READABLE | POLL_WRITABLE); // a read end is never writable
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(seen, [], 'an empty pipe is not readable');
  writeSync(w, 'x');
  for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((res) => setTimeout(res, 5));
  assert.deepEqual(seen, [{ status: 0, events: POLL_READABLE }]);
  watcher.start(POLL_READABLE);
  watcher.close();
  watcher.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(seen.length, 1, 'no callback after close');
  assert.throws(
    () => {
      watcher.start(POLL_READABLE);
    },
    { code: 'EBADF' },
  );
  native.closeFd(r);
  native.closeFd(w);
});
