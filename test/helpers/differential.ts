// The differential harness: one private containerd per test file, an event subscriber, and the
// helpers every scenario needs. A scenario is a function of the runtime name that returns what a
// user would observe; `differential` runs it under the reference shim and ours and requires the
// two observations to be equal (and equal to the expected value, so a shared bug cannot pass).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { startContainerd, type Containerd, type CtrResult } from './containerd.js';
import { ensureBusyboxImage } from './image.js';
import { subscribeEvents, type DecodedEvent, type EventStream } from './events.js';
import { mountsUnder, waitFor, zombieChildren } from './leaks.js';

export const RUNTIMES = {
  reference: 'io.containerd.runc.v2',
  ours: 'io.containerd.tsshim.v2',
} as const;
export type RuntimeName = keyof typeof RUNTIMES;

export const FULL_LIFECYCLE = ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'];

/** Runs one scenario under both runtimes and checks their observations are equal. */
export async function differential<T>(
  scenario: (runtime: RuntimeName) => Promise<T>,
  expected?: T,
): Promise<void> {
  const reference = await scenario('reference');
  const ours = await scenario('ours');
  assert.deepEqual(ours, reference, 'our shim differs from the reference');
  if (expected !== undefined) assert.deepEqual(ours, expected);
}

export class Harness {
  cd!: Containerd;
  image = '';
  events!: EventStream;
  #seq = 0;

  async setUp(opts?: Parameters<typeof startContainerd>[0]): Promise<void> {
    this.cd = await startContainerd(opts);
    this.image = await ensureBusyboxImage(this.cd);
    await this.subscribe();
  }

  async tearDown(): Promise<void> {
    this.events.close();
    await this.cd.stop();
  }

  /** A fresh event subscription (after a containerd restart the old stream is dead). */
  async subscribe(): Promise<void> {
    this.events = subscribeEvents(this.cd.address, ['topic~="/tasks/"']);
    await this.events.ready;
  }

  uid(runtime: RuntimeName, name: string): string {
    return `${name}-${runtime}-${process.pid}-${++this.#seq}`;
  }

