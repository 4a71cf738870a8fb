// Differential scenarios for the task lifecycle beyond run/exit: pause and resume, update,
// kill --all, pids with exec ids, exec in every state, and the errors a user sees for operations
// in the wrong state. Each one runs under the reference shim and ours (helpers/differential.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { differential, useHarness, type RuntimeName } from '../helpers/differential.js';
import { updateTask } from '../helpers/tasks-api.js';
import { waitFor } from '../helpers/leaks.js';

const h = useHarness();

/** ctr's error line without ids, pids and paths, so both shims' messages compare. */
function normalize(text: string, id: string): string {
  return text
    .replaceAll(id, '<id>')
    .replace(/\/run\/containerd\/fifo\/\d+/g, '<fifo>')
    .replace(/time="[^"]*"\s*/g, '')
    .replace(/level=\w+\s*/g, '')
    .replace(/\b\d{3,}\b/g, '<n>')
    .trim();
}

/** `ctr task exec` that stays in the background. */
function execBackground(id: string, execId: string, args: string[]) {
  return h.ctrBackground(['task', 'exec', '--exec-id', execId, id, ...args]);
}

async function waitTopic(id: string, topic: string): Promise<void> {
  await waitFor(() => h.topicsFor(id).includes(topic), 10000, 50);
}

async function psPids(id: string): Promise<string[]> {
  const { stdout } = await h.ctr(['task', 'ps', id]);
  return stdout.split('\n').slice(1).filter(Boolean);
}

const sleeper = ['sleep', '1000'];

/** The host path of a process's cgroup v1 memory controller directory. */
function memoryCgroupOf(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes('memory'));
  assert.ok(line, `no memory cgroup for ${pid}`);
  return `/sys/fs/cgroup/memory${line.split(':')[2] ?? ''}`;
}

