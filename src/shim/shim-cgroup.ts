// ShimCgroup (runtime option): `start` moves the new daemon into that cgroup, as the reference
// does. Unified mode: `/sys/fs/cgroup/<path>/cgroup.procs`. Legacy/hybrid: the `cgroup.procs` of
// `<path>` in every mounted v1 hierarchy where it exists (containerd's cgroups.Load skips the missing ones
// and fails only when it exists in none). The cgroup is never created here.
// Deliberate difference: the reference reads ShimCgroup only from containerd.runc.v1.Options; we
// take it from every options type we decode, since 1.6/1.7 clients send linux.runc.CreateOptions
// (or CRI a TOML config) for a runtime not named io.containerd.runc.*.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../base/errors.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

interface CgroupMount {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** cgroup and cgroup2 mounts from a mountinfo text. */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (pre === undefined || post === undefined) continue;
    const mountPoint = (pre.split(' ')[4] ?? '').replace(/\\040/g, ' ');
    const [fsType = '', , superOpts = ''] = post.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({ mountPoint, fsType, superOptions: superOpts.split(',') });
  }
  return mounts;
}

/** The cgroup.procs files to write for `path`, per the reference's rules. */
export function shimCgroupProcsFiles(path: string, mountinfo: string): string[] {
  const mounts = cgroupMounts(mountinfo);
  const unified = mounts.some((m) => m.fsType === 'cgroup2' && m.mountPoint === CGROUP_ROOT);
  if (unified) return [join(CGROUP_ROOT, path, 'cgroup.procs')];
  // Every mounted v1 hierarchy (devices, named ones, any controller): what the mounts say, not a
  // list of controllers, as containerd's cgroups library loads the path.
  const dirs = mounts
    .filter((m) => m.fsType === 'cgroup')
    .map((m) => join(m.mountPoint, path))
    .filter((dir) => existsSync(dir));
  if (dirs.length === 0) throw new Error(`failed to load cgroup ${path}: cgroup deleted`);
  return [...new Set(dirs)].map((dir) => join(dir, 'cgroup.procs'));
}

/** Moves `pid` into the shim cgroup; throws the reference's messages on failure. */
export function joinShimCgroup(path: string, pid: number): void {
  const files = shimCgroupProcsFiles(path, readFileSync('/proc/self/mountinfo', 'utf8'));
  for (const file of files) {
    try {
      writeFileSync(file, String(pid));
    } catch (err) {
      throw new Error(`failed to join cgroup ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
