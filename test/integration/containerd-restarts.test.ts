// containerd killed with SIGKILL and restarted, several times, while containers start, exec and
// exit: no container is lost, and every exit reaches containerd's event subscribers exactly once,
// with its status, after containerd is back. Exits happen during the outages, so our publisher
// must queue them and retry until containerd answers again.
//
// containerd 1.7 and 2.x, when they load the shims after a restart, delete every task whose
// shim reports no pids ("cleaning leaked shim process"): an init that exited during the outage
// is gone from `ctr task ls` afterwards (1.6 keeps it STOPPED), its /tasks/delete comes from
// that clean-up, and a shim with no other container is shut down while containerd is still
// loading, before it listens for events again. Ours then holds its queued exit and delete
// until they are delivered (up to its flush bound); the reference drops its queue on exit.
//
// Observing "exactly once" needs a subscriber that is live before the shim delivers: after a
// restart the shim may deliver before any client can subscribe. So from the first restart on,
// containerd listens for ttrpc on a new path and the shims' old path gets a gate (a byte proxy)
// that refuses connections until the new subscription is proven live. To the shims the gate is
// just containerd being down a little longer.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { execa } from 'execa';
import { useHarness, RUNTIMES } from '../helpers/differential.js';
import type { DecodedEvent } from '../helpers/events.js';
import { isAlive, parentOf, processesMatching, waitFor } from '../helpers/leaks.js';
import { containerd } from '../../src/gen/events.js';

const h = useHarness();
const CYCLES = 4;
const CONTAINERS_PER_CYCLE = 3;
const EXECS_PER_CYCLE = 2;

/** Refuses connections while closed; while open, relays them to `target`. */
class Gate {
  #open = false;
  readonly #server: Server;
  readonly #conns = new Set<Socket>();

  private constructor(
    server: Server,
    private readonly target: string,
  ) {
    this.#server = server;
  }

