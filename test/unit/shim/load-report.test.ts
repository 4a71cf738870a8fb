import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../../src/base/log.js';
import { LOAD_MESSAGE, LoadReport, measureLoad } from '../../../src/shim/load-report.js';

/** The load lines written while `drive` runs, as their fields. */
function reports(drive: (report: LoadReport, set: (n: number) => void) => void): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'load-'));
  const fd = openSync(join(dir, 'log'), 'w');
  let count = 0;
  try {
    drive(new LoadReport(new Logger(fd, 'info'), () => count), (n) => (count = n));
  } finally {
    closeSync(fd);
  }
  const text = readFileSync(join(dir, 'log'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return text
    .split('\n')
    .filter((l) => l.includes(LOAD_MESSAGE))
    .map((l) => /reason=\w+ .*containers=\d+/.exec(l)?.[0].replace(/ pid=\d+/, '') ?? l);
}

test('a line at each new high of 100 containers, none on the way down or back up', () => {
  const lines = reports((report, set) => {
    for (const n of [1, 99, 100, 101, 199, 250, 150, 120, 230, 299, 300]) {
      set(n);
      report.containersChanged();
    }
  });
  assert.deepEqual(lines, [
    'reason=containers containers=100',
    'reason=containers containers=250',
    'reason=containers containers=300',
  ]);
});

test('SIGUSR1 asks for a line whatever the count', () => {
  const lines = reports((report, set) => {
    set(7);
    report.report('signal');
  });
  assert.deepEqual(lines, ['reason=signal containers=7']);
});

test('the figures are this process', () => {
  const f = measureLoad(3);
  assert.equal(f.containers, 3);
  assert.ok(f.rss_kib > 0 && f.fds > 0 && f.fd_limit > 0);
  assert.ok(f.heap_used_kib > 0 && f.heap_used_kib < f.heap_limit_kib);
});

test('with --max-old-space-size (as every process of ours runs) that is the heap limit', () => {
  // Without the flag (this test process) the limit comes from node:v8, checked above.
  const module = new URL('../../../src/shim/load-report.js', import.meta.url).href;
  const r = spawnSync(
    process.execPath,
    [
      '--max-old-space-size=64',
      '--input-type=module',
      '-e',
      `import { measureLoad } from '${module}'; console.log(JSON.stringify(measureLoad(1)));`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const f = JSON.parse(r.stdout) as { heap_limit_kib: number; heap_used_kib: number };
  assert.equal(f.heap_limit_kib, 64 * 1024);
  assert.ok(f.heap_used_kib > 0 && f.heap_used_kib < f.heap_limit_kib);
});

test('with every fd in use the figures still come, and nothing throws', () => {
  const module = new URL('../../../src/shim/load-report.js', import.meta.url).href;
  const script = `
    import { openSync } from 'node:fs';
    import { measureLoad } from '${module}';
    const held = [];
    try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
    const f = measureLoad(1);
    console.log(JSON.stringify(f));`;
  const r = spawnSync(
    'sh',
    ['-c', `ulimit -n 64 && exec "$0" --input-type=module -e "$1"`, process.execPath, script],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const f = JSON.parse(r.stdout) as { heap_used_kib: number; heap_limit_kib: number };
  assert.ok(f.heap_used_kib > 0 && f.heap_used_kib < f.heap_limit_kib);
});
