import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountOptions } from '../../../src/process/rootfs.js';

test('mount options split into flags and data', () => {
  const overlay = parseMountOptions(['index=off', 'workdir=/w', 'upperdir=/u', 'lowerdir=/l1:/l2']);
  assert.equal(overlay.flags, 0);
  assert.equal(overlay.data, 'index=off,workdir=/w,upperdir=/u,lowerdir=/l1:/l2');
  const bind = parseMountOptions(['ro', 'rbind']);
  assert.equal(bind.flags, 0x1 | 0x1000 | 0x4000);
  assert.equal(bind.data, '');
});

test('clearing options undo earlier flags', () => {
  assert.equal(parseMountOptions(['ro', 'rw']).flags, 0);
  assert.equal(parseMountOptions(['nosuid', 'nodev', 'suid']).flags, 0x4);
});