describe('differential: lifecycle', () => {
  test('pause and resume: states, events, exec refused while paused', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'pause');
        await h.runDetached(rt, id, sleeper);
        const pause = await h.ctr(['task', 'pause', id]);
        const paused = await h.taskStatus(id);
        const exec = await h.ctr(['task', 'exec', '--exec-id', 'p1', id, 'true']);
        const resume = await h.ctr(['task', 'resume', id]);
        const resumed = await h.taskStatus(id);
        const resumeAgain = await h.ctr(['task', 'resume', id]);
        await h.destroy(id);
        return {
          pause: pause.exitCode,
          paused,
          execCode: exec.exitCode,
          execError: normalize(exec.stderr, id),
          resume: resume.exitCode,
          resumed,
          resumeAgain: resumeAgain.exitCode,
          resumeAgainError: normalize(resumeAgain.stderr, id),
          topics: (await h.waitLifecycle(rt, id, 6)).filter((t) => !t.includes('exec')),
        };
      },
      {
        pause: 0,
        paused: 'PAUSED',
        execCode: 1,
        execError: `ctr: cannot exec in a paused state${h.unknown}`,
        resume: 0,
        resumed: 'RUNNING',
        resumeAgain: 1,
        resumeAgainError: `ctr: cannot resume a running process${h.unknown}`,
        topics: h.compared([
          '/tasks/create',
          '/tasks/start',
          '/tasks/paused',
          '/tasks/resumed',
          '/tasks/exit',
          '/tasks/delete',
        ]),
      },
    );
  });

  test('pause twice is refused', async () => {
    await differential(async (rt) => {
      const id = h.uid(rt, 'pause2');
      await h.runDetached(rt, id, sleeper);
      await h.ctr(['task', 'pause', id]);
      const again = await h.ctr(['task', 'pause', id]);
      await h.ctr(['task', 'resume', id]);
      await h.destroy(id);
      return { code: again.exitCode, error: normalize(again.stderr, id) };
    });
  });

  // On this kernel a SIGKILL reaches a frozen (cgroup v1 freezer) task: it dies while paused.
  test('SIGKILL of a paused task stops it', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'pausekill');
        await h.runDetached(rt, id, sleeper);
        await h.ctr(['task', 'pause', id]);
        const kill = await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await h.waitStatus(id, 'STOPPED');
        const exit = await h.waitEvent(id, '/tasks/exit');
        const resume = await h.ctr(['task', 'resume', id]);
        const del = await h.ctr(['task', 'delete', id]);
        await h.ctr(['container', 'delete', id]);
        return {
          kill: kill.exitCode,
          status: exit.payload['exit_status'],
          resume: resume.exitCode,
          resumeError: normalize(resume.stderr, id),
          del: del.exitCode,
        };
      },
      {
        kill: 0,
        status: 137,
        resume: 1,
        resumeError: `ctr: cannot resume a stopped container${h.unknown}`,
        del: 0,
      },
    );
  });

  test('kill --all stops every process of the container', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'killall');
        await h.runDetached(rt, id, ['sh', '-c', 'sleep 1000 & sleep 1000 & wait']);
        await waitFor(async () => (await psPids(id)).length === 3, 10000);
        const before = (await psPids(id)).length;
        const kill = await h.ctr(['task', 'kill', '--all', '-s', 'SIGKILL', id]);
        await h.waitStatus(id, 'STOPPED');
        const exit = await h.waitEvent(id, '/tasks/exit');
        const del = await h.ctr(['task', 'delete', id]);
        await h.ctr(['container', 'delete', id]);
        return {
          before,
          kill: kill.exitCode,
          status: exit.payload['exit_status'],
          del: del.exitCode,
        };
      },
      { before: 3, kill: 0, status: 137, del: 0 },
    );
  });

  test('ps lists exec processes with their exec id', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'ps');
        await h.runDetached(rt, id, sleeper);
        const exec = await h.ctr(['task', 'exec', '--detach', '--exec-id', 'psx', id, ...sleeper]);
        await waitFor(async () => (await psPids(id)).length === 2, 10000);
        const lines = await psPids(id);
        const withExecId = lines.filter((l) => l.includes('psx')).length;
        await h.destroy(id);
        return { exec: exec.exitCode, lines: lines.length, withExecId };
      },
      { exec: 0, lines: 2, withExecId: 1 },
    );
  });

  test('exec exit codes, stdout and stderr, and exec events', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'execio');
        await h.runDetached(rt, id, sleeper);
        const r = await h.ctr([
          'task',
          'exec',
          '--exec-id',
          'x1',
          id,
          'sh',
          '-c',
          'echo to-out; echo to-err >&2; exit 5',
        ]);
        const exit = h.eventFor(id, '/tasks/exit', 'x1');
        const started = h.eventFor(id, '/tasks/exec-started');
        await h.destroy(id);
        return {
          stdout: r.stdout,
          stderr: r.stderr,
          code: r.exitCode,
          exitStatus: exit['exit_status'],
          sameExecPid: started['pid'] === exit['pid'],
          topics: (await h.waitLifecycle(rt, id, 7)).slice(2, 5),
        };
      },
      {
        stdout: 'to-out',
        stderr: 'to-err',
        code: 5,
        exitStatus: 5,
        sameExecPid: true,
        topics: ['/tasks/exec-added', '/tasks/exec-started', '/tasks/exit'],
      },
    );
  });

  test('exec with --cwd, --user and stdin', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'execopts');
        await h.runDetached(rt, id, sleeper);
        const r = await h.ctr(
          [
            'task',
            'exec',
            '--exec-id',
            'x2',
            '--cwd',
            '/tmp',
            '--user',
            '65534',
            id,
            'sh',
            '-c',
            'pwd; id -u; head -n 1',
          ],
          { input: 'from-stdin\n' },
        );
        await h.destroy(id);
        return { stdout: r.stdout, code: r.exitCode };
      },
      { stdout: '/tmp\n65534\nfrom-stdin', code: 0 },
    );
  });

  test('SIGKILL of an exec reports 137 and leaves the init running', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'execkill');
        await h.runDetached(rt, id, sleeper);
        const exec = execBackground(id, 'k1', sleeper);
        await waitTopic(id, '/tasks/exec-started');
        const kill = await h.ctr(['task', 'kill', '--exec-id', 'k1', '-s', 'SIGKILL', id]);
        const result = await exec;
        const status = await h.taskStatus(id);
        const killAgain = await h.ctr(['task', 'kill', '--exec-id', 'k1', '-s', 'SIGKILL', id]);
        await h.destroy(id);
        return {
          kill: kill.exitCode,
          execCode: result.exitCode,
          status,
          killAgain: killAgain.exitCode,
          killAgainError: normalize(killAgain.stderr, id),
        };
      },
      {
        kill: 0,
        execCode: 137,
        status: 'RUNNING',
        killAgain: 1,
        killAgainError: 'ctr: process does not exist k1: not found',
      },
    );
  });

  test('a duplicate exec id is refused while the first runs', async () => {
    await differential(async (rt) => {
      const id = h.uid(rt, 'dupexec');
      await h.runDetached(rt, id, sleeper);
      const first = await h.ctr(['task', 'exec', '--detach', '--exec-id', 'd1', id, ...sleeper]);
      const second = await h.ctr(['task', 'exec', '--exec-id', 'd1', id, 'true']);
      await h.destroy(id);
      return {
        first: first.exitCode,
        second: second.exitCode,
        error: normalize(second.stderr, id),
      };
    });
  });

  test('exec of a missing binary fails with the runtime error', async () => {
    await differential(async (rt) => {
      const id = h.uid(rt, 'execmissing');
      await h.runDetached(rt, id, sleeper);
      const r = await h.ctr(['task', 'exec', '--exec-id', 'm1', id, '/no/such/binary']);
      const status = await h.taskStatus(id);
      await h.destroy(id);
      return { code: r.exitCode, error: normalize(r.stderr, id), status };
    });
  });

  test('run of a missing binary fails and leaves nothing running', async () => {
    await differential(async (rt) => {
      const id = h.uid(rt, 'runmissing');
      const r = await h.run(rt, id, ['/no/such/binary']);
      const status = await h.taskStatus(id);
      await h.ctr(['container', 'delete', id]);
      return { code: r.exitCode, error: normalize(r.stderr, id), status };
    });
  });

  test('exec in a stopped task is refused', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'execstopped');
        await h.runDetached(rt, id, sleeper);
        await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await h.waitStatus(id, 'STOPPED');
        const r = await h.ctr(['task', 'exec', '--exec-id', 's1', id, 'true']);
        await h.destroy(id);
        return { code: r.exitCode, error: normalize(r.stderr, id) };
      },
      { code: 1, error: `ctr: cannot exec in a stopped state${h.unknown}` },
    );
  });

  test('kill of a stopped task and delete of a running one are refused', async () => {
    await differential(async (rt) => {
      const id = h.uid(rt, 'wrongstate');
      await h.runDetached(rt, id, sleeper);
      const delRunning = await h.ctr(['task', 'delete', id]);
      await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      await h.waitStatus(id, 'STOPPED');
      const killStopped = await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      const del = await h.destroy(id);
      return {
        delRunning: delRunning.exitCode,
        delRunningError: normalize(delRunning.stderr, id),
        killStopped: killStopped.exitCode,
        killStoppedError: normalize(killStopped.stderr, id),
        del: del.exitCode,
      };
    });
  });

  test('task delete --force of a running task', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'forcedel');
        await h.runDetached(rt, id, sleeper);
        const del = await h.ctr(['task', 'delete', '--force', id]);
        const status = await h.taskStatus(id);
        const exit = await h.waitEvent(id, '/tasks/exit');
        await h.ctr(['container', 'delete', id]);
        return { del: del.exitCode, status, exitStatus: exit.payload['exit_status'] };
      },
      { del: 0, status: 'ABSENT', exitStatus: 137 },
    );
  });

  test('a trapped SIGTERM gives the exit code the process chose', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'trap');
        await h.runDetached(rt, id, [
          'sh',
          '-c',
          'trap "exit 42" TERM; while true; do sleep 0.1; done',
        ]);
        const kill = await h.ctr(['task', 'kill', id]);
        await h.waitStatus(id, 'STOPPED');
        const exit = await h.waitEvent(id, '/tasks/exit');
        const del = await h.ctr(['task', 'delete', id]);
        await h.ctr(['container', 'delete', id]);
        return { kill: kill.exitCode, status: exit.payload['exit_status'], del: del.exitCode };
      },
      { kill: 0, status: 42, del: 0 },
    );
  });

  // The init is PID 1 of its namespace, where an unhandled signal is ignored: use an exec.
  test('a process that kills itself with a signal reports 128+n', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'selfkill');
        await h.runDetached(rt, id, sleeper);
        const r = await h.ctr([
          'task',
          'exec',
          '--exec-id',
          'seg',
          id,
          'sh',
          '-c',
          'kill -SEGV $$',
        ]);
        const status = h.eventFor(id, '/tasks/exit', 'seg')['exit_status'];
        await h.destroy(id);
        return { code: r.exitCode, status };
      },
      { code: 139, status: 139 },
    );
  });

  test('Update sets the memory limit of a running task', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'update');
        const pid = await h.runDetached(rt, id, sleeper);
        const limit = 48 * 1024 * 1024;
        const limitFile = `${memoryCgroupOf(pid)}/memory.limit_in_bytes`;
        const before = readFileSync(limitFile, 'utf8').trim();
        const update = await updateTask(h.cd, id, { memory: { limit } });
        const after = readFileSync(limitFile, 'utf8').trim();
        await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await h.waitStatus(id, 'STOPPED');
        const stopped = await updateTask(h.cd, id, { memory: { limit } });
        await h.destroy(id);
        return { unlimited: before !== String(limit), update: update.code, after, stopped };
      },
      {
        unlimited: true,
        update: 0,
        after: String(48 * 1024 * 1024),
        stopped: { code: 2, message: `cannot update a stopped container${h.unknown}` },
      },
    );
  });

  test('ten execs at once in one container', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'parexec');
        await h.runDetached(rt, id, sleeper);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            h.ctr(['task', 'exec', '--exec-id', `p${i}`, id, 'sh', '-c', `echo e${i}; exit ${i}`]),
          ),
        );
        await h.destroy(id);
        return results.map((r) => ({ stdout: r.stdout, code: r.exitCode }));
      },
      Array.from({ length: 10 }, (_, i) => ({ stdout: `e${i}`, code: i })),
    );
  });

  test('environment and working directory of the init', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'env');
        const r = await h.run(
          rt,
          id,
          ['sh', '-c', 'echo "$GREETING"; pwd'],
          ['--env', 'GREETING=hello there', '--cwd', '/etc'],
        );
        return { stdout: r.stdout, code: r.exitCode };
      },
      { stdout: 'hello there\n/etc', code: 0 },
    );
  });

  // Dispositions survive execve: whatever the shim's spawn of runc leaves ignored or blocked, the
  // container's processes inherit.
  test('signals ignored or blocked in an init and an exec: none', async () => {
    const masks = ['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'];
    const none = 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000';
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'sigmask');
        const initMasks = `${masks.map((a) => `'${a}'`).join(' ')} > /tmp/init`;
        await h.runDetached(rt, id, ['sh', '-c', `${initMasks}; sleep 1000`]);
        const exec = await h.ctr(['task', 'exec', '--exec-id', 'm', id, ...masks]);
        const init = await h.ctr(['task', 'exec', '--exec-id', 'i', id, 'cat', '/tmp/init']);
        await h.destroy(id);
        return { init: init.stdout, exec: exec.stdout };
      },
      { init: none, exec: none },
    );
  });

  // containerd 1.6.20's reference publishes the exits of execs killed by the init's death in
  // whatever order it reaps them; ours always publishes the init exit last (containerd #9719,
  // fixed in the reference from 1.6.29). Both must report the same statuses.
  test('init exit while an exec runs: statuses, and our init exit is last', async () => {
    const order: Partial<Record<RuntimeName, string[]>> = {};
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'initfirst');
        // The init exits once the exec has started; the kernel then kills the exec with it.
        await h.runDetached(rt, id, [
          'sh',
          '-c',
          'while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 3',
        ]);
        const exec = execBackground(id, 'bg', ['sh', '-c', 'touch /tmp/go; sleep 1000']);
        const execResult = await exec;
        await h.waitStatus(id, 'STOPPED');
        await waitFor(() => h.topicsFor(id).filter((t) => t === '/tasks/exit').length === 2, 10000);
        order[rt] = h
          .eventsFor(id)
          .filter((e) => e.topic === '/tasks/exit')
          .map((e) => (e.payload['id'] === id ? 'init' : String(e.payload['id'])));
        const init = h.eventFor(id, '/tasks/exit', id)['exit_status'];
        await h.destroy(id);
        return { execCode: execResult.exitCode, init };
      },
      { execCode: 137, init: 3 },
    );
    assert.deepEqual(order.ours, ['bg', 'init'], 'the exec exit comes first under our shim');
  });
});
