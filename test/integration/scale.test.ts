// A namespace-grouped daemon serving SCALE_COUNT containers (default 100; `npm run soak` runs 500)
// under containerd's open-file limit of systemd's default (1024 soft): every container alive and
// exec'd into, the daemon's load reported, then all killed at once: one exit per container, in
// order, and the daemon gone with the last of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useHarness } from '../helpers/differential.js';
import { runScale } from '../helpers/scale.js';
import { execa } from 'execa';
import { fdLimits } from '../helpers/shim-probe.js';

const h = useHarness();
const count = Number(process.env['SCALE_COUNT'] ?? 100);
/** What containerd gets under systemd without a LimitNOFILE (containerd 2.x's own unit). */
const SYSTEMD_SOFT_NOFILE = 1024;

test(`${String(count)} containers in one namespace daemon, killed at once`, async () => {
  // The shims inherit containerd's limit; ~11 fds per container pass 1024 at ~90 containers.
  // Node raises its soft limit to the hard one at start (as Go does): that must stay so.
  const { hard } = fdLimits(h.cd.pid);
  await execa('prlimit', [
    `--pid=${String(h.cd.pid)}`,
    `--nofile=${String(SYSTEMD_SOFT_NOFILE)}:${String(hard)}`,
  ]);
  const r = await runScale(h, {
    count,
    width: 6,
    sampleEvery: 100,
    report: (s) => process.stdout.write(`# scale ${s}\n`),
  });
  assert.equal(r.exitsCounted, count, 'one init exit per container');
  assert.deepEqual(r.warnings, [], 'no load warning or error from the daemon');
});

test('no zombies or leftover mounts', h.assertClean);
