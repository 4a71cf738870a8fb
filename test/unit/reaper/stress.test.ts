// The reaper design under load: in one process, hundreds of children spawned through the Monitor
// and hundreds of re-parented orphans (the way runc hands containers to the shim) all exit
// concurrently; every exit status must arrive exactly once, and nothing may be left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Monitor } from '../../../src/reaper/index.js';
import type { Exit } from '../../../src/reaper/index.js';
import { fdCount, waitFor, zombieChildren } from '../../helpers/leaks.js';

const SH = '/bin/sh';

test('every exit is delivered exactly once, with the right status, and nothing leaks', async () => {
  const monitor = new Monitor();
  monitor.start();
  const fdsBefore = fdCount();
  const seen = new Map<number, Exit[]>();
  const sub = monitor.subscribe((exit) => {
    const list = seen.get(exit.pid) ?? [];
    list.push(exit);
    seen.set(exit.pid, list);
  });
  try {
    // (a) 300 direct children: exit codes 0..99, and every 7th killed by SIGTERM/SIGKILL.
    const direct = Array.from({ length: 300 }, (_, i) => {
      const script = i % 7 === 0 ? `kill -${i % 2 === 0 ? 'TERM' : 'KILL'} $$` : `exit ${i % 100}`;
      const expected = i % 7 === 0 ? (i % 2 === 0 ? 143 : 137) : i % 100;
      const child = monitor.spawn({ file: SH, argv: [SH, '-c', script] });
      return { child, expected };
    });
    // (b) 300 orphans: the shell forks a grandchild, prints its pid and exits at once, so the
    // grandchild is re-parented to us (child subreaper) and exits later with status i % 50.
    const orphans = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const r = await monitor.run({
          file: SH,
          args: ['-c', `(sleep 0.$((${i} % 3 + 1)); exit ${i % 50}) >/dev/null 2>&1 & echo $!`],
        });
        assert.equal(r.status, 0);
        return { pid: Number(r.stdout.toString().trim()), expected: i % 50 };
      }),
    );
    for (const { child, expected } of direct) {
      const exit = await child.exited;
      assert.equal(exit.status, expected, `direct child ${child.pid}`);
    }
    await waitFor(() => orphans.every((o) => seen.has(o.pid)), 20000, 20);
    for (const o of orphans) {
      const exits = seen.get(o.pid) ?? [];
      assert.equal(exits.length, 1, `orphan ${o.pid} exits`);
      assert.equal(exits[0]?.status, o.expected, `orphan ${o.pid} status`);
    }
    for (const { child } of direct) assert.equal(seen.get(child.pid)?.length, 1);
    assert.equal(zombieChildren(process.pid), 0);
    await waitFor(() => fdCount() === fdsBefore, 5000, 20);
  } finally {
    sub.dispose();
    monitor.stop();
  }
});

test('run() captures large output and feeds stdin', async () => {
  const monitor = new Monitor();
  monitor.start();
  try {
    const big = await monitor.run({
      file: SH,
      args: ['-c', 'head -c 1048576 /dev/zero; echo err >&2'],
    });
    assert.equal(big.status, 0);
    assert.equal(big.stdout.length, 1048576);
    assert.equal(big.stderr.toString(), 'err\n');
    const echoed = await monitor.run({ file: '/bin/cat', args: [], input: 'through stdin' });
    assert.equal(echoed.stdout.toString(), 'through stdin');
    await assert.rejects(
      () => monitor.run({ file: '/nonexistent/binary', args: [] }),
      (err: { code?: string }) => err.code === 'ENOENT',
    );
  } finally {
    monitor.stop();
  }
});
