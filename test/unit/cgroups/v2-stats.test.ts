// cgroup v2 statistics from a fixture tree (this host cannot run a v2 container): the mapping
// of containerd 2.x's cgroup2 Manager.Stat, including PSI and peak usage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectV2, parseIoStat, parsePSI } from '../../../src/cgroups/v2-stats.js';
import { MAX_UINT64 } from '../../../src/cgroups/parse.js';
import { writeTree } from './fixtures.js';

const PSI =
  'some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n';

const V2 = {
  'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
  'cpu.stat':
    'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\nnr_bursts 0\nburst_usec 0\n',
  'cpu.pressure': PSI,
  'memory.stat':
    'anon 110592\nfile 4096\nkernel_stack 16384\nslab 2048\nsock 0\nshmem 0\nfile_mapped 0\nfile_dirty 4096\nfile_writeback 0\nanon_thp 0\ninactive_anon 102400\nactive_anon 8192\ninactive_file 1\nactive_file 4096\nunevictable 0\nslab_reclaimable 1024\nslab_unreclaimable 1024\npgfault 875\npgmajfault 2\nworkingset_refault 0\nworkingset_activate 0\nworkingset_nodereclaim 0\npgrefill 0\npgscan 9\npgsteal 8\npgactivate 0\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\nthp_collapse_alloc 0\nzswap 0\n',
  'memory.current': '937984\n',
  'memory.max': '16777216\n',
  'memory.peak': '2764800\n',
  'memory.swap.current': '0\n',
  'memory.swap.max': 'max\n',
  'memory.events': 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n',
  'memory.pressure': PSI,
  'pids.current': '3\n',
  'pids.max': 'max\n',
  'io.stat':
    '254:0 rbytes=4096 wbytes=512 rios=2 wios=1 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=0 rios=1 wios=0\n',
  'io.pressure': PSI,
  'rdma.current': 'mlx4_0 hca_handle=1 hca_object=2\n',
  'rdma.max': 'mlx4_0 hca_handle=max hca_object=max\n',
  'hugetlb.2MB.current': '0\n',
  'hugetlb.2MB.max': 'max\n',
  'hugetlb.2MB.rsvd.max': 'max\n',
  'hugetlb.1GB.current': '1073741824\n',
  'hugetlb.1GB.max': '1073741824\n',
};

test('v2: every file maps onto its Metrics field', async () => {
  const t = writeTree(V2);
  try {
    const m = await collectV2(t.root);
    const psi = {
      some: { avg10: 1.5, avg60: 0.25, avg300: 0, total: 12345n },
      full: { avg10: 0, avg60: 0, avg300: 0, total: 7n },
    };
    assert.deepEqual(m.pids, { current: 3n, limit: MAX_UINT64 }, 'v2 "max" is 2^64-1');
    assert.deepEqual(m.cpu, {
      usage_usec: 1500n,
      user_usec: 1000n,
      system_usec: 500n,
      nr_periods: 4n,
      nr_throttled: 1n,
      throttled_usec: 20n,
      psi,
    });
    assert.equal(m.memory.anon, 110592n);
    assert.equal(m.memory.kernel_stack, 16384n);
    assert.equal(m.memory.inactive_file, 1n);
    assert.equal(m.memory.pgmajfault, 2n);
    assert.equal(m.memory.pgsteal, 8n);
    assert.equal(m.memory.usage, 937984n);
    assert.equal(m.memory.usage_limit, 16777216n);
    assert.equal(m.memory.max_usage, 2764800n, 'memory.peak');
    assert.equal(m.memory.swap_usage, 0n);
    assert.equal(m.memory.swap_limit, MAX_UINT64);
    assert.equal(m.memory.swap_max_usage, 0n, 'no memory.swap.peak: 0');
    assert.deepEqual(m.memory.psi, psi);
    assert.deepEqual(m.memory_events, { low: 0n, high: 0n, max: 12n, oom: 2n, oom_kill: 1n });
    assert.deepEqual(m.io.usage, [
      { major: 254n, minor: 0n, rbytes: 4096n, wbytes: 512n, rios: 2n, wios: 1n },
      { major: 8n, minor: 0n, rbytes: 1n, wbytes: 0n, rios: 1n, wios: 0n },
    ]);
    assert.deepEqual(m.io.psi, psi);
    assert.deepEqual(m.rdma, {
      current: [{ device: 'mlx4_0', hca_handles: 1, hca_objects: 2 }],
      limit: [{ device: 'mlx4_0', hca_handles: 4294967295, hca_objects: 4294967295 }],
    });
    assert.deepEqual(m.hugetlb, [
      { current: 1073741824n, max: 1073741824n, pagesize: '1GB' },
      { current: 0n, max: MAX_UINT64, pagesize: '2MB' },
    ]);
  } finally {
    t.cleanup();
  }
});

test('v2: a bare cgroup (no controllers enabled) still answers, with zeros', async () => {
  const t = writeTree({ 'cgroup.controllers': '\n', 'cgroup.procs': '' });
  try {
    const m = await collectV2(t.root);
    assert.deepEqual(m.pids, { current: 0n, limit: 0n });
    assert.equal(m.cpu.usage_usec, 0n);
    assert.equal(m.cpu.psi, undefined);
    assert.equal(m.memory.usage, 0n);
    assert.equal(m.memory_events, undefined, 'no memory.events: no message');
    assert.deepEqual(m.io.usage, []);
    assert.deepEqual(m.hugetlb, []);
  } finally {
    t.cleanup();
  }
  const gone = writeTree({});
  try {
    await assert.rejects(collectV2(`${gone.root}/missing`), { code: 'ENOENT' });
  } finally {
    gone.cleanup();
  }
});

test('v2 helpers: PSI and io.stat parsing', () => {
  assert.equal(parsePSI('some avg10=x total=1\n'), undefined, 'malformed PSI is dropped');
  assert.deepEqual(parsePSI(''), {});
  assert.deepEqual(parseIoStat('garbage\n\n1:2 rbytes=3\n'), [
    { major: 1n, minor: 2n, rbytes: 3n, wbytes: 0n, rios: 0n, wios: 0n },
  ]);
});
