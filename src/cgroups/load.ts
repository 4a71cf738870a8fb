// Finding a container's cgroup from its init pid (/proc/<pid>/cgroup), as the reference does
// right after `runc create`. A hybrid host (v1 controllers plus the v2 unified mount) is v1.
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { ShimError } from '../base/errors.js';

const CGROUP2_SUPER_MAGIC = 0x63677270;

export type CgroupMode = 'v1' | 'v2' | 'unavailable';

/** The v1 controllers that have statistics, in the reference's order. */
export const V1_STAT_SUBSYSTEMS = [
  'pids',
  'cpu',
  'cpuacct',
  'memory',
  'blkio',
  'rdma',
  'hugetlb',
] as const;
export type V1Subsystem = (typeof V1_STAT_SUBSYSTEMS)[number];

export type CgroupRef =
  { version: 1; paths: ReadonlyMap<V1Subsystem, string> } | { version: 2; path: string };

export function detectMode(root = '/sys/fs/cgroup'): CgroupMode {
  try {
    return statfsSync(root).type === CGROUP2_SUPER_MAGIC ? 'v2' : 'v1';
  } catch {
    return 'unavailable';
  }
}

/** `/proc/<pid>/cgroup` as controller → path; the v2 line (`0::/path`) is under the key ''. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const path = line.slice(second + 1);
    for (const controller of line.slice(first + 1, second).split(',')) {
      out.set(controller.startsWith('name=') ? controller.slice(5) : controller, path);
    }
  }
  return out;
}

export interface LoadOptions {
  root?: string;
  procRoot?: string;
  mode?: CgroupMode;
}

/** The cgroup of `pid`; throws NotFound when the process or its cgroup is gone. */
export function loadCgroup(pid: number, opts: LoadOptions = {}): CgroupRef {
  const root = opts.root ?? '/sys/fs/cgroup';
  const mode = opts.mode ?? detectMode(root);
  if (mode === 'unavailable') throw new ShimError('not-found', 'cgroups are not mounted');
  let text: string;
  try {
    text = readFileSync(join(opts.procRoot ?? '/proc', String(pid), 'cgroup'), 'utf8');
  } catch (err) {
    throw new ShimError('not-found', `cgroup of pid ${pid}`, { cause: err });
  }
  const entries = parseProcCgroup(text);
  if (mode === 'v2') {
    const path = entries.get('');
    if (path === undefined) throw new ShimError('not-found', `no cgroup v2 entry for pid ${pid}`);
    return { version: 2, path: join(root, path) };
  }
  // Like the reference: a controller counts when it is mounted and the group's directory exists.
  const paths = new Map<V1Subsystem, string>();
  for (const name of V1_STAT_SUBSYSTEMS) {
    const path = entries.get(name);
    if (path === undefined) continue;
    const dir = join(root, name, path);
    if (existsSync(dir)) paths.set(name, dir);
  }
  if (paths.size === 0) throw new ShimError('not-found', `no cgroup v1 controller for pid ${pid}`);
  return { version: 1, paths };
}
