// Differential end-to-end scenarios: each runs against a private, real containerd under the
// reference runtime (io.containerd.runc.v2) and ours (io.containerd.tsshim.v2). What a user sees
// (stdout, exit codes, task states, event sequences) must be identical, and must also match the
// expected values, so a shared bug cannot pass.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { subscribeEvents, type EventStream } from '../helpers/events.js';
import { mountsUnder, waitFor, zombieChildren } from '../helpers/leaks.js';

const RUNTIMES = { reference: 'io.containerd.runc.v2', ours: 'io.containerd.tsshim.v2' } as const;
type RuntimeName = keyof typeof RUNTIMES;

let cd: Containerd;
let image: string;
let events: EventStream;
let seq = 0;

before(async () => {
  cd = await startContainerd();
  image = await ensureBusyboxImage(cd);
  events = subscribeEvents(cd.address, ['topic~="/tasks/"']);
  await events.ready;
});

after(async () => {
  events.close();
  await cd.stop();
});

const uid = (runtime: RuntimeName, name: string): string =>
  `${name}-${runtime}-${process.pid}-${++seq}`;

/** Topics seen for one container, in order. */
function topicsFor(id: string): string[] {
  return events.events.filter((e) => e.payload['container_id'] === id).map((e) => e.topic);
}

function eventFor(id: string, topic: string, execId?: string): Record<string, unknown> {
  const found = events.events.find(
    (e) =>
      e.payload['container_id'] === id &&
      e.topic === topic &&
      (execId === undefined || e.payload['id'] === execId),
  );
  assert.ok(found, `no ${topic} event for ${id}`);
  return found.payload;
}

async function waitTopics(id: string, count: number): Promise<string[]> {
  await waitFor(() => topicsFor(id).length >= count, 20000, 50);
  return topicsFor(id);
}

function ctr(args: string[], opts?: { input?: string; timeoutMs?: number }) {
  return cd.ctr(args, { reject: false, ...opts });
}

async function taskStatus(id: string): Promise<string> {
  const { stdout } = await ctr(['task', 'ls']);
  const line = stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  return line?.trim().split(/\s+/)[2] ?? 'ABSENT';
}

/** `ctr run -d`, waits until RUNNING, returns the init pid. */
async function runDetached(rt: RuntimeName, id: string, args: string[]): Promise<number> {
  const run = await ctr(['run', '-d', '--runtime', RUNTIMES[rt], image, id, ...args]);
  assert.equal(run.exitCode, 0, run.stderr);
  await waitFor(async () => (await taskStatus(id)) === 'RUNNING', 10000, 50);
  const line = (await ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(id));
  return Number(line?.split(/\s+/)[1]);
}

/** Runs one scenario under both runtimes and checks their observations are equal. */
async function differential<T>(
  scenario: (runtime: RuntimeName) => Promise<T>,
  expected?: T,
): Promise<void> {
  const reference = await scenario('reference');
  const ours = await scenario('ours');
  assert.deepEqual(ours, reference, 'our shim differs from the reference');
  if (expected !== undefined) assert.deepEqual(ours, expected);
}

const FULL_LIFECYCLE = ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'];

