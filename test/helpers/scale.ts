// Many containers in one namespace-grouped daemon: started a few at a time, each one checked alive
// and exec'd into, the daemon's load (RSS, V8 heap, fds) taken from its own report line, then all
// killed in one burst through containerd's Tasks API. Each container must get exactly one exit
// of its init, in order among its events, and the daemon must go with its last container.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Harness } from './differential.js';
import { RUNTIMES } from './differential.js';
import { readFileSync } from 'node:fs';
import { isAlive, mountsUnder, parentOf, waitFor } from './leaks.js';
import { pool, rssKiB } from './load.js';
import { killTask } from './tasks-api.js';
import { LOAD_MESSAGE, type LoadFigures } from '../../src/shim/load-report.js';

const GROUPING = ['--annotation', 'io.containerd.tsshim.v2.grouping=namespace'];
const SIGKILL = 9;

export interface LoadSample extends LoadFigures {
  /** The daemon's RSS read from /proc by the test, next to the daemon's own figure. */
  rssKiBSeen: number;
}

export interface ScaleResult {
  daemon: number;
  startWallMs: number;
  samples: LoadSample[];
  /** Init exits seen, all containers together (one each). */
  exitsCounted: number;
  warnings: string[];
}

/** A process's start time (clock ticks since boot), so a reused pid is not taken for it. */
function startTime(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return -1;
  }
}

function loadLines(h: Harness, pid: number): string[] {
  return h.cd
    .log()
    .split('\n')
    .filter((l) => l.includes(`msg="${LOAD_MESSAGE}`) && l.includes(` pid=${String(pid)}`));
}

/** SIGUSR1 makes the daemon log its load; the figures of that line. */
async function sampleLoad(h: Harness, daemon: number): Promise<LoadSample> {
  const before = loadLines(h, daemon).filter((l) => l.includes('reason=signal')).length;
  process.kill(daemon, 'SIGUSR1');
  let line = '';
  await waitFor(() => {
    const lines = loadLines(h, daemon).filter((l) => l.includes('reason=signal'));
    line = lines[before] ?? '';
    return line !== '';
  }, 30_000);
  const field = (key: string): number => Number(new RegExp(` ${key}=(\\d+)`).exec(line)?.[1]);
  return {
    containers: field('containers'),
    rss_kib: field('rss_kib'),
    heap_used_kib: field('heap_used_kib'),
    heap_limit_kib: field('heap_limit_kib'),
    fds: field('fds'),
    fd_limit: field('fd_limit'),
    rssKiBSeen: rssKiB(daemon),
  };
}

