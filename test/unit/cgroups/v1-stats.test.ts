// cgroup v1 statistics from fixture trees: the file → Metrics field mapping of the reference
// (containerd/cgroups), its number rules and its handling of missing files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { collectV1 } from '../../../src/cgroups/v1-stats.js';
import type { V1Subsystem } from '../../../src/cgroups/load.js';
import {
  hugePageSizeName,
  parseBlkioEntries,
  parsePartitions,
} from '../../../src/cgroups/v1-stats.js';
import { V1_MEMORY, writeTree } from './fixtures.js';

const CG = 'default/c1';
const PARTITIONS = `major minor  #blocks  name

 254        0  268435456 vda
 254        1    1048576 vda1
   8        0     512000 sda
`;

function tree(files: Record<string, string>): {
  root: string;
  paths: Map<V1Subsystem, string>;
  cleanup: () => void;
} {
  const t = writeTree({ 'proc/partitions': PARTITIONS, ...files });
  const paths = new Map<V1Subsystem, string>();
  for (const path of Object.keys(files)) {
    const name = path.split('/')[0] as V1Subsystem;
    paths.set(name, join(t.root, name, CG));
  }
  return { ...t, paths };
}

const under = (subsystem: string, files: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(files).map(([k, v]) => [`${subsystem}/${CG}/${k}`, v]));

test('v1: every controller maps onto its Metrics fields', async () => {
  const t = tree({
    ...under('memory', V1_MEMORY),
    ...under('pids', { 'pids.current': '3\n', 'pids.max': 'max\n' }),
    ...under('cpu', {
      'cpu.stat': 'nr_periods 10\nnr_throttled 2\nthrottled_time 3000\nnr_bursts 0\nburst_time 0\n',
    }),
    ...under('cpuacct', {
      'cpuacct.stat': 'user 7\nsystem 1\n',
      'cpuacct.usage': '12131724\n',
      'cpuacct.usage_percpu': '8178922 3952802 \n',
    }),
    ...under('blkio', {
      'blkio.throttle.io_serviced': '254:0 Read 12\n254:0 Write 3\n254:0 Total 15\nTotal 15\n',
      'blkio.throttle.io_service_bytes':
        '254:0 Read 4096\n254:0 Write 512\n8:0 Discard 0\nTotal 4608\n',
    }),
  });
  try {
    const m = await collectV1(t.paths, { procRoot: join(t.root, 'proc') });
    assert.deepEqual(m.pids, { current: 3n, limit: 0n }, 'pids.max "max" reads as 0 in v1');
    assert.deepEqual(m.cpu, {
      // cpuacct.stat counts USER_HZ (100) ticks; the reference converts them to ns.
      usage: {
        total: 12131724n,
        user: 70000000n,
        kernel: 10000000n,
        per_cpu: [8178922n, 3952802n],
      },
      throttling: { periods: 10n, throttled_periods: 2n, throttled_time: 3000n },
    });
    const mem = m.memory!;
    assert.equal(mem.cache, 4096n);
    assert.equal(mem.rss, 110592n);
    assert.equal(mem.mapped_file, 8192n);
    assert.equal(mem.pg_pg_in, 499n, 'pgpgin');
    assert.equal(mem.pg_pg_out, 471n, 'pgpgout');
    assert.equal(mem.pg_fault, 875n, 'pgfault');
    assert.equal(mem.pg_maj_fault, 3n, 'pgmajfault');
    assert.equal(mem.hierarchical_memory_limit, 33554432n);
    assert.equal(mem.hierarchical_swap_limit, 9223372036854771712n, 'hierarchical_memsw_limit');
    assert.equal(mem.total_pg_maj_fault, 3n);
    assert.equal(mem.total_active_file, 4096n);
    assert.deepEqual(mem.usage, { usage: 937984n, max: 2764800n, failcnt: 5n, limit: 33554432n });
    assert.deepEqual(mem.swap, {
      usage: 937984n,
      max: 2764800n,
      failcnt: 0n,
      limit: 9223372036854771712n,
    });
    assert.deepEqual(mem.kernel, {
      usage: 323584n,
      max: 618496n,
      failcnt: 0n,
      limit: 9223372036854771712n,
    });
    assert.deepEqual(mem.kernel_tcp, {
      usage: 0n,
      max: 0n,
      failcnt: 0n,
      limit: 9223372036854771712n,
    });
    assert.deepEqual(m.memory_oom_control, { oom_kill_disable: 0n, under_oom: 0n, oom_kill: 2n });
    // No CFQ files: the throttle files fill serviced/service_bytes; device names from partitions.
    const b = m.blkio!;
    assert.deepEqual(b.io_serviced_recursive, [
      { op: 'Read', device: '/dev/vda', major: 254n, minor: 0n, value: 12n },
      { op: 'Write', device: '/dev/vda', major: 254n, minor: 0n, value: 3n },
      { op: 'Total', device: '/dev/vda', major: 254n, minor: 0n, value: 15n },
    ]);
    assert.deepEqual(
      b.io_service_bytes_recursive.map((e) => [e.device, e.op, e.value]),
      [
        ['/dev/vda', 'Read', 4096n],
        ['/dev/vda', 'Write', 512n],
        ['/dev/sda', 'Discard', 0n],
      ],
    );
    assert.deepEqual(b.sectors_recursive, []);
    assert.equal(m.rdma, undefined, 'no rdma controller: no rdma message');
    assert.deepEqual(m.hugetlb, []);
  } finally {
    t.cleanup();
  }
});

