// cgroup v2 statistics, as containerd 2.x's cgroups (v3, cgroup2 Manager.Stat) collects them; a
// superset of 1.6's, whose decoders skip the extra fields. Single-value files that are missing
// read as 0 and "max" as 2^64-1, like the reference.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { IOEntry, PSIData, PSIStats, V2MemoryStat, V2Metrics } from './metrics.js';
import { V2_MEMORY_STAT_FIELDS } from './metrics.js';
import { MAX_UINT64, isGone, parseKVText, parseUint } from './parse.js';
import { parseRdma } from './v1-stats.js';

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A KV file whose absence is fine (ENOENT); other errors fail Stats. */
async function kvOrEmpty(path: string): Promise<Map<string, bigint>> {
  try {
    return parseKVText(await readFile(path, 'utf8'));
  } catch (err) {
    if (isGone(err)) return new Map();
    throw err;
  }
}

/** getStatFileContentUint64: 0 on any error, "max" → 2^64-1. */
async function singleValue(path: string): Promise<bigint> {
  const text = (await readOptional(path))?.trim();
  if (text === undefined) return 0n;
  if (text === 'max') return MAX_UINT64;
  try {
    return parseUint(text);
  } catch {
    return 0n;
  }
}

/** cpu.pressure & co: `some avg10=.. avg60=.. avg300=.. total=..` and `full ...`. */
export function parsePSI(text: string): PSIStats | undefined {
  const out: PSIStats = {};
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const data: PSIData = { avg10: 0, avg60: 0, avg300: 0, total: 0n };
    for (const field of fields) {
      const eq = field.indexOf('=');
      if (eq < 0) return undefined;
      const key = field.slice(0, eq);
      const value = field.slice(eq + 1);
      if (key === 'total') {
        if (!/^\d+$/.test(value)) return undefined;
        data.total = BigInt(value);
      } else if (key === 'avg10' || key === 'avg60' || key === 'avg300') {
        const n = Number(value);
        if (value === '' || Number.isNaN(n)) return undefined;
        data[key] = n;
      }
    }
    out[kind] = data;
  }
  return out;
}

async function psi(path: string): Promise<PSIStats | undefined> {
  const text = await readOptional(path);
  return text === undefined ? undefined : parsePSI(text);
}

/** io.stat lines: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. ...`. */
export function parseIoStat(text: string): IOEntry[] {
  const out: IOEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    if (parts.length < 2) continue;
    const majmin = (parts[0] ?? '').split(':');
    if (majmin.length !== 2) continue;
    if (!/^\d+$/.test(majmin[0] ?? '') || !/^\d+$/.test(majmin[1] ?? '')) return out;
    const entry: IOEntry = {
      major: BigInt(majmin[0] ?? '0'),
      minor: BigInt(majmin[1] ?? '0'),
      rbytes: 0n,
      wbytes: 0n,
      rios: 0n,
      wios: 0n,
    };
    for (const kv of parts.slice(1)) {
      const [key, value] = kv.split('=');
      if (value === undefined || !/^\d+$/.test(value)) continue;
      if (key === 'rbytes' || key === 'wbytes' || key === 'rios' || key === 'wios') {
        entry[key] = BigInt(value);
      }
    }
    out.push(entry);
  }
  return out;
}

/** hugetlb.<size>.current / .max files, one entry per page size (sorted, for stable output). */
async function hugetlb(dir: string): Promise<V2Metrics['hugetlb']> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const bySize = new Map<string, { current: bigint; max: bigint; pagesize: string }>();
  for (const name of names.sort()) {
    const match = /^hugetlb\.([^.]+)\.(current|max)$/.exec(name);
    if (!match) continue;
    const pagesize = match[1] ?? '';
    const text = (await readOptional(join(dir, name)))?.trim();
    if (text === undefined) continue;
    let value: bigint;
    try {
      value = text === 'max' ? MAX_UINT64 : parseUint(text);
    } catch {
      continue;
    }
    const entry = bySize.get(pagesize) ?? { current: 0n, max: 0n, pagesize };
    if (match[2] === 'max') entry.max = value;
    else entry.current = value;
    bySize.set(pagesize, entry);
  }
  return [...bySize.values()];
}

export async function collectV2(dir: string): Promise<V2Metrics> {
  const controllers = (await readFile(join(dir, 'cgroup.controllers'), 'utf8'))
    .trim()
    .split(/\s+/)
    .filter((c) => c !== '');
  const out = new Map<string, bigint>();
  for (const c of controllers) {
    if (c !== 'cpu' && c !== 'memory') continue;
    for (const [k, v] of await kvOrEmpty(join(dir, `${c}.stat`))) out.set(k, v);
  }
  const events = await kvOrEmpty(join(dir, 'memory.events'));
  const get = (k: string): bigint => out.get(k) ?? 0n;
  const memory = {} as V2MemoryStat;
  for (const field of V2_MEMORY_STAT_FIELDS) memory[field] = get(field);
  memory.usage = await singleValue(join(dir, 'memory.current'));
  memory.usage_limit = await singleValue(join(dir, 'memory.max'));
  memory.max_usage = await singleValue(join(dir, 'memory.peak'));
  memory.swap_usage = await singleValue(join(dir, 'memory.swap.current'));
  memory.swap_limit = await singleValue(join(dir, 'memory.swap.max'));
  memory.swap_max_usage = await singleValue(join(dir, 'memory.swap.peak'));
  const memoryPsi = await psi(join(dir, 'memory.pressure'));
  if (memoryPsi) memory.psi = memoryPsi;
  const cpuPsi = await psi(join(dir, 'cpu.pressure'));
  const ioPsi = await psi(join(dir, 'io.pressure'));
  const metrics: V2Metrics = {
    pids: {
      current: await singleValue(join(dir, 'pids.current')),
      limit: await singleValue(join(dir, 'pids.max')),
    },
    cpu: {
      usage_usec: get('usage_usec'),
      user_usec: get('user_usec'),
      system_usec: get('system_usec'),
      nr_periods: get('nr_periods'),
      nr_throttled: get('nr_throttled'),
      throttled_usec: get('throttled_usec'),
      ...(cpuPsi ? { psi: cpuPsi } : {}),
    },
    memory,
    io: {
      usage: parseIoStat((await readOptional(join(dir, 'io.stat'))) ?? ''),
      ...(ioPsi ? { psi: ioPsi } : {}),
    },
    rdma: {
      current: parseRdma((await readOptional(join(dir, 'rdma.current'))) ?? ''),
      limit: parseRdma((await readOptional(join(dir, 'rdma.max'))) ?? ''),
    },
    hugetlb: await hugetlb(dir),
  };
  if (events.size > 0) {
    metrics.memory_events = {
      low: events.get('low') ?? 0n,
      high: events.get('high') ?? 0n,
      max: events.get('max') ?? 0n,
      oom: events.get('oom') ?? 0n,
      oom_kill: events.get('oom_kill') ?? 0n,
    };
  }
  return metrics;
}
