import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerd } from '../../../src/gen/task.js';
import { containerd as eventsApi } from '../../../src/gen/events.js';
import { io } from '../../../src/gen/metrics.js';
import { GO_ZERO_TIME, toNumber } from '../../../src/base/proto-util.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('task v2 and v3 messages encode identically', () => {
  const req = {
    id: 'c1',
    bundle: '/b',
    stdout: '/fifo',
    terminal: true,
    rootfs: [{ type: 'overlay', source: 'overlay', options: ['a=b'] }],
  };
  assert.equal(
    hex(containerd.task.v2.CreateTaskRequest.encode(req).finish()),
    hex(containerd.task.v3.CreateTaskRequest.encode(req).finish()),
  );
});

test("exited_at carries Go's zero time exactly", () => {
  const bytes = containerd.task.v2.WaitResponse.encode({
    exit_status: 0,
    exited_at: GO_ZERO_TIME,
  }).finish();
  const back = containerd.task.v2.WaitResponse.decode(bytes);
  assert.equal(toNumber(back.exited_at?.seconds), -62135596800);
  assert.equal(back.exited_at?.nanos, 0);
});

test('TaskExit round-trips every field with the spec field numbers', () => {
  const m = {
    container_id: 'c',
    id: 'e',
    pid: 42,
    exit_status: 137,
    exited_at: { seconds: 1, nanos: 2 },
  };
  const bytes = eventsApi.events.TaskExit.encode(m).finish();
  // field 1 "c", 2 "e", 3 varint 42, 4 varint 137, 5 message {1:1, 2:2}
  assert.equal(hex(bytes), '0a0163' + '120165' + '182a' + '208901' + '2a0408011002');
});

test('cgroup metrics types exist under their bare type names', () => {
  const v1 = io.containerd.cgroups.v1.Metrics.encode({ memory: { usage: { usage: 5 } } }).finish();
  assert.equal(toNumber(io.containerd.cgroups.v1.Metrics.decode(v1).memory?.usage?.usage), 5);
  const v2 = io.containerd.cgroups.v2.Metrics.encode({ memory_events: { oom_kill: 3 } }).finish();
  assert.equal(toNumber(io.containerd.cgroups.v2.Metrics.decode(v2).memory_events?.oom_kill), 3);
});
