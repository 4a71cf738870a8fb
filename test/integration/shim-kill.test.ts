// A shim killed with SIGKILL: containerd cleans up through our `delete` action. Where the init
// had already exited (its status recorded in the bundle's init.exit), that status is what
// containerd publishes in its /tasks/exit and /tasks/delete; where it had not, the container was
// killed with the shim and 137 is reported, as the reference does. The reference reports 137 in
// both cases (its delete action never knows the status): a deliberate improvement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { useHarness, RUNTIMES, type RuntimeName } from '../helpers/differential.js';
import { isAlive, mountsUnder, processesMatching, waitFor } from '../helpers/leaks.js';

const h = useHarness();

async function scenario(
  rt: RuntimeName,
  exitFirst: boolean,
): Promise<{ exits: unknown[]; deleteStatus: unknown; status: string; mounts: number }> {
  const id = h.uid(rt, exitFirst ? 'shimkill-exited' : 'shimkill-running');
  const run = await h.ctr([
    'run',
    '-d',
    '--runtime',
    RUNTIMES[rt],
    h.image,
    id,
    'sh',
    '-c',
    exitFirst ? 'exit 7' : 'sleep 100000',
  ]);
  assert.equal(run.exitCode, 0, run.stderr);
  if (exitFirst) {
    const exit = await h.waitEvent(id, '/tasks/exit', 30000);
    assert.equal(exit.payload['exit_status'], 7);
    await h.waitStatus(id, 'STOPPED');
    // Ours records the status before publishing the exit.
    if (rt === 'ours') assert.ok(existsSync(`${bundleOf(id)}/init.exit`));
  } else await h.waitStatus(id, 'RUNNING');
  const shims = processesMatching(`-id ${id} -address ${h.cd.address}`);
  assert.equal(shims.length, 1, `one shim for ${id}`);
  const shim = shims[0] ?? 0;
  process.kill(shim, 'SIGKILL');
  await h.waitEvent(id, '/tasks/delete', 30000);
  await waitFor(() => !isAlive(shim), 10000);
  const exits = h
    .eventsFor(id)
    .filter((e) => e.topic === '/tasks/exit')
    .map((e) => e.payload['exit_status']);
  const deleteStatus = h.eventFor(id, '/tasks/delete')['exit_status'];
  const status = await h.taskStatus(id);
  const mounts = mountsUnder(bundleOf(id)).length;
  await h.ctr(['container', 'delete', id]);
  return { exits, deleteStatus, status, mounts };
}

function bundleOf(id: string): string {
  return `${h.cd.state}/io.containerd.runtime.v2.task/${h.cd.namespace}/${id}`;
}

test('exit known before the shim died: containerd reports it from the bundle record', async () => {
  // The first exit is the shim's own, the second containerd's after the delete action.
  assert.deepEqual(await scenario('ours', true), {
    exits: [7, 7],
    deleteStatus: 7,
    status: 'ABSENT',
    mounts: 0,
  });
  // The reference makes one up.
  assert.deepEqual(await scenario('reference', true), {
    exits: [7, 137],
    deleteStatus: 137,
    status: 'ABSENT',
    mounts: 0,
  });
});

test('exit unknown (killed with the shim): 137, as the reference', async () => {
  const expected = { exits: [137], deleteStatus: 137, status: 'ABSENT', mounts: 0 };
  assert.deepEqual(await scenario('reference', false), expected);
  assert.deepEqual(await scenario('ours', false), expected);
});

test("a daemon's fatal abort leaves its last words, with the container id, in containerd's log", async () => {
  // SIGABRT is how V8 (out of memory) and native assertions end a process: abort(3).
  const id = h.uid('ours', 'last-words');
  const run = await h.ctr(['run', '-d', '--runtime', RUNTIMES.ours, h.image, id, 'sleep', '1000']);
  assert.equal(run.exitCode, 0, run.stderr);
  const [shim = 0] = processesMatching(`-id ${id} -address ${h.cd.address}`);
  process.kill(shim, 'SIGABRT');
  await h.waitEvent(id, '/tasks/delete', 30000);
  await waitFor(() => !isAlive(shim), 10000);
  const words = h.cd
    .log()
    .split('\n')
    .filter((l) => l.includes('shim daemon killed by a fatal signal'));
  assert.equal(words.length, 1, 'one last line');
  assert.match(words[0] ?? '', new RegExp(`pid=${String(shim)} id=${id} signal=6$`));
  assert.equal(await h.taskStatus(id), 'ABSENT');
  await h.ctr(['container', 'delete', id]);
});

test("what the daemon writes to stderr reaches containerd's log", async () => {
  // Stands for V8's fatal report, which goes to stderr: a write to the daemon's fd 2.
  const id = h.uid('ours', 'stderr');
  const run = await h.ctr(['run', '-d', '--runtime', RUNTIMES.ours, h.image, id, 'sleep', '1000']);
  assert.equal(run.exitCode, 0, run.stderr);
  const [shim = 0] = processesMatching(`-id ${id} -address ${h.cd.address}`);
  const marker = `stderr of ${id}`;
  writeFileSync(`/proc/${String(shim)}/fd/2`, `${marker}\n`);
  await waitFor(() => h.cd.log().includes(marker), 10000);
  await h.destroy(id);
});

test('no zombies or leftover mounts', h.assertClean);
