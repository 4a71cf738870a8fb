// The full soak: 1,000 container lifecycles and 25,000 execs in one grouped shim, printing the
// shim's fds and RSS as it goes. `npm run soak`; sizes can be lowered with SOAK_LIFECYCLES and
// SOAK_EXECS for a partial run. Same checks as test/integration/load.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useHarness } from '../helpers/differential.js';
import { runLoad } from '../helpers/load.js';

const h = useHarness();
const lifecycles = Number(process.env['SOAK_LIFECYCLES'] ?? 1000);
const execs = Number(process.env['SOAK_EXECS'] ?? 25000);
const RSS_GROWTH_LIMIT_KIB = 48 * 1024;

test(`soak: ${String(lifecycles)} lifecycles, ${String(execs)} execs in one grouped shim`, async () => {
  const r = await runLoad(h, {
    lifecycles,
    execs,
    every: { lifecycles: 100, execs: 1000 },
    width: 4,
    report: (s) => {
      process.stdout.write(`# soak ${JSON.stringify({ at: new Date().toISOString(), ...s })}\n`);
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

test('no zombies or leftover mounts', h.assertClean);
