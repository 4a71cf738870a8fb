// Fifty at once, one shim per container: 50 containers killed together, and 50 shim daemons
// killed with SIGKILL together (their containers running), with and without a warm process.
// containerd's clean-up runs our `delete` for each, within 5 s; none may time out ("failed to
// delete"), and nothing may be left behind: no mount, runc state, cgroup, bundle or process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { useHarness, RUNTIMES } from '../helpers/differential.js';
import { isAlive, mountsUnder, processesMatching, waitFor } from '../helpers/leaks.js';

const h = useHarness();
const COUNT = 50;
const RUNC_ROOT = '/run/containerd/runc';

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T>(
  items: T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += width)
    await Promise.all(items.slice(i, i + width).map(fn));
}

async function startMany(name: string): Promise<{ ids: string[]; inits: number[] }> {
  const ids = Array.from({ length: COUNT }, (_, i) => h.uid('ours', `${name}${String(i)}`));
  await inBatches(ids, 10, async (id) => {
    const r = await h.ctr(
      ['run', '-d', '--runtime', RUNTIMES.ours, h.image, id, 'sleep', '100000'],
      {
        timeoutMs: 300000,
      },
    );
    assert.equal(r.exitCode, 0, r.stderr);
  });
  const tasks = (await h.ctr(['task', 'ls'])).stdout.split('\n');
  const inits = ids.map((id) => Number(tasks.find((l) => l.startsWith(`${id} `))?.split(/\s+/)[1]));
  assert.ok(
    inits.every((pid) => pid > 0),
    'every container runs',
  );
  return { ids, inits };
}

/** cgroup directories of a container in every v1 hierarchy (and the unified one). */
function cgroupDirs(id: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || !/^cgroup2? /.test(post)) continue;
    out.push(`${pre.split(' ')[4] ?? ''}/${h.cd.namespace}/${id}`);
  }
  return out.filter((dir) => existsSync(dir));
}

async function assertNothingLeft(ids: string[], inits: number[]): Promise<void> {
  await waitFor(async () => (await h.ctr(['task', 'ls', '-q'])).stdout.trim() === '', 120000);
  for (const id of ids) await h.ctr(['container', 'delete', id]);
  const failures = h.cd
    .log()
    .split('\n')
    // The second: containerd could not finish a dead shim's clean-up (after our delete, its own
    // removal of the bundle), and leaves the bundle and its rootfs mount behind.
    .filter((l) => /failed to delete|failed to clean up after shim disconnected/.test(l));
  assert.deepEqual(failures, [], 'containerd never gave up on our delete');
  assert.deepEqual(mountsUnder(`${h.cd.state}/io.containerd.runtime.v2.task`), [], 'mounts');
  const bundles = `${h.cd.state}/io.containerd.runtime.v2.task/${h.cd.namespace}`;
  const leftBundles = existsSync(bundles)
    ? readdirSync(bundles).filter((d) => ids.includes(d))
    : [];
  assert.deepEqual(leftBundles, [], 'bundles');
  const state = `${RUNC_ROOT}/${h.cd.namespace}`;
  const leftState = existsSync(state) ? readdirSync(state).filter((d) => ids.includes(d)) : [];
  assert.deepEqual(leftState, [], 'runc state');
  await waitFor(() => ids.every((id) => cgroupDirs(id).length === 0), 30000).catch(() => undefined);
  assert.deepEqual(ids.flatMap(cgroupDirs), [], 'cgroups');
  await waitFor(() => inits.every((pid) => !isAlive(pid)), 30000).catch(() => undefined);
  assert.deepEqual(inits.filter(isAlive), [], 'container processes');
  assert.deepEqual(
    ids.flatMap((id) => processesMatching(`-id ${id} -address ${h.cd.address}`)),
    [],
    'shim daemons',
  );
}

test('50 containers killed at once, then deleted together: nothing left behind', async () => {
  const { ids, inits } = await startMany('mass-kill-');
  await Promise.all(ids.map((id) => h.ctr(['task', 'kill', '-s', 'SIGKILL', id])));
  await Promise.all(ids.map((id) => h.waitStatus(id, 'STOPPED', 120000)));
  const deletes = await Promise.all(
    ids.map((id) => h.ctr(['task', 'delete', id], { timeoutMs: 300000 })),
  );
  assert.deepEqual(
    deletes.filter((d) => d.exitCode !== 0).map((d) => d.stderr),
    [],
  );
  await assertNothingLeft(ids, inits);
});

async function killDaemons(name: string, warmToo: boolean): Promise<void> {
  const { ids, inits } = await startMany(name);
  const daemons = ids.flatMap((id) => processesMatching(`-id ${id} -address ${h.cd.address}`));
  assert.equal(daemons.length, COUNT, 'one daemon per container');
  if (warmToo) {
    const warm = processesMatching(`-address ${h.cd.address} warm`);
    assert.equal(warm.length, 1, 'a warm process serves this containerd');
    for (const pid of warm) process.kill(pid, 'SIGKILL');
  }
  for (const pid of daemons) process.kill(pid, 'SIGKILL');
  // `ctr task ls` leaves out a task whose shim is dead at once, before containerd's clean-up (our
  // `delete`) has run; containerd publishes /tasks/delete when that clean-up is done.
  await Promise.all(ids.map((id) => h.waitEvent(id, '/tasks/delete', 120000)));
  await assertNothingLeft(ids, inits);
}

test('50 shim daemons killed with SIGKILL at once: containerd cleans up through our delete', async () => {
  await killDaemons('mass-shim-', false);
});

// As after the warm process's idle time ran out: the first launcher starts Node, which starts a
// warm process; the other 49 wait for it (the cold lock) instead of starting 49 more Node
// processes, which do not fit in containerd's 5 s on 2 cores.
test('50 shim daemons and the warm process killed at once: one Node start-up serves the deletes', async () => {
  await killDaemons('mass-shim-cold-', true);
});