  ctr(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<CtrResult> {
    return this.cd.ctr(args, { reject: false, ...opts });
  }

  /** A long-running `ctr` (attached run, exec) whose result the scenario awaits later. */
  async ctrBackground(args: string[]): Promise<CtrResult> {
    const r = await execa(
      this.cd.ctrPath,
      ['--address', this.cd.address, '--namespace', this.cd.namespace, ...args],
      { reject: false },
    );
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  }

  /** Events of one container, in order. */
  eventsFor(id: string): DecodedEvent[] {
    return this.events.events.filter((e) => e.payload['container_id'] === id);
  }

  topicsFor(id: string): string[] {
    return this.eventsFor(id).map((e) => e.topic);
  }

  eventFor(id: string, topic: string, execId?: string): Record<string, unknown> {
    const found = this.eventsFor(id).find(
      (e) => e.topic === topic && (execId === undefined || e.payload['id'] === execId),
    );
    assert.ok(found, `no ${topic} event for ${id}`);
    return found.payload;
  }

  /** What 1.x's error mapping re-attaches to a shim's Unknown error ('' on 2.x). */
  get unknown(): string {
    return this.cd.version.startsWith('1.') ? ': unknown' : '';
  }

  /**
   * Whether /tasks/delete is compared: only on 1.6. On 1.7 and 2.x the reference sometimes exits
   * before its /tasks/delete reaches containerd (its publisher drops what it has not sent on
   * shutdown; seen on 1.7.29 and 2.1.5). Ours must deliver it on every version.
   */
  get deleteCompared(): boolean {
    return this.cd.version.startsWith('1.6');
  }

  /** `topics` as this version compares them (without /tasks/delete after 1.6). */
  compared(topics: string[]): string[] {
    return this.deleteCompared ? topics : topics.filter((t) => t !== '/tasks/delete');
  }

  /**
   * The topics of `id` once all `count` of them (its one /tasks/delete included) have arrived, as
   * compared on this version. After 1.6 the reference's /tasks/delete is not waited for; ours must
   * still deliver it (required here), then it is left out of the list for both.
   */
  async waitLifecycle(rt: RuntimeName, id: string, count: number): Promise<string[]> {
    if (this.deleteCompared) return this.waitTopics(id, count);
    if (rt === 'ours') {
      const topics = await this.waitTopics(id, count);
      assert.ok(topics.includes('/tasks/delete'), `no /tasks/delete of ours for ${id}`);
      return this.compared(topics);
    }
    try {
      await waitFor(() => this.compared(this.topicsFor(id)).length >= count - 1, 20000, 50);
    } catch (err) {
      throw new Error(
        `${String(count - 1)} events of ${id} expected, got ${this.topicsFor(id).join(' ')}`,
        {
          cause: err,
        },
      );
    }
    return this.compared(this.topicsFor(id));
  }

  async waitTopics(id: string, count: number): Promise<string[]> {
    try {
      await waitFor(() => this.topicsFor(id).length >= count, 20000, 50);
    } catch (err) {
      throw new Error(
        `${String(count)} events of ${id} expected, got ${this.topicsFor(id).join(' ')}`,
        {
          cause: err,
        },
      );
    }
    return this.topicsFor(id);
  }

  /** The /tasks/exit of `id`'s init (not of its execs). */
  waitInitExit(id: string, timeoutMs = 15000): Promise<DecodedEvent> {
    return this.events.waitFor(
      (e) => e.topic === '/tasks/exit' && e.payload['id'] === id,
      timeoutMs,
    );
  }

  async waitEvent(id: string, topic: string, timeoutMs = 15000): Promise<DecodedEvent> {
    return this.events.waitFor(
      (e) => e.topic === topic && e.payload['container_id'] === id,
      timeoutMs,
    );
  }

  /** The STATUS column of `ctr task ls`, or ABSENT. */
  async taskStatus(id: string): Promise<string> {
    const { stdout } = await this.ctr(['task', 'ls']);
    const line = stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
    return line?.trim().split(/\s+/)[2] ?? 'ABSENT';
  }

  async waitStatus(id: string, status: string, timeoutMs = 30000): Promise<void> {
    await waitFor(async () => (await this.taskStatus(id)) === status, timeoutMs, 50);
  }

  /** `ctr run -d`, waits until RUNNING, returns the init pid. */
  async runDetached(
    rt: RuntimeName,
    id: string,
    args: string[],
    runFlags: string[] = [],
  ): Promise<number> {
    const run = await this.ctr([
      'run',
      '-d',
      ...runFlags,
      '--runtime',
      RUNTIMES[rt],
      this.image,
      id,
      ...args,
    ]);
    assert.equal(run.exitCode, 0, run.stderr);
    await this.waitStatus(id, 'RUNNING');
    const line = (await this.ctr(['task', 'ls'])).stdout
      .split('\n')
      .find((l) => l.startsWith(`${id} `));
    return Number(line?.trim().split(/\s+/)[1]);
  }

  /** The `ctr` arguments of `ctr run --rm`. */
  runArgs(rt: RuntimeName, id: string, args: string[], runFlags: string[] = []): string[] {
    return ['run', '--rm', ...runFlags, '--runtime', RUNTIMES[rt], this.image, id, ...args];
  }

  /** `ctr run --rm` to completion. */
  run(
    rt: RuntimeName,
    id: string,
    args: string[],
    runFlags: string[] = [],
    input?: string,
  ): Promise<CtrResult> {
    return this.ctr(this.runArgs(rt, id, args, runFlags), {
      ...(input === undefined ? {} : { input }),
    });
  }

  /** SIGKILL, wait for STOPPED, delete task and container; returns the task delete result. */
  async destroy(id: string): Promise<CtrResult> {
    await this.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await this.waitStatus(id, 'STOPPED').catch(() => undefined);
    const del = await this.ctr(['task', 'delete', id]);
    await this.ctr(['container', 'delete', id]);
    return del;
  }

  /** No zombie children of the test process, and no rootfs mounts left by either shim. */
  assertClean = async (): Promise<void> => {
    await waitFor(() => zombieChildren(process.pid) === 0, 5000, 50);
    assert.equal(mountsUnder(`${this.cd.state}/io.containerd.runtime.v2.task`).length, 0);
  };
}

/** A harness set up before this file's tests and torn down after them. */
export function useHarness(): Harness {
  const h = new Harness();
  before(() => h.setUp());
  after(() => h.tearDown());
  return h;
}
