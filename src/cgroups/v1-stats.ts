// cgroup v1 statistics, collected file by file as containerd/cgroups does for the reference shim
// (its Stat with IgnoreNotExist): a controller whose files are missing contributes what it read
// up to that point, any other error fails the whole call.
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Subsystem } from './load.js';
import type { BlkIOEntry, MemoryEntry, RdmaEntry, V1BlkIOStat, V1Metrics } from './metrics.js';
import { V1_MEMORY_STAT_FIELDS } from './metrics.js';
import {
  MAX_UINT32,
  isGone,
  lines,
  parseKVText,
  parseUint,
  readKVFile,
  readUintFile,
} from './parse.js';

export interface V1Options {
  /** For /proc/partitions (blkio device names). */
  procRoot?: string;
  /** Lists the huge page sizes (hugetlb). */
  hugepagesDir?: string;
}

/** USER_HZ: cpuacct.stat counts in clock ticks; the reference hard-codes 100. */
const CLOCK_TICKS = 100n;
const NS_PER_SEC = 1_000_000_000n;

type Collector = (dir: string, m: V1Metrics, opts: V1Options) => Promise<void>;

export async function collectV1(
  paths: ReadonlyMap<V1Subsystem, string>,
  opts: V1Options = {},
): Promise<V1Metrics> {
  const m: V1Metrics = {
    hugetlb: [],
    cpu: {
      usage: { total: 0n, kernel: 0n, user: 0n, per_cpu: [] },
      throttling: { periods: 0n, throttled_periods: 0n, throttled_time: 0n },
    },
  };
  await Promise.all(
    [...paths].map(async ([name, dir]) => {
      try {
        await COLLECTORS[name](dir, m, opts);
      } catch (err) {
        if (!isGone(err)) throw err;
      }
    }),
  );
  return m;
}

const pids: Collector = async (dir, m) => {
  const current = await readUintFile(join(dir, 'pids.current'));
  const max = (await readFile(join(dir, 'pids.max'), 'utf8')).trim();
  m.pids = { current, limit: max === 'max' ? 0n : parseUint(max) };
};

const cpu: Collector = async (dir, m) => {
  const stat = await readKVFile(join(dir, 'cpu.stat'));
  const t = m.cpu.throttling;
  t.periods = stat.get('nr_periods') ?? t.periods;
  t.throttled_periods = stat.get('nr_throttled') ?? t.throttled_periods;
  t.throttled_time = stat.get('throttled_time') ?? t.throttled_time;
};

const cpuacct: Collector = async (dir, m) => {
  const statPath = join(dir, 'cpuacct.stat');
  const stat = await readKVFile(statPath);
  const user = stat.get('user');
  const system = stat.get('system');
  if (user === undefined || system === undefined) {
    throw new Error(`expected fields user and system in ${statPath}`);
  }
  const total = await readUintFile(join(dir, 'cpuacct.usage'));
  const percpu = (await readFile(join(dir, 'cpuacct.usage_percpu'), 'utf8'))
    .trim()
    .split(/\s+/)
    .filter((f) => f !== '')
    .map(parseUint);
  m.cpu.usage = {
    total,
    user: (user * NS_PER_SEC) / CLOCK_TICKS,
    kernel: (system * NS_PER_SEC) / CLOCK_TICKS,
    per_cpu: percpu,
  };
};

/** memory.stat names that differ from the proto field names. */
const MEMORY_STAT_FILE_KEYS: Partial<Record<(typeof V1_MEMORY_STAT_FIELDS)[number], string>> = {
  pg_pg_in: 'pgpgin',
  pg_pg_out: 'pgpgout',
  pg_fault: 'pgfault',
  pg_maj_fault: 'pgmajfault',
  hierarchical_swap_limit: 'hierarchical_memsw_limit',
  total_pg_pg_in: 'total_pgpgin',
  total_pg_pg_out: 'total_pgpgout',
  total_pg_fault: 'total_pgfault',
  total_pg_maj_fault: 'total_pgmajfault',
};