test('v1 blkio: CFQ files win when they have entries, throttle is the fallback', async () => {
  const cfq = {
    'blkio.io_serviced_recursive': '8:0 Read 5\nTotal 5\n',
    'blkio.sectors_recursive': '8:0 40\n',
    'blkio.io_service_bytes_recursive': 'Total 0\n',
    'blkio.io_queued_recursive': 'Total 0\n',
    'blkio.io_service_time_recursive': 'Total 0\n',
    'blkio.io_wait_time_recursive': 'Total 0\n',
    'blkio.io_merged_recursive': 'Total 0\n',
    'blkio.time_recursive': '8:0 77\n',
    'blkio.throttle.io_serviced': '8:0 Read 999\n',
    'blkio.throttle.io_service_bytes': 'Total 0\n',
  };
  const t = tree(under('blkio', cfq));
  try {
    const b = (await collectV1(t.paths, { procRoot: join(t.root, 'proc') })).blkio!;
    assert.deepEqual(
      b.io_serviced_recursive.map((e) => e.value),
      [5n],
    );
    assert.deepEqual(b.sectors_recursive, [
      { op: '', device: '/dev/sda', major: 8n, minor: 0n, value: 40n },
    ]);
    assert.deepEqual(
      b.io_time_recursive.map((e) => e.value),
      [77n],
    );
  } finally {
    t.cleanup();
  }
  const empty = tree(
    under('blkio', {
      ...Object.fromEntries(Object.keys(cfq).map((k) => [k, 'Total 0\n'])),
      'blkio.throttle.io_serviced': '8:0 Read 999\n',
    }),
  );
  try {
    const b = (await collectV1(empty.paths, { procRoot: join(empty.root, 'proc') })).blkio!;
    assert.deepEqual(
      b.io_serviced_recursive.map((e) => e.value),
      [999n],
      'all CFQ files empty',
    );
  } finally {
    empty.cleanup();
  }
});

