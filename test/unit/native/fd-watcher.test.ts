// The native uv_poll watcher: it fires on readability without blocking a thread, stops firing
// once closed, and leaves no fd behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeSync } from 'node:fs';
import { EFD_NONBLOCK, POLL_READABLE, native } from '../../../src/native/index.js';
import { fdCount } from '../../helpers/leaks.js';

const bump = (efd: number, n: number): void => {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(BigInt(n));
  writeSync(efd, buf);
};

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Watchers are unref'd (they never keep the shim alive), so hold the loop open while waiting. */
async function held<T>(p: Promise<T>): Promise<T> {
  const timer = setInterval(() => undefined, 1000);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}

test('FdWatcher reports an eventfd as readable; eventfdRead drains it', async () => {
  const efd = native.eventfd(0, EFD_NONBLOCK);
  const seen: number[] = [];
  let resolveFirst!: () => void;
  const first = new Promise<void>((resolve) => (resolveFirst = resolve));
  const watcher = new native.FdWatcher(efd, (status) => {
    assert.equal(status, 0);
    seen.push(native.eventfdRead(efd));
    resolveFirst();
  });
  watcher.start(POLL_READABLE);
  watcher.unref();
  try {
    assert.equal(native.eventfdRead(efd), 0, 'nothing pending: EAGAIN reads as 0');
    bump(efd, 3);
    await held(first);
    assert.deepEqual(seen, [3]);
    // Drained: no further callback until the next write.
    await tick();
    await tick();
    assert.deepEqual(seen, [3]);
  } finally {
    watcher.close();
    native.closeFd(efd);
  }
});

test('a closed FdWatcher never fires again, and close is idempotent', async () => {
  const efd = native.eventfd(0, EFD_NONBLOCK);
  let calls = 0;
  const watcher = new native.FdWatcher(efd, () => {
    calls++;
    native.eventfdRead(efd);
  });
  watcher.start(POLL_READABLE);
  watcher.close();
  watcher.close();
  bump(efd, 1);
  await tick();
  await tick();
  assert.equal(calls, 0);
  assert.equal(native.eventfdRead(efd), 1, 'the write is still pending: nobody read it');
  native.closeFd(efd);
});

test('many watchers started and stopped leave the fd count at its baseline', async () => {
  const before = fdCount();
  for (let i = 0; i < 200; i++) {
    const efd = native.eventfd(0, EFD_NONBLOCK);
    const watcher = new native.FdWatcher(efd, () => native.eventfdRead(efd));
    watcher.start(POLL_READABLE);
    watcher.unref();
    bump(efd, 1);
    if (i % 2 === 0) await tick();
    watcher.close();
    native.closeFd(efd);
  }
  await tick();
  assert.equal(fdCount(), before);
});

test('bad arguments throw', () => {
  assert.throws(() => new native.FdWatcher('x' as unknown as number, () => undefined), TypeError);
  assert.throws(() => new native.FdWatcher(-1, () => undefined), { syscall: 'uv_poll_init' });
});

test('a process with an active watcher exits on its own, cleanly (teardown hook)', () => {
  const addon = new URL('../../../src/native/index.js', import.meta.url).href;
  const script = `
    const { native, EFD_NONBLOCK } = await import(${JSON.stringify(addon)});
    const efd = native.eventfd(0, EFD_NONBLOCK);
    globalThis.w = new native.FdWatcher(efd, () => native.eventfdRead(efd));
    globalThis.w.start(1);
    globalThis.w.unref();
    const { writeSync } = await import('node:fs');
    writeSync(efd, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60000,
  });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});
