// No output lost at the end of a process: a client whose reader opens late (a starved client), a
// client that reads slowly after the exit (a drain longer than any fixed limit), a leftover process
// holding the pipe (Delete still returns), and a short starvation soak (containerd and the shims
// under a CPU quota) with every byte of every output checked. `npm run soak` runs the long one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, mkdtempSync, openSync, closeSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { differential, useHarness, type RuntimeName } from '../helpers/differential.js';
import { containerWithRootfs, createTask, startTask, waitTask } from '../helpers/tasks-api.js';
import { runOutputSoak } from '../helpers/output-soak.js';
import { cpuQuotaAvailable, starve } from '../helpers/starvation.js';
import { sleep } from '../../src/base/deferred.js';

const h = useHarness();

async function fifos(names: string[]): Promise<{ dir: string; paths: string[] }> {
  const dir = mkdtempSync('/tmp/out-fifo-');
  const paths = names.map((n) => join(dir, n));
  await execa('mkfifo', paths);
  return { dir, paths };
}

async function removeContainer(id: string): Promise<void> {
  await h.ctr(['task', 'delete', '-f', id]);
  await h.ctr(['container', 'delete', id]);
}

// Go clients open their reader with a blocking open(2) in the background, before asking for the
// task; starved, that open can start only after a short-lived process has exited. A blocking
// open for reading waits for a writer, so the shim must not have opened, written and closed its
// writer before the reader came: the reference waits for the reader; so must we.
async function lateReader(rt: RuntimeName): Promise<unknown> {
  const id = h.uid(rt, 'late-reader');
  const rootfs = await containerWithRootfs(h, rt, id, ['sh', '-c', 'echo late; echo late-e >&2']);
  const { dir, paths } = await fifos(['out', 'err']);
  const [stdout = '', stderr = ''] = paths;
  try {
    const task = (async () => {
      const created = await createTask(h.cd, id, rootfs, { stdout, stderr });
      assert.equal(created.code, 0, `create: ${created.message}`);
      const started = await startTask(h.cd, id);
      assert.equal(started.code, 0, `start: ${started.message}`);
      return (await waitTask(h.cd, id, 60000)).exitStatus;
    })();
    // Ours has run the process by then unless it waits for the readers; the reference waits.
    await Promise.race([task, sleep(2000)]);
    const read = (path: string) =>
      execa('cat', [path], { timeout: 30000, reject: false, stripFinalNewline: false });
    const [out, err] = await Promise.all([read(stdout), read(stderr)]);
    return { stdout: out.stdout, stderr: err.stdout, exit: await task };
  } finally {
    await removeContainer(id);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a reader that opens its FIFO late still gets all the output', async () => {
  await differential(lateReader, { stdout: 'late\n', stderr: 'late-e\n', exit: 0 });
});

const PAGE = 4096;
/** 30 pages: more than one pipe holds, less than the process's pipe and the FIFO together. */
const SLOW_BYTES = 30 * PAGE;

// The process exits with part of its output still in its pipe (the FIFO is full: the client
// has not read yet); the client deletes, then reads 1 KiB at a time, for longer in all than any
// fixed drain limit (2 s in the 1.6 reference, 10 s in 2.x) but never pausing long. Delete must
// wait for the copy to reach the end of the pipe, and every byte must arrive.
async function slowReader(rt: RuntimeName): Promise<{ read: number; deleted: number }> {
  const id = h.uid(rt, 'slow-reader');
  const script = `dd if=/dev/zero bs=${String(PAGE)} count=${String(SLOW_BYTES / PAGE)} 2>/dev/null`;
  const rootfs = await containerWithRootfs(h, rt, id, ['sh', '-c', script]);
  const { dir, paths } = await fifos(['out', 'err']);
  const [stdout = '', stderr = ''] = paths;
  const reader = openSync(stdout, constants.O_RDONLY | constants.O_NONBLOCK);
  const errReader = openSync(stderr, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const created = await createTask(h.cd, id, rootfs, { stdout, stderr });
    assert.equal(created.code, 0, `create: ${created.message}`);
    assert.equal((await startTask(h.cd, id)).code, 0);
    assert.equal((await waitTask(h.cd, id, 60000)).exitStatus, 0);
    const deleted = h.ctr(['task', 'delete', id], { timeoutMs: 120000 });
    const buf = Buffer.alloc(PAGE);
    let read = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(reader, buf, 0, read < SLOW_BYTES / 2 ? 1024 : PAGE, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        n = -1;
      }
      if (n === 0) break;
      if (n > 0) read += n;
      // Slowly through the first half (the part behind the full FIFO), then at once.
      if (n < 0 || read < SLOW_BYTES / 2) await sleep(250);
    }
    return { read, deleted: (await deleted).exitCode };
  } finally {
    closeSync(reader);
    closeSync(errReader);
    await h.ctr(['container', 'delete', id]);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a slow reader: Delete waits for the end of the output, not for a time limit', async (t) => {
  const ours = await slowReader('ours');
  assert.deepEqual(ours, { read: SLOW_BYTES, deleted: 0 });
  // The reference gives up after its limit: what it delivers is informative only.
  const reference = await slowReader('reference');
  t.diagnostic(`reference: ${String(reference.read)} of ${String(SLOW_BYTES)} bytes`);
});

// A leftover process that inherited the exec's stdout keeps the pipe open for ever: Delete must
// still return (once no byte has moved for the drain's quiet bound), with the exec's own output.
async function heldByLeftover(rt: RuntimeName): Promise<unknown> {
  const id = h.uid(rt, 'held-pipe');
  await h.runDetached(rt, id, ['sleep', '100000']);
  try {
    const r = await h.ctr(
      ['task', 'exec', '--exec-id', 'held', id, 'sh', '-c', 'echo mine; sleep 100000 &'],
      { timeoutMs: 120000 },
    );
    return { stdout: r.stdout, exitCode: r.exitCode };
  } finally {
    await h.destroy(id);
  }
}

test('a leftover process holding the output pipe does not hang Delete', async () => {
  await differential(heldByLeftover, { stdout: 'mine', exitCode: 0 });
});

test(
  'short starvation soak: containerd and shims under a CPU quota, every byte checked',
  { skip: !cpuQuotaAvailable() && 'no cgroup v1 cpu controller' },
  async (t) => {
    const starvation = await starve({
      containerdPid: h.cd.pid,
      quotaPercent: 30,
      busyLoops: 0,
      busyNice: 0,
    });
    try {
      const r = await runOutputSoak(h, {
        runs: 100,
        runtimes: ['ours', 'reference'],
        lifecycleEvery: 5,
        width: 6,
      });
      t.diagnostic(`${starvation.description}: ${JSON.stringify(r.tallies)}`);
      const ours = r.tallies.ours;
      assert.deepEqual(
        { runs: ours.runs, bytesLost: ours.bytesLost, extra: ours.extraBytes, bad: ours.badExit },
        { runs: 100, bytesLost: 0, extra: 0, bad: 0 },
        JSON.stringify(r.failures.filter((f) => f.runtime === 'ours').slice(0, 5)),
      );
    } finally {
      await starvation.stop();
    }
  },
);

test('no zombies or leftover mounts', h.assertClean);
