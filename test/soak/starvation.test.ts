// The starvation soak: 10,000 short-lived runs per shim (ours and the reference, interleaved),
// containers and execs, each writing a known output (a line, bytes without a newline, a few KiB,
// a line right before exit), while containerd and the shims are starved of CPU on purpose: a CPU
// quota on them, and busy loops on every core at a higher priority than everything else. Every
// byte is checked: ours must lose none; what the reference loses is printed.
// SOAK_STARVE_RUNS (runs per shim), SOAK_STARVE_QUOTA (% of a core), SOAK_STARVE_BUSY (loops),
// SOAK_STARVE_NICE and SOAK_STARVE_WIDTH change the load; SOAK_STARVE_SHIMS=ours skips the reference;
// SOAK_STARVE_UNTIL (a date) starts no run after it, for a partial run that fits a time slot.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { useHarness, type RuntimeName } from '../helpers/differential.js';
import { runOutputSoak } from '../helpers/output-soak.js';
import { defaultBusyLoops, starve, type Starvation } from '../helpers/starvation.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const runs = env('SOAK_STARVE_RUNS', 10000);
const runtimes = (process.env['SOAK_STARVE_SHIMS'] ?? 'ours,reference').split(',') as RuntimeName[];

const h = useHarness();
let starvation: Starvation | undefined;
after(async () => {
  await starvation?.stop();
});

test(`starvation soak: ${String(runs)} runs per shim, every output byte checked`, async () => {
  starvation = await starve({
    containerdPid: h.cd.pid,
    quotaPercent: env('SOAK_STARVE_QUOTA', 40),
    busyLoops: env('SOAK_STARVE_BUSY', defaultBusyLoops()),
    busyNice: env('SOAK_STARVE_NICE', -5),
  });
  const print = (what: string, value: unknown): void => {
    process.stdout.write(`# starvation ${what} ${JSON.stringify(value)}\n`);
  };
  print('load', { starvation: starvation.description, runs, runtimes });
  const r = await runOutputSoak(h, {
    runs,
    runtimes,
    lifecycleEvery: 10,
    width: env('SOAK_STARVE_WIDTH', 8),
    every: 250,
    ...(process.env['SOAK_STARVE_UNTIL']
      ? { until: Date.parse(process.env['SOAK_STARVE_UNTIL']) }
      : {}),
    onFailure: (f) => {
      print('failure', f);
    },
    report: (so, done) => {
      print('progress', { at: new Date().toISOString(), done, ...so.tallies });
    },
  });
  await starvation.stop();
  print('result', r.tallies);
  const ours = r.tallies.ours;
  if (runtimes.includes('ours')) {
    // A partial run (SOAK_STARVE_UNTIL) stops early; its figures are still exact.
    if (process.env['SOAK_STARVE_UNTIL'] === undefined) assert.equal(ours.runs, runs);
    assert.deepEqual(
      { bytesLost: ours.bytesLost, extraBytes: ours.extraBytes, badExit: ours.badExit },
      { bytesLost: 0, extraBytes: 0, badExit: 0 },
      `ours: ${JSON.stringify(r.failures.filter((f) => f.runtime === 'ours').slice(0, 5))}`,
    );
  }
});

test('no zombies or leftover mounts', h.assertClean);
