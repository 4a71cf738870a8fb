// Back-pressure: a container flooding stdout while nobody reads its FIFO (`ctr run -d`, nobody
// attached) is blocked in write(2), as with the reference, and the shim holds no more than its
// stream buffers: its RSS stays within a generous constant instead of growing with the 200 MiB
// the container wants to write. A reader that attaches lets the flow resume to the end.
import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { differential, useHarness, type RuntimeName } from '../helpers/differential.js';
import { parentOf, waitFor } from '../helpers/leaks.js';
import { rssKiB } from '../helpers/load.js';

const h = useHarness();
const CHUNKS = 3200; // of 64 KiB: 200 MiB
/** Far above pipe + FIFO + stream buffers, far below the 200 MiB an unbounded copy would hold. */
const RSS_GROWTH_LIMIT_KIB = 32 * 1024;

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A process of the container asleep in a pipe write. */
function blockedWriter(initPid: number): boolean {
  return [initPid, ...childrenOf(initPid)].some((pid) => {
    try {
      return /pipe_write/.test(readFileSync(`/proc/${String(pid)}/wchan`, 'utf8'));
    } catch {
      return false;
    }
  });
}

test('a flooding container nobody reads blocks; the shim does not buffer; a reader resumes it', async (t) => {
  await differential(
    async (rt: RuntimeName) => {
      const id = h.uid(rt, 'flood');
      const script = `i=0; while [ $i -lt ${String(CHUNKS)} ]; do head -c 65536 /dev/zero; i=$((i+1)); echo $i > /tmp/count; done`;
      const initPid = await h.runDetached(rt, id, ['sh', '-c', script]);
      const shim = parentOf(initPid);
      const before = rssKiB(shim);
      const countFile = join(
        h.cd.state,
        'io.containerd.runtime.v2.task',
        h.cd.namespace,
        id,
        'rootfs/tmp/count',
      );
      const count = (): number => {
        try {
          return Number(readFileSync(countFile, 'utf8').trim());
        } catch {
          return 0;
        }
      };
      await waitFor(() => blockedWriter(initPid), 60000);
      const written = count();
      const blockedRss = rssKiB(shim);
      t.diagnostic(
        `${rt}: blocked after ${String(written)} of ${String(CHUNKS)} chunks; shim RSS ${String(before)} -> ${String(blockedRss)} KiB`,
      );
      // A reader attaches: the container runs to its end. Every chunk written after the block
      // was seen can only have left through this reader (the shim's keep-alive end never reads).
      let received = 0;
      let peakRss = blockedRss;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, rssKiB(shim));
      }, 100);
      const attach = execa(
        h.cd.ctrPath,
        ['--address', h.cd.address, '--namespace', h.cd.namespace, 'task', 'attach', id],
        { reject: false, stdin: 'ignore', buffer: false },
      );
      attach.stdout.on('data', (c: Buffer) => (received += c.length));
      let exit;
      try {
        exit = await h.waitEvent(id, '/tasks/exit', 300000);
        await attach;
      } finally {
        clearInterval(sampler);
      }
      t.diagnostic(
        `${rt}: reader got ${String(received)} bytes; shim RSS peak while draining ${String(peakRss)} KiB`,
      );
      await h.ctr(['task', 'delete', id]);
      await h.ctr(['container', 'delete', id]);
      return {
        blockedFarBelowTotal: written < CHUNKS / 10,
        rssBounded: blockedRss - before < RSS_GROWTH_LIMIT_KIB,
        rssBoundedWhileDraining: peakRss - before < RSS_GROWTH_LIMIT_KIB,
        exitStatus: exit.payload['exit_status'],
        resumed: received >= (CHUNKS - written - 1) * 65536,
      };
    },
    {
      blockedFarBelowTotal: true,
      rssBounded: true,
      rssBoundedWhileDraining: true,
      exitStatus: 0,
      resumed: true,
    },
  );
});

test('no zombies or leftover mounts', h.assertClean);
