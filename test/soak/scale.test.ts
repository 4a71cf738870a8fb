// The full scale run: 500 containers in one namespace-grouped daemon (SCALE_COUNT changes it),
// the daemon's load printed every 100, then all killed at once. Same checks as
// test/integration/scale.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useHarness } from '../helpers/differential.js';
import { runScale } from '../helpers/scale.js';

const h = useHarness();
const count = Number(process.env['SCALE_COUNT'] ?? 500);

test(`scale: ${String(count)} containers in one namespace daemon, killed at once`, async () => {
  const r = await runScale(h, {
    count,
    width: 6,
    sampleEvery: 100,
    report: (s) => process.stdout.write(`# scale ${new Date().toISOString()} ${s}\n`),
  });
  const [first, last] = [r.samples[0], r.samples.at(-1)];
  if (first && last) {
    const per = (a: number, b: number): string => ((b - a) / (count - 1)).toFixed(1);
    process.stdout.write(
      `# scale per container: rss ${per(first.rss_kib, last.rss_kib)} KiB, heap ${per(first.heap_used_kib, last.heap_used_kib)} KiB, fds ${per(first.fds, last.fds)}\n`,
    );
  }
  process.stdout.write(
    `# scale exits counted: ${String(r.exitsCounted)}, start wall ${String(r.startWallMs)} ms\n`,
  );
  assert.equal(r.exitsCounted, count, 'one init exit per container');
  assert.deepEqual(r.warnings, [], 'no load warning or error from the daemon');
});

test('no zombies or leftover mounts', h.assertClean);
