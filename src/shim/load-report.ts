// What a daemon carries (containers, RSS, V8 heap, fds) in containerd's log, so that an operator
// sees a grouped daemon grow long before a limit takes every container of its group down: a line
// at each new high of a multiple of REPORT_EVERY containers and on SIGUSR1, and a warning when
// the heap or the fds pass WARN_FRACTION of their limit.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Logger } from '../base/log.js';

export const REPORT_EVERY = 100;
const WARN_FRACTION = 0.75;
/** The message of the report line (tests and log searches look for it). */
export const LOAD_MESSAGE = 'shim daemon load';

export interface LoadFigures {
  containers: number;
  rss_kib: number;
  heap_used_kib: number;
  heap_limit_kib: number;
  fds: number;
  fd_limit: number;
}

function procField(file: string, prefix: string, column: number): number {
  try {
    const line = readFileSync(`/proc/self/${file}`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(prefix));
    return Number(line?.slice(prefix.length).trim().split(/\s+/)[column] ?? 0);
  } catch {
    return 0;
  }
}

/** The V8 heap's limit in bytes, once known. */
let heapLimitBytes: number | undefined;

/** node:v8, which costs ~10 ms of CPU at a Node boot: loaded only when needed. */
const v8 = (): typeof import('node:v8') =>
  createRequire(import.meta.url)('node:v8') as typeof import('node:v8');

/**
 * The V8 heap: used now, and its limit. Every process of ours runs with --max-old-space-size
 * (node-command.ts), its heap's limit but for the young generation's few MiB.
 */
function heapFigures(): { used: number; limit: number } {
  if (heapLimitBytes === undefined) {
    const flag = process.execArgv
      .map((arg) => /^--max[-_]old[-_]space[-_]size=(\d+)$/.exec(arg)?.[1])
      .filter((mib) => mib !== undefined)
      .pop();
    heapLimitBytes =
      flag !== undefined ? Number(flag) * 1024 * 1024 : v8().getHeapStatistics().heap_size_limit;
  }
  let used: number;
  try {
    used = process.memoryUsage().heapUsed;
  } catch {
    // It reads the RSS from /proc, which takes an fd: none may be left, which is when this
    // report matters most.
    used = v8().getHeapStatistics().used_heap_size;
  }
  return { used, limit: heapLimitBytes };
}

function fdCount(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

export function measureLoad(containers: number): LoadFigures {
  const heap = heapFigures();
  return {
    containers,
    rss_kib: procField('status', 'VmRSS:', 0),
    heap_used_kib: Math.round(heap.used / 1024),
    heap_limit_kib: Math.round(heap.limit / 1024),
    fds: fdCount(),
    fd_limit: procField('limits', 'Max open files', 0),
  };
}

export class LoadReport {
  #highWater = 0;
  #heapWarned = false;
  #fdsWarned = false;

  constructor(
    private readonly log: Logger,
    private readonly containers: () => number,
  ) {}

  /** Cheap on every change (the heap figures only); /proc is read at a new high or a warning. */
  containersChanged(): void {
    const count = this.containers();
    const heap = heapFigures();
    const heapHigh = heap.used > WARN_FRACTION * heap.limit;
    if (count >= this.#highWater + REPORT_EVERY) {
      this.#highWater = count - (count % REPORT_EVERY);
      this.report('containers');
    } else if (heapHigh && !this.#heapWarned) {
      this.report('heap');
    }
    // Re-armed once the heap is back below the mark, so each climb warns once.
    if (!heapHigh) this.#heapWarned = false;
  }

  report(reason: 'containers' | 'heap' | 'signal'): void {
    const f = measureLoad(this.containers());
    const heapHigh = f.heap_used_kib > WARN_FRACTION * f.heap_limit_kib;
    const fdsHigh = f.fd_limit > 0 && f.fds > WARN_FRACTION * f.fd_limit;
    const fields = { reason, pid: process.pid, ...f };
    if ((heapHigh && !this.#heapWarned) || (fdsHigh && !this.#fdsWarned)) {
      this.log.warn(`${LOAD_MESSAGE}: near a limit`, fields);
    } else {
      this.log.info(LOAD_MESSAGE, fields);
    }
    this.#heapWarned ||= heapHigh;
    this.#fdsWarned = fdsHigh;
  }
}
