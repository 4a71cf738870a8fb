// Grouping modes (ours only: the reference has no such option). One daemon per container, per pod
// (the default), or per namespace, picked by the annotation, the runtime options' `Grouping` key,
// or containerd's TSSHIM_GROUPING, in that order. In every mode each container's lifecycle is its
// own, and the daemon ends with its last container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { useHarness, RUNTIMES } from '../helpers/differential.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, processesMatching, waitFor } from '../helpers/leaks.js';
import { shimSocket } from '../helpers/shim-probe.js';
import { announceContainer } from '../../src/shim/group-service.js';

const h = useHarness();
const OURS = RUNTIMES.ours;
const GROUPING = 'io.containerd.tsshim.v2.grouping';

/** ctr in namespace `ns`, never throwing. */
async function ctr(
  cd: Containerd,
  ns: string,
  args: string[],
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const r = await execa(cd.ctrPath, ['--address', cd.address, '--namespace', ns, ...args], {
    reject: false,
  });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

async function run(
  cd: Containerd,
  image: string,
  id: string,
  extra: string[],
  ns = 'default',
): Promise<number> {
  const r = await ctr(cd, ns, [
    'run',
    '-d',
    ...extra,
    '--runtime',
    OURS,
    image,
    id,
    'sleep',
    '1000',
  ]);
  assert.equal(r.exitCode, 0, r.stderr);
  const pid = Number(
    (await ctr(cd, ns, ['task', 'ls'])).stdout
      .split('\n')
      .find((l) => l.startsWith(`${id} `))
      ?.split(/\s+/)[1],
  );
  // The task's parent is its shim daemon (the daemon is child subreaper of its containers).
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function remove(cd: Containerd, id: string, ns = 'default'): Promise<void> {
  await ctr(cd, ns, ['task', 'delete', '-f', id]);
  await ctr(cd, ns, ['container', 'delete', id]);
}

test('namespace grouping (annotation): one daemon per namespace, independent lifecycles', async () => {
  const ann = ['--annotation', `${GROUPING}=namespace`];
  const ids = [0, 1, 2, 3].map((i) => h.uid('ours', `ns-group-${String(i)}`));
  const daemons: number[] = [];
  for (const id of ids) daemons.push(await run(h.cd, h.image, id, ann));
  assert.equal(new Set(daemons).size, 1, 'all four share one daemon');
  const other = h.uid('ours', 'ns-other');
  await ensureBusyboxImage(h.cd, 'other');
  const otherDaemon = await run(h.cd, h.image, other, ann, 'other');
  assert.notEqual(otherDaemon, daemons[0], 'another namespace, another daemon');

  // One container ends: the others keep running and answering.
  await remove(h.cd, ids[0] ?? '');
  const exec = await h.cd.ctr(['task', 'exec', '--exec-id', 'x', ids[1] ?? '', 'echo', 'alive']);
  assert.equal(exec.stdout.trim(), 'alive');
  for (const id of ids.slice(1)) await remove(h.cd, id);
  await waitFor(() => !isAlive(daemons[0] ?? 0), 20000);
  assert.ok(isAlive(otherDaemon), 'the other namespace is untouched');
  await remove(h.cd, other, 'other');
  await waitFor(() => !isAlive(otherDaemon), 20000);
});

test('a container announced to a daemon whose last container ends keeps that daemon', async () => {
  // What `start` does when it routes a container to a live daemon: announce it. The daemon's last
  // container then goes; containerd's Create for the announced one comes later than the exit
  // grace, as it can under load. The daemon must still be there to take it.
  const ann = ['--annotation', `${GROUPING}=namespace`];
  const first = h.uid('ours', 'hold-first');
  const late = h.uid('ours', 'hold-late');
  const daemon = await run(h.cd, h.image, first, ann);
  const socket = shimSocket(h, first);
  assert.equal(await announceContainer(socket, late), 'held');
  await remove(h.cd, first);
  await sleep(2500);
  assert.ok(isAlive(daemon), 'the daemon waits for the announced container');
  assert.equal(await run(h.cd, h.image, late, ann), daemon, 'and serves it');
  await remove(h.cd, late);
  await waitFor(() => !isAlive(daemon), 20000);
  // An exited daemon's socket is gone: an announcement finds nobody.
  assert.equal(await announceContainer(socket, late), 'exiting');
});

test('a container re-created under the id just deleted gets a daemon every time', async () => {
  // A one-container daemon leaves (or goes back to the warm process) right after Shutdown: a
  // `start` for the same id that still meets it is refused and binds a new daemon.
  const id = h.uid('ours', 'same-id');
  for (let round = 0; round < 5; round++) {
    const r = await ctr(h.cd, 'default', [
      'run',
      '--rm',
      '--runtime',
      OURS,
      h.image,
      id,
      'echo',
      `round ${String(round)}`,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout.trim(), `round ${String(round)}`);
  }
});

test('container grouping (runtime options) splits what a pod annotation would group', async () => {
  const dir = mkdtempSync('/tmp/tsshim-grouping-');
  try {
    const toml = join(dir, 'opts.toml');
    writeFileSync(toml, 'Grouping = "container"\n');
    const extra = [
      '--runtime-config-path',
      toml,
      '--annotation',
      'io.kubernetes.cri.sandbox-id=pod-x',
    ];
    const a = h.uid('ours', 'split-a');
    const b = h.uid('ours', 'split-b');
    const da = await run(h.cd, h.image, a, extra);
    const db = await run(h.cd, h.image, b, extra);
    assert.notEqual(da, db);
    // Without the option the same annotation groups them (pod is the default).
    const c = h.uid('ours', 'pod-c');
    const d = h.uid('ours', 'pod-d');
    const pod = ['--annotation', `io.kubernetes.cri.sandbox-id=${h.uid('ours', 'pod')}`];
    assert.equal(await run(h.cd, h.image, c, pod), await run(h.cd, h.image, d, pod));
    for (const id of [a, b, c, d]) await remove(h.cd, id);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("containerd's TSSHIM_GROUPING sets the default; an annotation overrides it", async () => {
  const cd = await startContainerd({ env: { TSSHIM_GROUPING: 'namespace' } });
  try {
    const image = await ensureBusyboxImage(cd);
    const d1 = await run(cd, image, 'env-1', []);
    const d2 = await run(cd, image, 'env-2', []);
    assert.equal(d1, d2);
    const d3 = await run(cd, image, 'env-3', ['--annotation', `${GROUPING}=container`]);
    assert.notEqual(d3, d1);
    for (const id of ['env-1', 'env-2', 'env-3']) await remove(cd, id);
  } finally {
    await cd.stop();
  }
});

test('an unknown grouping fails the start with a clear error, and leaves nothing', async () => {
  const id = h.uid('ours', 'bad-grouping');
  const r = await ctr(h.cd, 'default', [
    'run',
    '-d',
    '--annotation',
    `${GROUPING}=cluster`,
    '--runtime',
    OURS,
    h.image,
    id,
    'true',
  ]);
  assert.notEqual(r.exitCode, 0);
  assert.match(
    r.stderr,
    /invalid annotation io\.containerd\.tsshim\.v2\.grouping "cluster": want one of container, pod, namespace/,
  );
  assert.deepEqual(processesMatching(`-id ${id} -address ${h.cd.address}`), []);
  await ctr(h.cd, 'default', ['container', 'delete', id]);
});
