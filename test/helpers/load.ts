// Load for one grouped shim: container lifecycles (`ctr run --rm`) in the group and execs in a
// long-lived container of it, with the shim's fds, RSS, zombies and mounts sampled as it goes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Harness } from './differential.js';
import { fdCount, mountsUnder, parentOf, waitFor, zombieChildren } from './leaks.js';

export interface Sample {
  phase: 'baseline' | 'lifecycles' | 'execs' | 'after';
  done: number;
  fds: number;
  rssKiB: number;
  zombies: number;
  mounts: number;
}

export interface LoadResult {
  shimPid: number;
  samples: Sample[];
  baseline: Sample;
  after: Sample;
}

export function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

/** Runs `count` jobs, `width` at a time, in order of their index. */
export async function pool(
  count: number,
  width: number,
  job: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
}

export async function runLoad(
  h: Harness,
  opts: {
    lifecycles: number;
    execs: number;
    /** A sample every this many lifecycles / execs. */
    every: { lifecycles: number; execs: number };
    width: number;
    report?: (s: Sample) => void;
  },
): Promise<LoadResult> {
  const tag = String(process.pid);
  const group = ['--annotation', `io.containerd.tsshim.v2.group=load-${tag}`];
  const keeper = `load-keeper-${tag}`;
  const keeperPid = await h.runDetached('ours', keeper, ['sleep', '1000000'], group);
  const shimPid = parentOf(keeperPid);
  const tasks = `${h.cd.state}/io.containerd.runtime.v2.task`;
  const samples: Sample[] = [];
  const sample = (phase: Sample['phase'], done: number): Sample => {
    const s = {
      phase,
      done,
      fds: fdCount(shimPid),
      rssKiB: rssKiB(shimPid),
      zombies: zombieChildren(shimPid),
      mounts: mountsUnder(tasks).length,
    };
    samples.push(s);
    opts.report?.(s);
    return s;
  };

  const runOne = async (i: number): Promise<void> => {
    const id = `load-${tag}-${String(i)}`;
    const r = await h.ctr(
      [
        'run',
        '--rm',
        ...group,
        '--runtime',
        'io.containerd.tsshim.v2',
        h.image,
        id,
        'sh',
        '-c',
        `echo l${String(i)}; exit ${String(i % 4)}`,
      ],
      { timeoutMs: 300000 },
    );
    assert.deepEqual(
      { out: r.stdout, code: r.exitCode, err: r.stderr },
      { out: `l${String(i)}`, code: i % 4, err: '' },
      `lifecycle ${String(i)}`,
    );
  };
  const execOne = async (i: number): Promise<void> => {
    const r = await h.ctr(
      ['task', 'exec', '--exec-id', `e${String(i)}`, keeper, 'sh', '-c', `echo x${String(i)}`],
      { timeoutMs: 300000 },
    );
    assert.deepEqual(
      { out: r.stdout, code: r.exitCode, err: r.stderr },
      { out: `x${String(i)}`, code: 0, err: '' },
      `exec ${String(i)}`,
    );
  };

  try {
    return await drive();
  } finally {
    await h.destroy(keeper);
  }

  async function drive(): Promise<LoadResult> {
    // One of each first, so lazily created state (event connection, modules) is in the baseline.
    await runOne(opts.lifecycles);
    await execOne(opts.execs);
    const settle = async (): Promise<void> => {
      await waitFor(() => zombieChildren(shimPid) === 0, 10000).catch(() => undefined);
    };
    await settle();
    const baseline = sample('baseline', 0);

    let lifecyclesDone = 0;
    await pool(opts.lifecycles, opts.width, async (i) => {
      await runOne(i);
      if (++lifecyclesDone % opts.every.lifecycles === 0) sample('lifecycles', lifecyclesDone);
    });
    let execsDone = 0;
    await pool(opts.execs, opts.width, async (i) => {
      await execOne(i);
      if (++execsDone % opts.every.execs === 0) sample('execs', execsDone);
    });
    await settle();
    // Closed sockets and pipes may take a moment to be released.
    await waitFor(() => fdCount(shimPid) <= baseline.fds, 10000).catch(() => undefined);
    const after = sample('after', lifecyclesDone + execsDone);
    return { shimPid, samples, baseline, after };
  }
}
