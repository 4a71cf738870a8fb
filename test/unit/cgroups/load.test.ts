// Finding a container's cgroup from /proc/<pid>/cgroup, and the cgroup mode of a mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { detectMode, loadCgroup, parseProcCgroup } from '../../../src/cgroups/load.js';
import { writeTree } from './fixtures.js';

const HYBRID = `9:name=systemd:/default/c1
8:pids:/default/c1
7:blkio:/default/c1
4:memory:/default/c1
2:cpu,cpuacct:/default/c1
1:freezer:/default/c1
0::/default/c1
`;

test('parseProcCgroup: comma-joined controllers, named hierarchies and the v2 line', () => {
  const m = parseProcCgroup(HYBRID);
  assert.equal(m.get('memory'), '/default/c1');
  assert.equal(m.get('cpu'), '/default/c1');
  assert.equal(m.get('cpuacct'), '/default/c1');
  assert.equal(m.get('systemd'), '/default/c1');
  assert.equal(m.get(''), '/default/c1');
});

test('loadCgroup v1: only stat controllers whose group directory exists', () => {
  const t = writeTree({
    'proc/42/cgroup': HYBRID,
    'cg/memory/default/c1/memory.stat': '',
    'cg/cpu/default/c1/cpu.stat': '',
    'cg/pids/default/c1/pids.current': '1\n',
    // blkio is listed for the pid but its directory is gone; cpuacct was never created here
  });
  try {
    const cg = loadCgroup(42, {
      root: join(t.root, 'cg'),
      procRoot: join(t.root, 'proc'),
      mode: 'v1',
    });
    assert.equal(cg.version, 1);
    assert.deepEqual([...cg.paths.keys()].sort(), ['cpu', 'memory', 'pids']);
    assert.equal(cg.paths.get('memory'), join(t.root, 'cg/memory/default/c1'));
    const v2 = loadCgroup(42, {
      root: join(t.root, 'cg'),
      procRoot: join(t.root, 'proc'),
      mode: 'v2',
    });
    assert.deepEqual(v2, { version: 2, path: join(t.root, 'cg/default/c1') });
    assert.throws(() => loadCgroup(43, { procRoot: join(t.root, 'proc'), mode: 'v1' }), {
      kind: 'not-found',
    });
  } finally {
    t.cleanup();
  }
});

test('detectMode: this host is hybrid, which counts as v1; its unified mount is v2', () => {
  assert.equal(detectMode('/sys/fs/cgroup'), 'v1');
  assert.equal(detectMode('/sys/fs/cgroup/unified'), 'v2');
  assert.equal(detectMode('/nonexistent-cgroup-root'), 'unavailable');
});

test('loadCgroup of a real process on this host', () => {
  const cg = loadCgroup(process.pid);
  assert.equal(cg.version, 1);
  assert.ok(cg.paths.has('memory'));
});
