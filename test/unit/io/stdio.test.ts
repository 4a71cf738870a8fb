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

test('only stdout decides the mode; stdin alone is FIFO mode', () => {
  assert.deepEqual(parseStdioTarget(io('', '/run/fifo/c-stdin')), { kind: 'fifo' });
  assert.deepEqual(parseStdioTarget(io('', '', '/run/fifo/c-stderr')), { kind: 'fifo' });
  assert.deepEqual(parseStdioTarget(io('file:///l', '', 'tcp://ignored')), {
    kind: 'file',
    path: '/l',
  });
});

test('file:// paths are percent-decoded', () => {
  assert.deepEqual(parseStdioTarget(io('file:///var/log/my%20dir/c.log')), {
    kind: 'file',
    path: '/var/log/my dir/c.log',
  });
});

test('binary:// query: decoded values, empty values, first value of a repeated key', () => {
  assert.deepEqual(parseStdioTarget(io('binary:///opt/log%20ger?tag=a%26b&flag&k=1&k=2')), {
    kind: 'binary',
    path: '/opt/log ger',
    args: ['tag', 'a&b', 'flag', '', 'k', '1'],
  });
  assert.deepEqual(parseStdioTarget(io('binary:///usr/bin/logger')), {
    kind: 'binary',
    path: '/usr/bin/logger',
    args: [],
  });
});

test('bad schemes and unparsable URIs give a clear error', () => {
  assert.throws(() => parseStdioTarget(io('http://example.com/x')), {
    message: 'unknown STDIO scheme http',
  });
  assert.throws(() => parseStdioTarget(io('syslog:///dev/log')), {
    message: 'unknown STDIO scheme syslog',
  });
  assert.throws(
    () => parseStdioTarget(io('file://[bad')),
    /unable to parse stdout uri: file:\/\/\[bad/,
  );
});
