// Leaks and load: one grouped shim through many container lifecycles and execs ends where it
// started (fds, zombies, mounts) with its RSS within a generous constant of the baseline; and 50
// containers started in parallel, each in its own shim, all succeed. `npm run soak` runs the
// same load at full size (test/soak/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useHarness } from '../helpers/differential.js';
import { runLoad } from '../helpers/load.js';

const h = useHarness();

/** Growth that would mean a leak; a flat shim stays far below it (the V8 heap is capped at 64 MiB). */
const RSS_GROWTH_LIMIT_KIB = 48 * 1024;

test('100 lifecycles and 500 execs in one grouped shim: fds, zombies, mounts flat', async (t) => {
  const r = await runLoad(h, {
    lifecycles: 100,
    execs: 500,
    every: { lifecycles: 25, execs: 100 },
    width: 4,
    report: (s) => {
      t.diagnostic(JSON.stringify(s));
    },
  });
  assert.equal(r.after.fds, r.baseline.fds, 'shim fds');
  assert.equal(r.after.zombies, 0, 'zombie children of the shim');
  assert.equal(r.after.mounts, r.baseline.mounts, 'rootfs mounts');
  assert.ok(
    r.after.rssKiB - r.baseline.rssKiB < RSS_GROWTH_LIMIT_KIB,
    `RSS ${String(r.baseline.rssKiB)} -> ${String(r.after.rssKiB)} KiB`,
  );
});

test('50 containers started in parallel all succeed', async () => {
  const tag = String(process.pid);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      h.ctr(
        [
          'run',
          '--rm',
          '--runtime',
          'io.containerd.tsshim.v2',
          h.image,
          `par-${tag}-${String(i)}`,
          'sh',
          '-c',
          `echo p${String(i)}; exit ${String(i % 3)}`,
        ],
        { timeoutMs: 600000 },
      ),
    ),
  );
  assert.deepEqual(
    results.map((r) => ({ out: r.stdout, code: r.exitCode })),
    Array.from({ length: 50 }, (_, i) => ({ out: `p${String(i)}`, code: i % 3 })),
  );
});

test('no zombies or leftover mounts', h.assertClean);