const emptyEntry = (): MemoryEntry => ({ limit: 0n, usage: 0n, max: 0n, failcnt: 0n });

const memory: Collector = async (dir, m) => {
  const raw = parseKVText(await readFile(join(dir, 'memory.stat'), 'utf8'));
  const stat = {
    usage: emptyEntry(),
    swap: emptyEntry(),
    kernel: emptyEntry(),
    kernel_tcp: emptyEntry(),
  } as NonNullable<V1Metrics['memory']>;
  for (const field of V1_MEMORY_STAT_FIELDS) {
    stat[field] = raw.get(MEMORY_STAT_FILE_KEYS[field] ?? field) ?? 0n;
  }
  m.memory = stat;
  const oom = await readKVFile(join(dir, 'memory.oom_control'));
  m.memory_oom_control = {
    oom_kill_disable: oom.get('oom_kill_disable') ?? 0n,
    under_oom: oom.get('under_oom') ?? 0n,
    oom_kill: oom.get('oom_kill') ?? 0n,
  };
  // Deliberate difference: the reference stops at the first missing module (no swap accounting
  // → no memsw files → kmem is never read); we skip only the missing module's entry.
  const modules: [string, MemoryEntry][] = [
    ['memory', stat.usage],
    ['memory.memsw', stat.swap],
    ['memory.kmem', stat.kernel],
    ['memory.kmem.tcp', stat.kernel_tcp],
  ];
  for (const [prefix, entry] of modules) {
    try {
      const [usage, max, failcnt, limit] = await Promise.all(
        ['usage_in_bytes', 'max_usage_in_bytes', 'failcnt', 'limit_in_bytes'].map((f) =>
          readUintFile(join(dir, `${prefix}.${f}`)),
        ),
      );
      Object.assign(entry, { usage, max, failcnt, limit });
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }
};

/** /proc/partitions: (major, minor) → /dev/<name>, first occurrence wins. */
export function parsePartitions(text: string): Map<string, string> {
  const devices = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (i < 2 || line.trim() === '') return;
    const [major, minor, , name] = line.trim().split(/\s+/);
    if (major === undefined || minor === undefined || name === undefined) return;
    const key = `${parseUint(major)}:${parseUint(minor)}`;
    if (!devices.has(key)) devices.set(key, `/dev/${name}`);
  });
  return devices;
}

/** One blkio.* file: `major:minor [op] value` lines; `Total n` lines are skipped. */
export function parseBlkioEntries(text: string, devices: Map<string, string>): BlkIOEntry[] {
  const out: BlkIOEntry[] = [];
  for (const line of lines(text)) {
    const fields = line.split(/[ :]/).filter((f) => f !== '');
    if (fields.length < 3) {
      if (fields.length === 2 && fields[0] === 'Total') continue;
      throw new SyntaxError(`invalid blkio line: ${JSON.stringify(line)}`);
    }
    const major = parseUint(fields[0] ?? '');
    const minor = parseUint(fields[1] ?? '');
    const op = fields.length === 4 ? (fields[2] ?? '') : '';
    const value = parseUint(fields[fields.length === 4 ? 3 : 2] ?? '');
    out.push({ op, device: devices.get(`${major}:${minor}`) ?? '', major, minor, value });
  }
  return out;
}

const CFQ_FILES: [string, keyof V1BlkIOStat][] = [
  ['sectors_recursive', 'sectors_recursive'],
  ['io_service_bytes_recursive', 'io_service_bytes_recursive'],
  ['io_serviced_recursive', 'io_serviced_recursive'],
  ['io_queued_recursive', 'io_queued_recursive'],
  ['io_service_time_recursive', 'io_service_time_recursive'],
  ['io_wait_time_recursive', 'io_wait_time_recursive'],
  ['io_merged_recursive', 'io_merged_recursive'],
  ['time_recursive', 'io_time_recursive'],
];

