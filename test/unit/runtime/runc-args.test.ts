// The checkpoint/restore command lines, in go-runc's exact order (the differential integration
// test checks them against the reference shim too, through a recording runc wrapper).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkpointArgv, restoreArgv } from '../../../src/runtime/runc.js';

const base = {
  imagePath: '/img',
  workPath: '/work',
  exit: false,
  openTcp: false,
  externalUnixSockets: false,
  terminal: false,
  fileLocks: false,
  emptyNamespaces: [] as string[],
};

test('checkpoint: defaults leave the container running', () => {
  assert.deepEqual(checkpointArgv('c1', base), [
    'checkpoint',
    '--image-path',
    '/img',
    '--work-path',
    '/work',
    '--leave-running',
    'c1',
  ]);
});

test('checkpoint: every option, and exit drops --leave-running', () => {
  assert.deepEqual(
    checkpointArgv('c1', {
      ...base,
      exit: true,
      openTcp: true,
      externalUnixSockets: true,
      terminal: true,
      fileLocks: true,
      emptyNamespaces: ['network', 'ipc'],
    }),
    [
      'checkpoint',
      '--image-path',
      '/img',
      '--work-path',
      '/work',
      '--tcp-established',
      '--ext-unix-sk',
      '--shell-job',
      '--file-locks',
      '--empty-ns',
      'network',
      '--empty-ns',
      'ipc',
      'c1',
    ],
  );
});

const restore = {
  imagePath: '/img',
  workPath: '/b/work',
  parentPath: '',
  pidFile: '/b/init.pid',
  bundle: '/b',
  noPivot: false,
  stdio: [-1, -1, -1] as [number, number, number],
};

test('restore: go-runc order with the single-dash -no-subreaper', () => {
  assert.deepEqual(restoreArgv('c1', restore), [
    'restore',
    '--image-path',
    '/img',
    '--work-path',
    '/b/work',
    '--detach',
    '--pid-file',
    '/b/init.pid',
    '-no-subreaper',
    '--bundle',
    '/b',
    'c1',
  ]);
});

test('restore: parent path, console socket, no-pivot; empty work path omitted', () => {
  assert.deepEqual(
    restoreArgv('c1', {
      ...restore,
      workPath: '',
      parentPath: '/parent',
      consoleSocket: '/tmp/console.sock',
      noPivot: true,
    }),
    [
      'restore',
      '--image-path',
      '/img',
      '--parent-path',
      '/parent',
      '--detach',
      '--pid-file',
      '/b/init.pid',
      '--console-socket',
      '/tmp/console.sock',
      '--no-pivot',
      '-no-subreaper',
      '--bundle',
      '/b',
      'c1',
    ],
  );
});
