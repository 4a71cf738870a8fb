import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupMounts, shimCgroupProcsFiles } from '../../../src/shim/shim-cgroup.js';

const line = (id: number, mp: string, fs: string, superOpts: string) =>
  `${String(id)} 1 0:${String(id)} / ${mp} rw,nosuid shared:${String(id)} - ${fs} ${fs} ${superOpts}`;

test('cgroupMounts keeps cgroup and cgroup2 mounts only', () => {
  const info = [
    line(20, '/', 'ext4', 'rw'),
    line(21, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'),
    line(22, '/sys/fs/cgroup/unified', 'cgroup2', 'rw,nsdelegate'),
  ].join('\n');
  assert.deepEqual(
    cgroupMounts(info).map((m) => [m.mountPoint, m.fsType]),
    [
      ['/sys/fs/cgroup/memory', 'cgroup'],
      ['/sys/fs/cgroup/unified', 'cgroup2'],
    ],
  );
});

test('unified mode: one cgroup.procs under /sys/fs/cgroup', () => {
  const info = line(30, '/sys/fs/cgroup', 'cgroup2', 'rw,nsdelegate');
  assert.deepEqual(shimCgroupProcsFiles('/shim/x', info), ['/sys/fs/cgroup/shim/x/cgroup.procs']);
});

test('v1/hybrid: every mounted v1 hierarchy where the path exists; none is an error', () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-'));
  try {
    for (const h of ['memory', 'cpu,cpuacct', 'systemd', 'misc', 'devices']) {
      mkdirSync(join(root, h, 'shim'), { recursive: true });
    }
    mkdirSync(join(root, 'pids'), { recursive: true }); // path missing here: skipped
    const info = [
      line(40, join(root, 'memory'), 'cgroup', 'rw,memory'),
      line(41, join(root, 'cpu,cpuacct'), 'cgroup', 'rw,cpu,cpuacct'),
      line(42, join(root, 'systemd'), 'cgroup', 'rw,xattr,name=systemd'),
      line(43, join(root, 'pids'), 'cgroup', 'rw,pids'),
      line(44, join(root, 'misc'), 'cgroup', 'rw,misc'),
      line(45, join(root, 'devices'), 'cgroup', 'rw,devices'),
      line(46, join(root, 'unified'), 'cgroup2', 'rw'),
    ].join('\n');
    assert.deepEqual(shimCgroupProcsFiles('/shim', info), [
      join(root, 'memory', 'shim', 'cgroup.procs'),
      join(root, 'cpu,cpuacct', 'shim', 'cgroup.procs'),
      join(root, 'systemd', 'shim', 'cgroup.procs'),
      join(root, 'misc', 'shim', 'cgroup.procs'),
      join(root, 'devices', 'shim', 'cgroup.procs'),
    ]);
    assert.throws(
      () => shimCgroupProcsFiles('/absent', info),
      /failed to load cgroup \/absent: cgroup deleted/,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
