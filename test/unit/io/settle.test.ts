import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSync, writeSync } from 'node:fs';
import { native } from '../../../src/native/index.js';
import { settle, unreadIn } from '../../../src/io/settle.js';

const withPipe = async (body: (r: number, w: number) => Promise<void> | void): Promise<void> => {
  const [r, w] = native.pipe();
  native.setNonBlocking(r, true);
  try {
    await body(r, w);
  } finally {
    native.closeFd(r);
    native.closeFd(w);
  }
};

test('unreadIn counts the bytes waiting in a pipe, through either end, and skips closed fds', async () => {
  await withPipe((r, w) => {
    writeSync(w, Buffer.alloc(1000, 1));
    assert.equal(unreadIn([r]), 1000);
    assert.equal(unreadIn([w]), 1000);
    assert.equal(unreadIn([-1, 999_999]), 0);
  });
});

test('settle waits while a reader drains the pipe, and ends once it is empty', async () => {
  await withPipe(async (r, w) => {
    writeSync(w, Buffer.alloc(64 * 1024, 2));
    const buf = Buffer.alloc(4096);
    // 4 KiB every 5 ms: slower than the first look, never quiet for the 2 s allowed.
    const reader = setInterval(() => {
      try {
        readSync(r, buf);
      } catch {
        // empty
      }
    }, 5);
    try {
      await settle({ pending: () => unreadIn([r]) }, 2000, 60_000);
      assert.equal(unreadIn([r]), 0);
    } finally {
      clearInterval(reader);
    }
  });
});

test('settle gives up when nothing moves for the quiet time: the bytes stay where they are', async () => {
  await withPipe(async (r, w) => {
    writeSync(w, Buffer.alloc(5000, 3));
    await settle({ pending: () => unreadIn([r]) }, 50, 60_000);
    assert.equal(unreadIn([r]), 5000);
  });
});

test('settle ends at the cap even while something keeps moving', async () => {
  let pending = 1;
  await settle({ pending: () => ++pending }, 60_000, 100);
  assert.ok(pending > 1);
});
