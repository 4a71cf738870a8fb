// CPU starvation on purpose, for the output soaks: a cgroup v1 CPU quota on a private containerd
// (the shims, runc and the warm process it starts inherit it; containers get their own cgroups
// from runc), and optionally busy loops, one per core, at a higher priority than everything else.
// Everything started here is stopped by its PID, and the cgroup removed, by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './leaks.js';

const CPU_CGROUP = '/sys/fs/cgroup/cpu';
const PERIOD_US = 100_000;

export interface StarvationOptions {
  /** containerd's pid: it and every process it starts from now on get the quota. */
  containerdPid: number;
  /** The group's CPU per period, in per cent of one core (0: no quota). */
  quotaPercent: number;
  /** Busy loops (0: none); they run at `busyNice`. */
  busyLoops: number;
  busyNice: number;
}

export interface Starvation {
  readonly description: string;
  stop(): Promise<void>;
}

export function cpuQuotaAvailable(): boolean {
  return existsSync(join(CPU_CGROUP, 'cpu.cfs_quota_us'));
}

export function defaultBusyLoops(): number {
  return availableParallelism();
}

export async function starve(opts: StarvationOptions): Promise<Starvation> {
  const loops: ChildProcess[] = [];
  let group = '';
  const stop = async (): Promise<void> => {
    for (const loop of loops.splice(0)) {
      if (loop.exitCode === null && loop.signalCode === null) {
        const gone = new Promise((resolve) => loop.once('exit', resolve));
        loop.kill('SIGKILL');
        await gone;
      }
    }
    if (group !== '') {
      const dir = group;
      group = '';
      // Lift the quota first, then move what is left (containerd, shims) back to the root group.
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), '-1');
      await waitFor(() => {
        const pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            writeFileSync(join(CPU_CGROUP, 'cgroup.procs'), pid);
          } catch {
            // gone meanwhile
          }
        }
        return pids.length === 0;
      }, 30000)
        .then(() => {
          rmdirSync(dir);
        })
        .catch(() => undefined);
    }
  };
  try {
    if (opts.quotaPercent > 0) {
      group = join(CPU_CGROUP, `tsshim-starve-${String(process.pid)}`);
      mkdirSync(group, { recursive: true });
      writeFileSync(join(group, 'cpu.cfs_period_us'), String(PERIOD_US));
      writeFileSync(
        join(group, 'cpu.cfs_quota_us'),
        String(Math.round((PERIOD_US * opts.quotaPercent) / 100)),
      );
      writeFileSync(join(group, 'cgroup.procs'), String(opts.containerdPid));
    }
    for (let i = 0; i < opts.busyLoops; i++) {
      const loop = spawn('nice', ['-n', String(opts.busyNice), 'sh', '-c', 'while :; do :; done'], {
        stdio: 'ignore',
      });
      loops.push(loop);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const parts = [
    opts.quotaPercent > 0 ? `containerd and shims at ${String(opts.quotaPercent)}% of a core` : '',
    opts.busyLoops > 0
      ? `${String(opts.busyLoops)} busy loops at nice ${String(opts.busyNice)}`
      : '',
  ].filter(Boolean);
  return { description: parts.join(', ') || 'none', stop };
}