/** Without CFQ statistics (or with only empty ones) the reference falls back to these. */
const THROTTLE_FILES: [string, keyof V1BlkIOStat][] = [
  ['throttle.io_serviced', 'io_serviced_recursive'],
  ['throttle.io_service_bytes', 'io_service_bytes_recursive'],
];

const blkio: Collector = async (dir, m, opts) => {
  const stat: V1BlkIOStat = {
    io_service_bytes_recursive: [],
    io_serviced_recursive: [],
    io_queued_recursive: [],
    io_service_time_recursive: [],
    io_wait_time_recursive: [],
    io_merged_recursive: [],
    io_time_recursive: [],
    sectors_recursive: [],
  };
  m.blkio = stat;
  const cfq = await lstat(join(dir, 'blkio.io_serviced_recursive')).then(
    () => true,
    () => false,
  );
  const devices = parsePartitions(
    await readFile(join(opts.procRoot ?? '/proc', 'partitions'), 'utf8'),
  );
  const read = async (files: [string, keyof V1BlkIOStat][]): Promise<number> => {
    let size = 0;
    for (const [file, field] of files) {
      const entries = parseBlkioEntries(
        await readFile(join(dir, `blkio.${file}`), 'utf8'),
        devices,
      );
      stat[field].push(...entries);
      size += entries.length;
    }
    return size;
  };
  if (cfq && (await read(CFQ_FILES)) > 0) return;
  await read(THROTTLE_FILES);
};

/** rdma.current / rdma.max lines: `<device> hca_handle=<n|max> hca_object=<n|max>`. */
export function parseRdma(text: string): RdmaEntry[] {
  const out: RdmaEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3) continue;
    const entry: RdmaEntry = { device: parts[0] ?? '', hca_handles: 0, hca_objects: 0 };
    for (const kv of parts.slice(1)) {
      const [key, raw] = kv.split('=');
      if (raw === undefined) continue;
      let value: number;
      try {
        value = raw === 'max' ? MAX_UINT32 : Number(parseUint(raw));
      } catch {
        continue;
      }
      if (value > MAX_UINT32) continue;
      if (key === 'hca_handle') entry.hca_handles = value;
      else if (key === 'hca_object') entry.hca_objects = value;
    }
    out.push(entry);
  }
  return out;
}

const rdma: Collector = async (dir, m) => {
  const current = await readFile(join(dir, 'rdma.current'), 'utf8');
  const max = await readFile(join(dir, 'rdma.max'), 'utf8');
  // A device removed between the two reads: the reference returns no rdma data.
  if (current.split('\n').length !== max.split('\n').length) return;
  m.rdma = { current: parseRdma(current), limit: parseRdma(max) };
};

/** `hugepages-2048kB` → `2MB`, as the reference names page sizes (binary units, %g). */
export function hugePageSizeName(dirName: string): string | undefined {
  const match = /^hugepages-(\d+)kB$/.exec(dirName);
  if (!match) return undefined;
  let size = Number(match[1]) * 1024;
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (size >= 1024 && i < units.length - 1) {
    size /= 1024;
    i++;
  }
  return `${size}${units[i] ?? ''}`;
}

const hugetlb: Collector = async (dir, m, opts) => {
  const names = (await readdir(opts.hugepagesDir ?? '/sys/kernel/mm/hugepages')).sort();
  for (const name of names) {
    const size = hugePageSizeName(name);
    if (size === undefined) continue;
    const [usage, max, failcnt] = await Promise.all(
      ['usage_in_bytes', 'max_usage_in_bytes', 'failcnt'].map((f) =>
        readUintFile(join(dir, `hugetlb.${size}.${f}`)),
      ),
    );
    m.hugetlb.push({ usage: usage ?? 0n, max: max ?? 0n, failcnt: failcnt ?? 0n, pagesize: size });
  }
};

const COLLECTORS: Record<V1Subsystem, Collector> = {
  pids,
  cpu,
  cpuacct,
  memory,
  blkio,
  rdma,
  hugetlb,
};
