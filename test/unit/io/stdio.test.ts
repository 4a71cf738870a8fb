import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStdioTarget } from '../../../src/io/stdio.js';

const io = (stdout: string, stdin = '', stderr = '') => ({
  stdin,
  stdout,
  stderr,
  terminal: false,
});

test('stdio mode comes from the stdout URI', () => {
  assert.deepEqual(parseStdioTarget(io('')), { kind: 'null' });
  assert.deepEqual(parseStdioTarget(io('/run/containerd/fifo/1/c-stdout')), { kind: 'fifo' });
  assert.deepEqual(parseStdioTarget(io('fifo:///x')), { kind: 'fifo' });
  assert.deepEqual(parseStdioTarget(io('file:///var/log/c.log')), {
    kind: 'file',
    path: '/var/log/c.log',
  });
  assert.deepEqual(parseStdioTarget(io('binary:///usr/bin/logger?a=1&b=two')), {
    kind: 'binary',
    path: '/usr/bin/logger',
    args: ['a', '1', 'b', 'two'],
  });
  assert.throws(() => parseStdioTarget(io('tcp://x')), /unknown STDIO scheme tcp/);
});
