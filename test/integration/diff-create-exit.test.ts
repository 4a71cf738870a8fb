// An init that dies between create and start (containerd issue 9103): the task was created through
// the Tasks API, never started, and its init is killed. The reference publishes the exit (137),
// reports STOPPED, Wait returns and Delete works; so must we, never waiting for a start that will
// not come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { differential, useHarness, type RuntimeName } from '../helpers/differential.js';
import { containerWithRootfs, createTask, waitTask } from '../helpers/tasks-api.js';
import { waitFor } from '../helpers/leaks.js';

const h = useHarness();

async function diesBeforeStart(rt: RuntimeName): Promise<unknown> {
  const id = h.uid(rt, 'died-before-start');
  const rootfs = await containerWithRootfs(h, rt, id, ['sleep', '1000']);
  const created = await createTask(h.cd, id, rootfs);
  assert.equal(created.code, 0, created.message);
  // At once: before containerd or the shim has looked at the task again.
  process.kill(created.pid, 'SIGKILL');
  const exit = await h.waitEvent(id, '/tasks/exit', 15000).then(
    (e) => e.payload['exit_status'],
    () => 'no exit event',
  );
  await waitFor(async () => (await h.taskStatus(id)) === 'STOPPED', 15000).catch(() => undefined);
  const state = await h.taskStatus(id);
  const wait = await waitTask(h.cd, id, 10000);
  const del = await h.cd.ctr(['task', 'delete', '-f', id], { reject: false, timeoutMs: 20000 });
  await h.ctr(['container', 'delete', id]);
  return {
    exit,
    state,
    wait: { code: wait.code, exitStatus: wait.exitStatus },
    deleted: del.exitCode,
    after: await h.taskStatus(id),
  };
}

test('an init killed between create and start: exit 137, STOPPED, Wait returns, Delete works', async () => {
  await differential(diesBeforeStart, {
    exit: 137,
    state: 'STOPPED',
    wait: { code: 0, exitStatus: 137 },
    deleted: 0,
    after: 'ABSENT',
  });
});
