// The open-file limit. A grouped daemon holds about 11 fds per container (stdio FIFOs and pipes,
// cgroup and OOM watchers), so containerd's soft limit (systemd's default is 1024) would stop a
// namespace daemon at about 90 containers. The daemon raises its soft limit to the hard one, as
// every Go program (the reference shim too) does at start; its children get the limit it started
// with back, as Go gives its children, so runc and the containers see what they saw before.
import { readFileSync } from 'node:fs';
import { native } from '../native/index.js';

/** -1 means unlimited. */
export interface FdLimit {
  soft: number;
  hard: number;
}

/** The largest number of fds a process may have (what an unlimited hard limit stands for). */
function nrOpen(): number {
  try {
    return Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim()) || 1048576;
  } catch {
    return 1048576;
  }
}

/** Raises this process's soft limit to its hard one: the limit before, or undefined if unchanged. */
export function raiseFdLimit(): FdLimit | undefined {
  const before = native.prlimitNofile(0);
  const target = before.hard === -1 ? nrOpen() : before.hard;
  if (before.soft === -1 || before.soft >= target) return undefined;
  native.prlimitNofile(0, target, before.hard);
  return before;
}

/** Gives a child back the limit this process started with; a child already gone is left alone. */
export function restoreFdLimit(pid: number, limit: FdLimit): void {
  try {
    native.prlimitNofile(pid, limit.soft, limit.hard);
  } catch {
    // ESRCH: it has exited already.
  }
}
