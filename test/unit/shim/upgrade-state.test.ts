import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  StateError,
  UPGRADE_STATE_FORMAT,
  parseUpgradeState,
  readStateFd,
} from '../../../src/shim/upgrade/state.js';
import { replayable } from '../../../src/shim/upgrade/handover.js';
import { parseDaemon } from '../../../src/cli/upgrade.js';

const valid = {
  format: UPGRADE_STATE_FORMAT,
  from: { version: '1', revision: 'r', buildId: 'b' },
  flags: {},
  binary: '/bin/x',
  logFd: -1,
  server: { listenFds: [3], connections: [] },
  events: [],
  droppedEvents: 0,
  tasks: { containers: [], pendingInitExits: [] },
  expected: [],
};

test('a state document of the known format loads', () => {
  assert.equal(parseUpgradeState(JSON.stringify(valid)).binary, '/bin/x');
});

test('an unknown format, a missing part or no listening socket is refused with the reason', () => {
  assert.throws(
    () => parseUpgradeState(JSON.stringify({ ...valid, format: UPGRADE_STATE_FORMAT + 1 })),
    (err: unknown) => err instanceof StateError && /format 2 is not known/.test(err.message),
  );
  assert.throws(() => parseUpgradeState(JSON.stringify({ ...valid, tasks: undefined })), /tasks/);
  assert.throws(
    () =>
      parseUpgradeState(JSON.stringify({ ...valid, server: { listenFds: [], connections: [] } })),
    /listening socket/,
  );
  assert.throws(() => parseUpgradeState('{'), /not JSON/);
});

test('the state is read from offset 0 whatever the fd offset (the check shares the fd)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'state-'));
  const fd = openSync(join(dir, 's'), 'w+');
  try {
    writeSync(fd, 'hello');
    assert.equal(readStateFd(fd), 'hello');
    assert.equal(readStateFd(fd), 'hello');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true });
  }
});

test('only Task Waits are replayed by the next image', () => {
  assert.ok(replayable('containerd.task.v2.Task', 'Wait'));
  assert.ok(replayable('containerd.task.v3.Task', 'Wait'));
  assert.ok(!replayable('containerd.task.v2.Task', 'Kill'));
  assert.ok(!replayable('tsshim.group.v1.Group', 'Wait'));
});

test('tsshim upgrade finds daemons by their command line, never start/delete/warm/spare', () => {
  const node = ['/usr/bin/node', '--max-old-space-size=64', '/opt/p/build/src/main.js'];
  const flags = ['-namespace', 'ns', '-id', 'c1', '-address', '/run/c.sock'];
  assert.deepEqual(parseDaemon(7, [...node, ...flags]), {
    pid: 7,
    namespace: 'ns',
    id: 'c1',
    address: '/run/c.sock',
  });
  assert.equal(parseDaemon(7, [...node, ...flags, 'start']), undefined);
  assert.equal(parseDaemon(7, [...node, ...flags, 'delete']), undefined);
  assert.equal(parseDaemon(7, [...node, '-address', '/run/c.sock', 'warm']), undefined);
  assert.equal(parseDaemon(7, [...node, 'spare']), undefined);
  assert.equal(parseDaemon(7, ['/usr/bin/sleep', '100']), undefined);
  // A title cut short still names a daemon.
  assert.equal(parseDaemon(7, [...node, '-namespace', 'ns', '-i'])?.namespace, 'ns');
});
