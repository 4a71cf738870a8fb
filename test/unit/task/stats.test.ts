// Stats encoding at the task edge: the Any's bare type URL, exact uint64s beyond 2^53, and
// present-but-empty sub-messages (containerd shows them, e.g. "memory_oom_control": {}).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from '../../../src/gen/metrics.js';
import { encodeMetrics } from '../../../src/task/stats.js';
import type { V1Metrics, V2Metrics } from '../../../src/cgroups/index.js';
import { MAX_UINT64 } from '../../../src/cgroups/parse.js';
import { V1_MEMORY_STAT_FIELDS } from '../../../src/cgroups/metrics.js';

const entry = (limit: bigint) => ({ limit, usage: 5n, max: 6n, failcnt: 0n });

test('v1 metrics encode to io.containerd.cgroups.v1.Metrics, exactly', async () => {
  const memory = Object.fromEntries(
    V1_MEMORY_STAT_FIELDS.map((k) => [k, 0n]),
  ) as unknown as NonNullable<V1Metrics['memory']>;
  memory.rss = 110592n;
  memory.hierarchical_swap_limit = 9223372036854771712n;
  memory.usage = entry(33554432n);
  memory.swap = entry(MAX_UINT64);
  memory.kernel = entry(0n);
  memory.kernel_tcp = entry(0n);
  const m: V1Metrics = {
    hugetlb: [],
    pids: { current: 3n, limit: 0n },
    cpu: {
      usage: { total: 12n, kernel: 0n, user: 1n, per_cpu: [7n, 5n] },
      throttling: { periods: 0n, throttled_periods: 0n, throttled_time: 0n },
    },
    memory,
    blkio: {
      io_service_bytes_recursive: [],
      io_serviced_recursive: [
        { op: 'Read', device: '/dev/vda', major: 254n, minor: 0n, value: 9n },
      ],
      io_queued_recursive: [],
      io_service_time_recursive: [],
      io_wait_time_recursive: [],
      io_merged_recursive: [],
      io_time_recursive: [],
      sectors_recursive: [],
    },
    memory_oom_control: { oom_kill_disable: 0n, under_oom: 0n, oom_kill: 0n },
  };
  const any = await encodeMetrics({ version: 1, metrics: m });
  assert.equal(any.type_url, 'io.containerd.cgroups.v1.Metrics');
  const d = io.containerd.cgroups.v1.Metrics.decode(any.value);
  assert.equal(String(d.pids?.current), '3');
  const cpu = d.cpu!;
  assert.deepEqual((cpu.usage?.per_cpu ?? []).map(String), ['7', '5']);
  assert.ok(cpu.throttling, 'an all-zero throttling message is still present');
  assert.equal(String(d.memory?.hierarchical_swap_limit), '9223372036854771712');
  assert.equal(String(d.memory?.swap?.limit), '18446744073709551615');
  assert.equal(String(d.memory?.usage?.limit), '33554432');
  assert.equal(d.blkio?.io_serviced_recursive?.[0]?.device, '/dev/vda');
  assert.ok(d.memory_oom_control, 'empty memory_oom_control is present, as the reference sends it');
  assert.equal(d.rdma, null);
});

test('v2 metrics encode to io.containerd.cgroups.v2.Metrics', async () => {
  const m = {
    pids: { current: 2n, limit: MAX_UINT64 },
    cpu: {
      usage_usec: 10n,
      user_usec: 0n,
      system_usec: 0n,
      nr_periods: 0n,
      nr_throttled: 0n,
      throttled_usec: 0n,
      psi: { some: { avg10: 1.5, avg60: 0, avg300: 0, total: 3n } },
    },
    memory: { usage: 4096n, usage_limit: 16777216n } as unknown as V2Metrics['memory'],
    rdma: { current: [], limit: [] },
    io: { usage: [] },
    hugetlb: [],
    memory_events: { low: 0n, high: 0n, max: 0n, oom: 1n, oom_kill: 1n },
  } satisfies V2Metrics;
  const any = await encodeMetrics({ version: 2, metrics: m });
  assert.equal(any.type_url, 'io.containerd.cgroups.v2.Metrics');
  const d = io.containerd.cgroups.v2.Metrics.decode(any.value);
  assert.equal(String(d.pids?.limit), '18446744073709551615');
  assert.equal(d.cpu?.psi?.some?.avg10, 1.5);
  assert.equal(String(d.memory?.usage_limit), '16777216');
  assert.equal(String(d.memory_events?.oom_kill), '1');
});
