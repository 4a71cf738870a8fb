// Shim grouping: containers whose spec carries `io.kubernetes.cri.sandbox-id` (what CRI sets for
// every container of a pod) share one shim process, as with the reference. 3 pods of 3
// containers give 3 shims; each container's lifecycle is independent of its pod mates'; a shim
// exits only when its last container is deleted.
import { describe, test } from 'node:test';
import { differential, useHarness, type RuntimeName } from '../helpers/differential.js';
import { isAlive, parentOf, waitFor } from '../helpers/leaks.js';

const h = useHarness();
const PODS = 3;
const PER_POD = 3;

interface Pod {
  sandbox: string;
  ids: string[];
}

async function startPods(
  rt: RuntimeName,
  name: string,
): Promise<{ pods: Pod[]; shims: number[][] }> {
  const pods: Pod[] = Array.from({ length: PODS }, (_, p) => ({
    sandbox: h.uid(rt, `${name}-pod${p}`),
    ids: Array.from({ length: PER_POD }, (_, c) => h.uid(rt, `${name}-p${p}c${c}`)),
  }));
  const shims: number[][] = [];
  for (const pod of pods) {
    const podShims: number[] = [];
    for (const id of pod.ids) {
      const pid = await h.runDetached(
        rt,
        id,
        ['sleep', '1000'],
        ['--annotation', `io.kubernetes.cri.sandbox-id=${pod.sandbox}`],
      );
      podShims.push(parentOf(pid));
    }
    shims.push(podShims);
  }
  return { pods, shims };
}

describe('differential: shim grouping', () => {
  test('3 pods of 3 containers run in 3 shims', async () => {
    await differential(
      async (rt) => {
        const { pods, shims } = await startPods(rt, 'grp');
        const distinctPerPod = shims.map((s) => new Set(s).size);
        const distinct = new Set(shims.flat()).size;
        for (const pod of pods) for (const id of pod.ids) await h.destroy(id);
        await waitFor(() => shims.flat().every((pid) => !isAlive(pid)), 15000);
        return { distinctPerPod, distinct };
      },
      { distinctPerPod: [1, 1, 1], distinct: 3 },
    );
  });

  test('lifecycles in one shim are independent; the shim outlives all but its last container', async () => {
    await differential(
      async (rt) => {
        const { pods, shims } = await startPods(rt, 'indep');
        const [pod] = pods;
        const shim = shims[0]?.[0] ?? 0;
        const [first, second, third] = pod?.ids ?? [];
        if (!first || !second || !third) throw new Error('pod not started');
        // Kill and delete the first: the others (and the other pods) keep running.
        const kill = await h.ctr(['task', 'kill', '-s', 'SIGKILL', first]);
        await h.waitStatus(first, 'STOPPED');
        const exit = await h.waitEvent(first, '/tasks/exit');
        const siblingsAfterKill = [await h.taskStatus(second), await h.taskStatus(third)];
        await h.ctr(['task', 'delete', first]);
        await h.ctr(['container', 'delete', first]);
        const shimAfterFirst = isAlive(shim);
        // An exec in a pod mate works, and its exit is reported for that container only.
        const exec = await h.ctr(['task', 'exec', '--exec-id', 'e', second, 'sh', '-c', 'exit 4']);
        // Pause one, the other stays running.
        await h.ctr(['task', 'pause', second]);
        const pausedPair = [await h.taskStatus(second), await h.taskStatus(third)];
        await h.ctr(['task', 'resume', second]);
        await h.destroy(second);
        const shimAfterSecond = isAlive(shim);
        await h.destroy(third);
        await waitFor(() => !isAlive(shim), 15000);
        for (const other of pods.slice(1)) for (const id of other.ids) await h.destroy(id);
        return {
          kill: kill.exitCode,
          firstStatus: exit.payload['exit_status'],
          siblingsAfterKill,
          shimAfterFirst,
          execCode: exec.exitCode,
          pausedPair,
          shimAfterSecond,
        };
      },
      {
        kill: 0,
        firstStatus: 137,
        siblingsAfterKill: ['RUNNING', 'RUNNING'],
        shimAfterFirst: true,
        execCode: 4,
        pausedPair: ['PAUSED', 'RUNNING'],
        shimAfterSecond: true,
      },
    );
  });

  test('no zombies or leftover mounts', h.assertClean);
});