describe('differential: ours vs the reference shim', () => {
  test('run --rm echo', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'echo');
        const r = await ctr(['run', '--rm', '--runtime', RUNTIMES[rt], image, id, 'echo', 'hello']);
        const topics = await waitTopics(id, 4);
        const exit = eventFor(id, '/tasks/exit');
        return {
          stdout: r.stdout,
          stderr: r.stderr,
          code: r.exitCode,
          topics,
          status: exit['exit_status'],
        };
      },
      { stdout: 'hello', stderr: '', code: 0, topics: FULL_LIFECYCLE, status: 0 },
    );
  });

  test('exit 7 and stderr', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'exit7');
        const r = await ctr([
          'run',
          '--rm',
          '--runtime',
          RUNTIMES[rt],
          image,
          id,
          'sh',
          '-c',
          'echo oops >&2; exit 7',
        ]);
        const topics = await waitTopics(id, 4);
        return {
          stdout: r.stdout,
          stderr: r.stderr,
          code: r.exitCode,
          topics,
          status: eventFor(id, '/tasks/exit')['exit_status'],
        };
      },
      { stdout: '', stderr: 'oops', code: 7, topics: FULL_LIFECYCLE, status: 7 },
    );
  });

  // ctr 1.6 never sends CloseIO for a piped stdin, so `cat` would wait forever under both shims;
  // `head -n 2` proves the bytes flow through the stdin FIFO and pipe.
  test('stdin piped through the container', async () => {
    const input = 'line one\nline two\n';
    await differential(
      async (rt) => {
        const id = uid(rt, 'cat');
        const r = await ctr(
          ['run', '--rm', '--runtime', RUNTIMES[rt], image, id, 'head', '-n', '2'],
          { input },
        );
        return { stdout: r.stdout, code: r.exitCode };
      },
      { stdout: input.trimEnd(), code: 0 },
    );
  });

  test('SIGKILL of the init and SIGTERM of an exec report 128+n', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'sig');
        await runDetached(rt, id, ['sleep', '1000']);
        const exec = execa(
          'ctr',
          [
            '--address',
            cd.address,
            '--namespace',
            cd.namespace,
            'task',
            'exec',
            '--exec-id',
            'e1',
            id,
            'sleep',
            '1000',
          ],
          { reject: false },
        );
        await waitFor(() => topicsFor(id).includes('/tasks/exec-started'), 10000, 50);
        const term = await ctr(['task', 'kill', '--exec-id', 'e1', '-s', 'SIGTERM', id]);
        const execResult = await exec;
        const kill = await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitFor(async () => (await taskStatus(id)) === 'STOPPED', 10000, 50);
        const del = await ctr(['task', 'delete', id]);
        await ctr(['container', 'delete', id]);
        const topics = await waitTopics(id, 7);
        return {
          term: term.exitCode,
          execCode: execResult.exitCode,
          kill: kill.exitCode,
          deleteCode: del.exitCode,
          execExit: eventFor(id, '/tasks/exit', 'e1')['exit_status'],
          initExit: eventFor(id, '/tasks/exit', id)['exit_status'],
          deleteStatus: eventFor(id, '/tasks/delete')['exit_status'],
          topics,
        };
      },
      {
        term: 0,
        execCode: 143,
        kill: 0,
        deleteCode: 0,
        execExit: 143,
        initExit: 137,
        deleteStatus: 137,
        topics: [
          '/tasks/create',
          '/tasks/start',
          '/tasks/exec-added',
          '/tasks/exec-started',
          '/tasks/exit',
          '/tasks/exit',
          '/tasks/delete',
        ],
      },
    );
  });

  test('detached run, task ls, kill, delete', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'detached');
        await runDetached(rt, id, ['sleep', '1000']);
        const running = await taskStatus(id);
        const pids = await ctr(['task', 'ps', id]);
        const kill = await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await waitFor(async () => (await taskStatus(id)) === 'STOPPED', 10000, 50);
        const del = await ctr(['task', 'delete', id]);
        const gone = await taskStatus(id);
        const cdel = await ctr(['container', 'delete', id]);
        return {
          running,
          psLines: pids.stdout.split('\n').length,
          kill: kill.exitCode,
          del: del.exitCode,
          gone,
          cdel: cdel.exitCode,
          topics: await waitTopics(id, 4),
        };
      },
      {
        running: 'RUNNING',
        psLines: 2,
        kill: 0,
        del: 0,
        gone: 'ABSENT',
        cdel: 0,
        topics: FULL_LIFECYCLE,
      },
    );
  });

  test('20 containers at once', async () => {
    await differential(
      async (rt) => {
        const ids = Array.from({ length: 20 }, (_, i) => uid(rt, `many${i}`));
        const results = await Promise.all(
          ids.map((id, i) =>
            ctr(
              [
                'run',
                '--rm',
                '--runtime',
                RUNTIMES[rt],
                image,
                id,
                'sh',
                '-c',
                `echo n${i}; exit ${i % 5}`,
              ],
              {
                timeoutMs: 120000,
              },
            ),
          ),
        );
        return results.map((r) => ({ stdout: r.stdout, code: r.exitCode }));
      },
      Array.from({ length: 20 }, (_, i) => ({ stdout: `n${i}`, code: i % 5 })),
    );
  });

  test('containers survive a containerd kill -9 and restart', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'restart');
        const initPid = await runDetached(rt, id, [
          'sh',
          '-c',
          'while true; do echo tick; sleep 0.2; done',
        ]);
        const shimPid = parentOf(initPid);
        await cd.kill9();
        await new Promise((r) => setTimeout(r, 1500));
        const aliveDuringOutage = isAlive(initPid) && parentOf(initPid) === shimPid;
        await cd.restart();
        events.close();
        events = subscribeEvents(cd.address, ['topic~="/tasks/"']);
        await events.ready;
        const afterRestart = await taskStatus(id);
        const sameShim = parentOf(initPid) === shimPid && isAlive(shimPid);
        await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        const exit = await events.waitFor(
          (e) => e.topic === '/tasks/exit' && e.payload['container_id'] === id,
          10000,
        );
        const del = await ctr(['task', 'delete', id]);
        await ctr(['container', 'delete', id]);
        await waitFor(() => !isAlive(shimPid), 10000, 50);
        return {
          aliveDuringOutage,
          afterRestart,
          sameShim,
          exitStatus: exit.payload['exit_status'],
          del: del.exitCode,
        };
      },
      { aliveDuringOutage: true, afterRestart: 'RUNNING', sameShim: true, exitStatus: 137, del: 0 },
    );
  });

  test('a shim killed with SIGKILL is cleaned up by containerd', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'shimkill');
        const initPid = await runDetached(rt, id, ['sleep', '1000']);
        const shimPid = parentOf(initPid);
        process.kill(shimPid, 'SIGKILL');
        const exit = await events.waitFor(
          (e) => e.topic === '/tasks/exit' && e.payload['container_id'] === id,
          15000,
        );
        await events.waitFor(
          (e) => e.topic === '/tasks/delete' && e.payload['container_id'] === id,
          15000,
        );
        await waitFor(() => !isAlive(initPid), 10000, 50);
        const status = await taskStatus(id);
        await ctr(['container', 'delete', id]);
        return {
          exitStatus: exit.payload['exit_status'],
          status,
          containerAlive: isAlive(initPid),
          mounts: mountsUnder(`${cd.state}/io.containerd.runtime.v2.task/${cd.namespace}/${id}`)
            .length,
        };
      },
      { exitStatus: 137, status: 'ABSENT', containerAlive: false, mounts: 0 },
    );
  });

  test('no zombies or leftover mounts', async () => {
    await waitFor(() => zombieChildren(process.pid) === 0, 5000, 50);
    assert.equal(mountsUnder(`${cd.state}/io.containerd.runtime.v2.task`).length, 0);
  });
});

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