  static async listen(path: string, target: string): Promise<Gate> {
    rmSync(path, { force: true });
    const server = createServer();
    const gate = new Gate(server, target);
    server.on('connection', (s) => {
      gate.accept(s);
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return gate;
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (!this.#open) {
      client.destroy();
      return;
    }
    const upstream = connect(this.target);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    this.#conns.add(client);
    client.on('close', () => this.#conns.delete(client));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  open(): void {
    this.#open = true;
  }

  close(): void {
    this.#open = false;
    for (const c of this.#conns) c.destroy();
  }

  stop(): Promise<void> {
    this.close();
    return new Promise((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}

/** Publishes a probe event through containerd's gRPC API; seen by the subscriber => it is live. */
async function probe(address: string, name: string): Promise<void> {
  const client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure());
  try {
    const ev = containerd.services.events.v1;
    await new Promise<void>((resolve, reject) => {
      client.makeUnaryRequest(
        '/containerd.services.events.v1.Events/Publish',
        (req: object) => Buffer.from(ev.PublishRequest.encode(req).finish()),
        (buf: Buffer) => buf,
        {
          topic: '/tasks/oom',
          event: {
            type_url: 'containerd.events.TaskOOM',
            value: containerd.events.TaskOOM.encode({ container_id: name }).finish(),
          },
        },
        namespaceMetadata(),
        (err) => {
          if (err) reject(err);
          else resolve();
        },
      );
    });
  } finally {
    client.close();
  }
}

/** containerd wants the namespace on Publish. */
function namespaceMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('containerd-namespace', 'default');
  return md;
}

interface Expected {
  container: string;
  /** exec id, or the container id for an init. */
  id: string;
  status: number;
}

let gate: Gate | undefined;
// A failing run must not leave the gate listening (it would keep the test process alive).
after(async () => {
  await gate?.stop();
});

test('exits during repeated containerd kill -9 / restart arrive exactly once', async (t) => {
  const tag = String(process.pid);
  const group = `restarts-${tag}`;
  const groupFlags = ['--annotation', `io.containerd.tsshim.v2.group=${group}`];
  // See the header: whether containerd deletes exited tasks when it loads the shims.
  const cleansOnLoad = h.cd.version !== '1.6';
  const bundleOf = (id: string): string =>
    `${h.cd.state}/io.containerd.runtime.v2.task/${h.cd.namespace}/${id}`;
  const expected: Expected[] = [];
  const seen: DecodedEvent[] = [];
  const collect = (): void => {
    seen.push(...h.events.events);
  };

  // Long-lived containers: the grouped shim's keeper (execs run in it) and one ungrouped one,
  // each in its own shim, both started before the first outage and alive through all of them.
  const keeper = `keeper-${tag}`;
  const keeperPid = await h.runDetached('ours', keeper, ['sleep', '100000'], groupFlags);
  const groupShim = parentOf(keeperPid);
  const loner = `loner-${tag}`;
  const lonerPid = await h.runDetached('ours', loner, ['sleep', '100000']);
  const lonerShim = parentOf(lonerPid);
  // A ticker, to reattach to after the restarts.
  const ticker = `ticker-${tag}`;
  await h.runDetached(
    'ours',
    ticker,
    [
      'sh',
      '-c',
      'while [ ! -e /go ]; do echo before; sleep 0.2; done; echo after-restarts; exit 5',
    ],
    groupFlags,
  );
  expected.push({ container: ticker, id: ticker, status: 5 });

  const ttrpcOld = h.cd.ttrpcAddress;
  const ttrpcNew = join(h.cd.dir, 'moved.sock.ttrpc');
  const pendingExecs: Promise<unknown>[] = [];
  let restarts = 0;

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    // Containers and execs that will exit while containerd is down.
    // `marker`: the file whose creation (through the rootfs, from the host) ends the process.
    const exiting: { id: string; marker: string; inner: string }[] = [];
    for (let k = 0; k < CONTAINERS_PER_CYCLE; k++) {
      const id = `exit-${tag}-${String(cycle)}-${String(k)}`;
      const status = 10 + cycle * 10 + k;
      const marker = `/go-${String(cycle)}-${String(k)}`;
      await h.runDetached(
        'ours',
        id,
        ['sh', '-c', `while [ ! -e ${marker} ]; do sleep 0.1; done; exit ${String(status)}`],
        // One of them in a shim of its own each cycle, the rest in the group.
        k === 0 && cycle === 0 ? [] : groupFlags,
      );
      exiting.push({ id, marker: join(bundleOf(id), 'rootfs', marker), inner: marker });
      expected.push({ container: id, id, status });
    }
    for (let e = 0; e < EXECS_PER_CYCLE; e++) {
      const execId = `x${String(cycle)}-${String(e)}`;
      const status = 100 + cycle * 10 + e;
      const marker = `/go-${execId}`;
      pendingExecs.push(
        execa(
          h.cd.ctrPath,
          [
            '--address',
            h.cd.address,
            'task',
            'exec',
            '--exec-id',
            execId,
            keeper,
            'sh',
            '-c',
            `while [ ! -e ${marker} ]; do sleep 0.1; done; exit ${String(status)}`,
          ],
          { reject: false, stdin: 'ignore' },
        ),
      );
      await h.events.waitFor(
        (ev) => ev.topic === '/tasks/exec-started' && ev.payload['exec_id'] === execId,
        30000,
      );
      exiting.push({ id: execId, marker: join(bundleOf(keeper), 'rootfs', marker), inner: marker });
      expected.push({ container: keeper, id: execId, status });
    }

    gate?.close();
    collect();
    h.events.close();
    await h.cd.kill9();
    if (!gate) gate = await Gate.listen(ttrpcOld, ttrpcNew);
    // The exits happen now, with nobody to tell.
    for (const x of exiting) writeFileSync(x.marker, '');
    await waitFor(
      () => exiting.every((x) => processesMatching(`-e ${x.inner} ]`).length === 0),
      30000,
    );
    await h.cd.restart({ ttrpcAddress: ttrpcNew });
    restarts++;
    await h.subscribe();
    const probeName = `probe-${tag}-${String(cycle)}`;
    await waitFor(
      async () => {
        await probe(h.cd.address, probeName).catch(() => undefined);
        return h.events.events.some((ev) => ev.payload['container_id'] === probeName);
      },
      30000,
      200,
    );
    gate.open();
    for (const x of expected.filter((e) => exiting.some((y) => y.id === e.id))) {
      await h.events.waitFor(
        (ev) =>
          ev.topic === '/tasks/exit' &&
          ev.payload['container_id'] === x.container &&
          ev.payload['id'] === x.id,
        60000,
      );
    }
    // Nobody lost: the long-lived containers are still running in the same shims.
    assert.equal(await h.taskStatus(keeper), 'RUNNING');
    assert.equal(await h.taskStatus(loner), 'RUNNING');
    assert.equal(await h.taskStatus(ticker), 'RUNNING');
    assert.equal(parentOf(keeperPid), groupShim);
    assert.equal(parentOf(lonerPid), lonerShim);
    for (const x of exiting.filter((y) => y.id.startsWith('exit-'))) {
      if (cleansOnLoad) {
        // Deleted by containerd on load; the shim delivers that delete too, with the status.
        assert.equal(await h.taskStatus(x.id), 'ABSENT');
        const deleted = await h.events.waitFor(
          (ev) => ev.topic === '/tasks/delete' && ev.payload['container_id'] === x.id,
          60000,
        );
        assert.equal(deleted.payload['exit_status'], expected.find((e) => e.id === x.id)?.status);
      } else {
        assert.equal(await h.taskStatus(x.id), 'STOPPED');
        const del = await h.ctr(['task', 'delete', x.id]);
        assert.equal(del.exitCode, 0, del.stderr);
      }
      await h.ctr(['container', 'delete', x.id]);
    }
  }

  // A reader that reattaches gets the output that follows.
  const attach = execa(h.cd.ctrPath, ['--address', h.cd.address, 'task', 'attach', ticker], {
    reject: false,
    stdin: 'ignore',
  });
  // Attached once it relays the ticker's "before" lines.
  let attached = '';
  attach.stdout.on('data', (c: Buffer) => (attached += c.toString()));
  await waitFor(() => attached.includes('before'), 30000);
  writeFileSync(join(bundleOf(ticker), 'rootfs', 'go'), '');
  const attachResult = await attach;
  assert.match(attached, /after-restarts/, attachResult.stderr);

  // The long-lived ones exit last, by SIGKILL.
  for (const id of [keeper, loner]) {
    await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    expected.push({ container: id, id, status: 137 });
  }
  // `ctr task attach` deleted the ticker's task once it had exited.
  await h.ctr(['container', 'delete', ticker]);
  for (const id of [keeper, loner]) {
    await h.waitStatus(id, 'STOPPED', 30000).catch(async (err: unknown) => {
      const ls = (await h.ctr(['task', 'ls'])).stdout;
      throw new Error(`${id} not STOPPED:\n${ls}`, { cause: err });
    });
    await h.ctr(['task', 'delete', id]);
    await h.ctr(['container', 'delete', id]);
  }
  await waitFor(() => !isAlive(groupShim) && !isAlive(lonerShim), 30000);
  await Promise.all(pendingExecs);
  collect();
  await gate?.stop();
  gate = undefined;

  const exits = seen.filter((ev) => ev.topic === '/tasks/exit');
  let lost = 0;
  for (const x of expected) {
    const mine = exits.filter(
      (ev) => ev.payload['container_id'] === x.container && ev.payload['id'] === x.id,
    );
    if (mine.length === 0) lost++;
    assert.equal(mine.length <= 1, true, `${x.id}: ${String(mine.length)} exit events`);
    assert.deepEqual(
      mine.map((ev) => ev.payload['exit_status']),
      mine.length === 0 ? [] : [x.status],
      `${x.id} exit status`,
    );
    // Deleted once: by the test (1.6) or by containerd's clean-up on load (1.7, 2.x).
    if (x.id === x.container) {
      const deletes = seen.filter(
        (ev) => ev.topic === '/tasks/delete' && ev.payload['container_id'] === x.id,
      );
      assert.equal(deletes.length <= 1, true, `${x.id}: ${String(deletes.length)} delete events`);
    }
  }
  t.diagnostic(
    `restarts survived: ${String(restarts)}; exits expected: ${String(expected.length)}; lost: ${String(lost)}; runtime ${RUNTIMES.ours}`,
  );
  assert.equal(lost, 0, 'exit events lost');
});

test('no zombies or leftover mounts', h.assertClean);
