// A container's cgroup: where it is (from the init pid), its statistics and its OOM watching.
// Plain data only: the task layer encodes metrics and publishes events.
import type { Logger } from '../base/log.js';
import { loadCgroup, type CgroupRef, type LoadOptions } from './load.js';
import type { CgroupMetrics } from './metrics.js';
import { watchOom, type OomWatcher } from './oom.js';
import { collectV1, type V1Options } from './v1-stats.js';
import { collectV2 } from './v2-stats.js';

export type { CgroupMetrics, V1Metrics, V2Metrics } from './metrics.js';
export type { CgroupRef } from './load.js';

export async function collectStats(cg: CgroupRef, opts: V1Options = {}): Promise<CgroupMetrics> {
  if (cg.version === 1) return { version: 1, metrics: await collectV1(cg.paths, opts) };
  return { version: 2, metrics: await collectV2(cg.path) };
}

export class ContainerCgroup {
  #oom: OomWatcher | undefined;

  private constructor(readonly ref: CgroupRef) {}

  /** Finds the cgroup of `pid` and starts OOM watching; throws when there is no cgroup. */
  static load(
    pid: number,
    onOom: () => void,
    log: Logger,
    opts: LoadOptions = {},
  ): ContainerCgroup {
    const cg = new ContainerCgroup(loadCgroup(pid, opts));
    try {
      cg.#oom = watchOom(cg.ref, onOom, log);
    } catch (err) {
      // Stats still work without OOM events; the reference also only logs this.
      log.warn('cannot watch for OOM', { pid, error: String(err) });
    }
    return cg;
  }

  stats(): Promise<CgroupMetrics> {
    return collectStats(this.ref);
  }

  /** The final look at the kill counter before an exit is published. */
  checkOom(): void {
    this.#oom?.check();
  }

  close(): void {
    this.#oom?.close();
    this.#oom = undefined;
  }
}
