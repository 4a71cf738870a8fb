import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSync, writeSync } from 'node:fs';
import { EFD_NONBLOCK, native } from '../../../src/native/index.js';
import { SpliceCopy } from '../../../src/io/splice-copy.js';

const drain = (fd: number): Buffer => {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf);
    } catch {
      break; // EAGAIN: empty
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
};

test('bytes move pipe to pipe until the end of input, exactly', async () => {
  const [srcR, srcW] = native.pipe();
  const [dstR, dstW] = native.pipe();
  native.setNonBlocking(dstW, true);
  native.setNonBlocking(dstR, true);
  const copy = new SpliceCopy(srcR, dstW);
  try {
    const data = Buffer.from('hello, splice\n');
    writeSync(srcW, data);
    native.closeFd(srcW);
    assert.equal(await copy.done, 'eof');
    assert.deepEqual(drain(dstR), data);
  } finally {
    copy.stop();
    for (const fd of [srcR, dstR, dstW]) native.closeFd(fd);
  }
});

test('a full destination stops the copy; reading it resumes the copy, nothing lost', async () => {
  const [srcR, srcW] = native.pipe();
  const [dstR, dstW] = native.pipe();
  for (const fd of [srcW, dstR, dstW]) native.setNonBlocking(fd, true);
  const copy = new SpliceCopy(srcR, dstW);
  try {
    // 64 KiB fill the destination pipe; the next 64 KiB must stay in the source pipe.
    const total = 128 * 1024;
    let written = 0;
    const chunk = Buffer.alloc(4096, 7);
    while (written < total) {
      try {
        written += writeSync(srcW, chunk);
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    // Counted without reading: the copy runs on its own thread and would refill what is read.
    const held = native.unreadBytes(dstR);
    assert.ok(held <= 65536, `the destination holds at most its capacity: ${String(held)}`);
    assert.equal(native.unreadBytes(srcR), total - held, 'the rest waits in the source');
    native.closeFd(srcW);
    let received = 0;
    while (received < total) {
      await new Promise((r) => setTimeout(r, 10));
      received += drain(dstR).length;
    }
    assert.equal(await copy.done, 'eof');
    assert.equal(received, total);
  } finally {
    copy.stop();
    for (const fd of [srcR, dstR, dstW]) native.closeFd(fd);
  }
});

test('fds the kernel cannot splice are reported, so the caller can copy another way', async () => {
  const efd = native.eventfd(1, EFD_NONBLOCK);
  const [dstR, dstW] = native.pipe();
  const copy = new SpliceCopy(efd, dstW);
  try {
    assert.equal(await copy.done, 'fallback');
    assert.equal(copy.error, 'EINVAL');
  } finally {
    copy.stop();
    for (const fd of [efd, dstR, dstW]) native.closeFd(fd);
  }
});

test('a splice refused mid-stream leaves what it did not move in the source', async () => {
  const [srcR, srcW] = native.pipe();
  const [dstR, dstW] = native.pipe();
  try {
    writeSync(srcW, Buffer.from('left in the pipe'));
    native.closeFd(dstR); // Nobody reads the destination any more: EPIPE.
    const copy = new SpliceCopy(srcR, dstW);
    assert.equal(await copy.done, 'fallback');
    assert.equal(copy.error, 'EPIPE');
    assert.equal(drain(srcR).toString(), 'left in the pipe');
  } finally {
    for (const fd of [srcR, srcW, dstW]) native.closeFd(fd);
  }
});

test('bytes move while the event loop is busy, and stop() leaves the rest in the source', async () => {
  const [srcR, srcW] = native.pipe();
  const [dstR, dstW] = native.pipe();
  native.setNonBlocking(dstR, true);
  const copy = new SpliceCopy(srcR, dstW);
  try {
    writeSync(srcW, Buffer.from('moved without the loop'));
    // Block this thread: only a copy that does not need the event loop moves the bytes now.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    assert.equal(drain(dstR).toString(), 'moved without the loop');
    assert.equal(copy.moved, 'moved without the loop'.length);
    copy.stop();
    assert.equal(await copy.done, 'stopped');
    writeSync(srcW, Buffer.from('after stop'));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    assert.equal(drain(dstR).length, 0);
    assert.equal(drain(srcR).toString(), 'after stop');
  } finally {
    copy.stop();
    for (const fd of [srcR, srcW, dstR, dstW]) native.closeFd(fd);
  }
});