test('v1: missing files drop only their data; the memsw module is optional', async () => {
  const noSwap = Object.fromEntries(
    Object.entries(V1_MEMORY).filter(([k]) => !k.startsWith('memory.memsw.')),
  );
  const t = tree({
    ...under('memory', noSwap),
    ...under('pids', { 'pids.current': '1\n' }), // pids.max missing: no pids message
    ...under('cpuacct', { 'cpuacct.stat': 'user 1\nsystem 1\n' }), // usage missing
  });
  try {
    const m = await collectV1(t.paths, { procRoot: join(t.root, 'proc') });
    assert.equal(m.pids, undefined);
    assert.deepEqual(m.cpu.usage, { total: 0n, kernel: 0n, user: 0n, per_cpu: [] });
    assert.deepEqual(m.memory!.swap, { usage: 0n, max: 0n, failcnt: 0n, limit: 0n });
    // Deliberate difference: the reference stops at the first missing module, so without swap
    // accounting it never reads kmem; we still report the kernel memory the kernel counts.
    assert.equal(m.memory!.kernel.usage, 323584n);
    assert.equal(m.memory!.kernel_tcp.limit, 9223372036854771712n);
  } finally {
    t.cleanup();
  }
});

test('v1: negative values read as 0, malformed files fail the call', async () => {
  const t = tree(under('pids', { 'pids.current': '-1\n', 'pids.max': '-5\n' }));
  try {
    assert.deepEqual((await collectV1(t.paths)).pids, { current: 0n, limit: 0n });
  } finally {
    t.cleanup();
  }
  const bad = tree(under('cpu', { 'cpu.stat': 'nr_periods ten\n' }));
  try {
    await assert.rejects(collectV1(bad.paths), SyntaxError);
  } finally {
    bad.cleanup();
  }
});

test('v1 hugetlb and rdma', async () => {
  const t = tree({
    'hugepages/hugepages-2048kB/nr_hugepages': '0\n',
    'hugepages/hugepages-1048576kB/nr_hugepages': '0\n',
    ...under('hugetlb', {
      'hugetlb.2MB.usage_in_bytes': '2097152\n',
      'hugetlb.2MB.max_usage_in_bytes': '4194304\n',
      'hugetlb.2MB.failcnt': '1\n',
      'hugetlb.1GB.usage_in_bytes': '0\n',
      'hugetlb.1GB.max_usage_in_bytes': '0\n',
      'hugetlb.1GB.failcnt': '0\n',
    }),
    ...under('rdma', {
      'rdma.current': 'mlx4_0 hca_handle=2 hca_object=2000\n',
      'rdma.max': 'mlx4_0 hca_handle=max hca_object=10\n',
    }),
  });
  t.paths.delete('hugepages' as V1Subsystem);
  try {
    const m = await collectV1(t.paths, { hugepagesDir: join(t.root, 'hugepages') });
    assert.deepEqual(m.hugetlb, [
      { usage: 0n, max: 0n, failcnt: 0n, pagesize: '1GB' },
      { usage: 2097152n, max: 4194304n, failcnt: 1n, pagesize: '2MB' },
    ]);
    assert.deepEqual(m.rdma, {
      current: [{ device: 'mlx4_0', hca_handles: 2, hca_objects: 2000 }],
      limit: [{ device: 'mlx4_0', hca_handles: 4294967295, hca_objects: 10 }],
    });
  } finally {
    t.cleanup();
  }
});

test('v1 helpers: page size names, partitions, blkio lines', () => {
  assert.equal(hugePageSizeName('hugepages-2048kB'), '2MB');
  assert.equal(hugePageSizeName('hugepages-1048576kB'), '1GB');
  assert.equal(hugePageSizeName('hugepages-64kB'), '64KB');
  assert.equal(hugePageSizeName('nr_hugepages'), undefined);
  assert.deepEqual(
    [...parsePartitions(PARTITIONS)],
    [
      ['254:0', '/dev/vda'],
      ['254:1', '/dev/vda1'],
      ['8:0', '/dev/sda'],
    ],
  );
  assert.throws(() => parseBlkioEntries('8:0\n', new Map()), SyntaxError);
});
