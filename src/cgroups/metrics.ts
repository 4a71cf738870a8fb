// Plain metric objects, shaped (snake_case, field for field) like io.containerd.cgroups.v1 and v2
// Metrics, so the task layer can encode them without this module knowing protobuf. uint64 values
// are bigint; absent sub-messages are undefined (an empty object is a present, all-zero message).

export interface V1Metrics {
  hugetlb: V1HugetlbStat[];
  pids?: { current: bigint; limit: bigint };
  cpu: {
    usage: { total: bigint; kernel: bigint; user: bigint; per_cpu: bigint[] };
    throttling: { periods: bigint; throttled_periods: bigint; throttled_time: bigint };
  };
  memory?: V1MemoryStat;
  blkio?: V1BlkIOStat;
  rdma?: RdmaStat;
  memory_oom_control?: { oom_kill_disable: bigint; under_oom: bigint; oom_kill: bigint };
}

export interface V1HugetlbStat {
  usage: bigint;
  max: bigint;
  failcnt: bigint;
  pagesize: string;
}

export interface MemoryEntry {
  limit: bigint;
  usage: bigint;
  max: bigint;
  failcnt: bigint;
}

/** memory.stat keys, in proto field order; the proto name differs for a few (see v1-stats.ts). */
export const V1_MEMORY_STAT_FIELDS = [
  'cache',
  'rss',
  'rss_huge',
  'mapped_file',
  'dirty',
  'writeback',
  'pg_pg_in',
  'pg_pg_out',
  'pg_fault',
  'pg_maj_fault',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
  'hierarchical_memory_limit',
  'hierarchical_swap_limit',
  'total_cache',
  'total_rss',
  'total_rss_huge',
  'total_mapped_file',
  'total_dirty',
  'total_writeback',
  'total_pg_pg_in',
  'total_pg_pg_out',
  'total_pg_fault',
  'total_pg_maj_fault',
  'total_inactive_anon',
  'total_active_anon',
  'total_inactive_file',
  'total_active_file',
  'total_unevictable',
] as const;

export type V1MemoryStat = Record<(typeof V1_MEMORY_STAT_FIELDS)[number], bigint> & {
  usage: MemoryEntry;
  swap: MemoryEntry;
  kernel: MemoryEntry;
  kernel_tcp: MemoryEntry;
};

export interface BlkIOEntry {
  op: string;
  device: string;
  major: bigint;
  minor: bigint;
  value: bigint;
}

export interface V1BlkIOStat {
  io_service_bytes_recursive: BlkIOEntry[];
  io_serviced_recursive: BlkIOEntry[];
  io_queued_recursive: BlkIOEntry[];
  io_service_time_recursive: BlkIOEntry[];
  io_wait_time_recursive: BlkIOEntry[];
  io_merged_recursive: BlkIOEntry[];
  io_time_recursive: BlkIOEntry[];
  sectors_recursive: BlkIOEntry[];
}

export interface RdmaEntry {
  device: string;
  hca_handles: number;
  hca_objects: number;
}

export interface RdmaStat {
  current: RdmaEntry[];
  limit: RdmaEntry[];
}

export interface PSIData {
  avg10: number;
  avg60: number;
  avg300: number;
  total: bigint;
}

export interface PSIStats {
  some?: PSIData;
  full?: PSIData;
}

/** memory.stat keys of cgroup v2, in proto field order (names are the file's own). */
export const V2_MEMORY_STAT_FIELDS = [
  'anon',
  'file',
  'kernel_stack',
  'slab',
  'sock',
  'shmem',
  'file_mapped',
  'file_dirty',
  'file_writeback',
  'anon_thp',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
  'slab_reclaimable',
  'slab_unreclaimable',
  'pgfault',
  'pgmajfault',
  'workingset_refault',
  'workingset_activate',
  'workingset_nodereclaim',
  'pgrefill',
  'pgscan',
  'pgsteal',
  'pgactivate',
  'pgdeactivate',
  'pglazyfree',
  'pglazyfreed',
  'thp_fault_alloc',
  'thp_collapse_alloc',
] as const;

export type V2MemoryStat = Record<(typeof V2_MEMORY_STAT_FIELDS)[number], bigint> & {
  usage: bigint;
  usage_limit: bigint;
  swap_usage: bigint;
  swap_limit: bigint;
  max_usage: bigint;
  swap_max_usage: bigint;
  psi?: PSIStats;
};

export interface IOEntry {
  major: bigint;
  minor: bigint;
  rbytes: bigint;
  wbytes: bigint;
  rios: bigint;
  wios: bigint;
}

export interface MemoryEvents {
  low: bigint;
  high: bigint;
  max: bigint;
  oom: bigint;
  oom_kill: bigint;
}

export interface V2Metrics {
  pids: { current: bigint; limit: bigint };
  cpu: {
    usage_usec: bigint;
    user_usec: bigint;
    system_usec: bigint;
    nr_periods: bigint;
    nr_throttled: bigint;
    throttled_usec: bigint;
    psi?: PSIStats;
  };
  memory: V2MemoryStat;
  rdma: RdmaStat;
  io: { usage: IOEntry[]; psi?: PSIStats };
  hugetlb: { current: bigint; max: bigint; pagesize: string }[];
  memory_events?: MemoryEvents;
}

/** What Stats returns: the version decides the Any type URL. */
export type CgroupMetrics = { version: 1; metrics: V1Metrics } | { version: 2; metrics: V2Metrics };