export async function runScale(
  h: Harness,
  opts: { count: number; width: number; sampleEvery: number; report?: (s: string) => void },
): Promise<ScaleResult> {
  const say = opts.report ?? ((): void => undefined);
  const ids = Array.from(
    { length: opts.count },
    (_, i) => `scale-${String(process.pid)}-${String(i)}`,
  );
  const inits = new Map<string, number>();
  const samples: LoadSample[] = [];

  const runOne = async (i: number): Promise<void> => {
    const id = ids[i] ?? '';
    const r = await h.ctr(
      ['run', '-d', ...GROUPING, '--runtime', RUNTIMES.ours, h.image, id, 'sleep', '1000000'],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.exitCode, 0, `${id}: ${r.stderr}`);
  };
  const taskPids = async (): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    for (const line of (await h.ctr(['task', 'ls'])).stdout.split('\n').slice(1)) {
      const [id, pid, status] = line.trim().split(/\s+/);
      if (id && status === 'RUNNING') out.set(id, Number(pid));
    }
    return out;
  };

  // The first container brings the daemon up; its figures are the baseline.
  await runOne(0);
  const daemon = parentOf((await taskPids()).get(ids[0] ?? '') ?? 0);
  assert.ok(daemon > 1, 'the first container has a daemon');
  samples.push(await sampleLoad(h, daemon));
  say(`1 container: ${JSON.stringify(samples.at(-1))}`);

  const startedAt = Date.now();
  let done = 1;
  await pool(opts.count - 1, opts.width, async (i) => {
    await runOne(i + 1);
    if (++done % opts.sampleEvery === 0 && done < opts.count) {
      samples.push(await sampleLoad(h, daemon));
      say(`${String(done)} containers: ${JSON.stringify(samples.at(-1))}`);
    }
  });
  const startWallMs = Date.now() - startedAt;
  say(`started ${String(opts.count - 1)} more in ${String(startWallMs)} ms`);

  // Every container runs, in the one daemon, and answers an exec.
  for (const [id, pid] of await taskPids()) if (ids.includes(id)) inits.set(id, pid);
  const started = new Map([...inits.values(), daemon].map((pid) => [pid, startTime(pid)]));
  // Still the same process: thousands of ctr and runc runs later, pids get reused.
  const running = (pid: number): boolean => isAlive(pid) && startTime(pid) === started.get(pid);
  assert.equal(inits.size, opts.count, 'every container RUNNING');
  const elsewhere = ids.filter((id) => parentOf(inits.get(id) ?? 0) !== daemon);
  assert.deepEqual(elsewhere, [], 'every container is served by the one daemon');
  assert.deepEqual(
    ids.filter((id) => !running(inits.get(id) ?? 0)),
    [],
    'every init alive',
  );
  await pool(opts.count, opts.width, async (i) => {
    const id = ids[i] ?? '';
    const r = await h.ctr(['task', 'exec', '--exec-id', 'e', id, 'sh', '-c', `echo ${id}`], {
      timeoutMs: 300_000,
    });
    assert.deepEqual(
      { out: r.stdout, code: r.exitCode, err: r.stderr },
      { out: id, code: 0, err: '' },
    );
  });
  const full = await sampleLoad(h, daemon);
  samples.push(full);
  say(`${String(opts.count)} containers, after an exec in each: ${JSON.stringify(full)}`);
  assert.equal(full.containers, opts.count, 'the daemon counts every container');
  assert.ok(full.fds < full.fd_limit, 'the daemon may open more fds');
  // The mark where the daemon itself warns: a heap that has reached it is one burst from the end.
  assert.deepEqual(
    samples.filter((x) => x.heap_used_kib > 0.75 * x.heap_limit_kib),
    [],
    'heap well below its limit',
  );

  // All killed at once: one burst of Kill calls, not awaited one by one.
  const kills = await Promise.all(ids.map((id) => killTask(h.cd, id, SIGKILL)));
  assert.deepEqual(
    kills.filter((k) => k.code !== 0),
    [],
    'every Kill accepted',
  );
  const initExits = (id: string) =>
    h.eventsFor(id).filter((e) => e.topic === '/tasks/exit' && e.payload['id'] === id);
  await waitFor(() => ids.every((id) => initExits(id).length > 0), 300_000, 200);
  await pool(opts.count, opts.width, async (i) => {
    const id = ids[i] ?? '';
    const r = await h.ctr(['task', 'delete', id], { timeoutMs: 300_000 });
    assert.equal(r.exitCode, 0, `${id}: ${r.stderr}`);
    await h.ctr(['container', 'delete', id]);
  });
  await waitFor(() => !running(daemon), 60_000);
  // An exit sent twice would reach containerd before the daemon's end (one ordered queue).
  await sleep(500);

  // Per container: exactly these events, in this order, the init's exit once and with SIGKILL's
  // status.
  const labelled = (id: string): string[] =>
    h.eventsFor(id).map((e) => {
      const execId = e.payload['exec_id'] ?? (e.payload['id'] !== id ? e.payload['id'] : '');
      return typeof execId === 'string' && execId !== '' ? `${e.topic}:${execId}` : e.topic;
    });
  const wrong = ids
    .map((id) => ({ id, events: labelled(id) }))
    .filter(
      ({ events }) =>
        JSON.stringify(events) !==
        JSON.stringify([
          '/tasks/create',
          '/tasks/start',
          '/tasks/exec-added:e',
          '/tasks/exec-started:e',
          '/tasks/exit:e',
          '/tasks/exit',
          '/tasks/delete',
        ]),
    );
  assert.deepEqual(wrong.slice(0, 5), [], `${String(wrong.length)} containers with other events`);
  const statuses = ids.map((id) => initExits(id)[0]?.payload['exit_status']);
  assert.deepEqual(
    statuses.filter((s) => s !== 137),
    [],
    'every init exit says SIGKILL',
  );
  const exitsCounted = ids.reduce((n, id) => n + initExits(id).length, 0);

  // The daemon ended cleanly, with nothing left: processes, mounts.
  const tasks = `${h.cd.state}/io.containerd.runtime.v2.task`;
  assert.deepEqual(mountsUnder(tasks), [], 'rootfs mounts');
  assert.deepEqual([...inits.values()].filter(running), [], 'container processes');
  const warnings = h.cd
    .log()
    .split('\n')
    .filter((l) => l.includes(` pid=${String(daemon)}`) && /level=(warning|error|fatal)/.test(l));
  return { daemon, startWallMs, samples, exitsCounted, warnings };
}
