import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  DAEMON_NODE_FLAGS,
  isAnyMainScript,
  isMainScript,
  MAIN_SCRIPT,
  nodeCommand,
} from '../../../src/shim/node-command.js';

test('Node with the shim flags prints nothing of its own on stderr', () => {
  // A daemon's stderr is containerd's log; V8 warnings about conflicting flags would land there.
  const r = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, '-e', '0'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
});

test('nodeCommand runs the bundle with the shim flags', () => {
  const argv = nodeCommand(['-address', '/a.sock', 'warm']);
  assert.deepEqual(argv, [
    process.execPath,
    ...DAEMON_NODE_FLAGS,
    MAIN_SCRIPT,
    '-address',
    '/a.sock',
    'warm',
  ]);
  assert.ok(isMainScript(MAIN_SCRIPT));
  assert.ok(isAnyMainScript('/elsewhere/lib/node_modules/x/build/src/bundle/main.js'));
  assert.ok(!isMainScript('/elsewhere/lib/node_modules/x/build/src/bundle/main.js'));
});
