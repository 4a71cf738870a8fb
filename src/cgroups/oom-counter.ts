// The one record of OOM kills already reported for a cgroup. Both the watcher's notifications
// and the final check before an exit go through it, so one kill is published once.

export class OomKillCounter {
  #reported: bigint;

  /** `initial`: kills counted before watching began (not ours to report). */
  constructor(initial = 0n) {
    this.#reported = initial;
  }

  get reported(): bigint {
    return this.#reported;
  }

  /** Records the kernel's oom_kill count; true when it shows kills not yet reported. */
  update(count: bigint): boolean {
    if (count <= this.#reported) return false;
    this.#reported = count;
    return true;
  }
}

/** `oom_kill N` from memory.oom_control (v1) or memory.events (v2); undefined if absent. */
export function oomKillCount(kv: ReadonlyMap<string, bigint>): bigint | undefined {
  return kv.get('oom_kill');
}
