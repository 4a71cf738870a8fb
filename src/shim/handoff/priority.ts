// CPU priority of a spare: it boots at the lowest priority, so the boot of a replacement takes
// only CPU that the `start`, Create and Start of the container it follows leave idle, and it is
// raised to the warm process's own priority before it serves (as a daemon started cold would run).
import { getPriority, setPriority } from 'node:os';
import { readdirSync } from 'node:fs';

/** The niceness a spare boots with. */
export const SPARE_BOOT_NICE = 19;

/** This process's niceness: what a daemon it starts would have. */
export function ownNiceness(): number {
  return getPriority();
}

/**
 * Sets the niceness of every thread of `pid` (Linux's setpriority takes a thread id: a process's
 * threads each have their own). Passes again for threads started meanwhile by one still at the old
 * value. False if it was refused (raising a priority needs CAP_SYS_NICE) or `pid` is gone.
 */
export function setThreadsNiceness(pid: number, nice: number): boolean {
  for (let pass = 0; pass < 3; pass++) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${String(pid)}/task`);
    } catch {
      return false;
    }
    let changed = false;
    for (const tid of tids) {
      try {
        if (getPriority(Number(tid)) === nice) continue;
        setPriority(Number(tid), nice);
        changed = true;
      } catch (err) {
        // A thread that ended meanwhile is no refusal (Node's SystemError keeps errno in info).
        if ((err as { info?: { code?: string } }).info?.code === 'ESRCH') continue;
        return false;
      }
    }
    if (!changed) return true;
  }
  return true;
}
