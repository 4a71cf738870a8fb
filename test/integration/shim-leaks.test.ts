// A long-lived shim must not leak: after many execs (each with its own stdio FIFOs, pipes and
// pid file) its fd count returns to where it was, and it has no zombie children.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { fdCount, parentOf, waitFor, zombieChildren } from '../helpers/leaks.js';

let cd: Containerd;
let image: string;

before(async () => {
  cd = await startContainerd();
  image = await ensureBusyboxImage(cd);
});

after(async () => {
  await cd.stop();
});

test('20 execs leave the shim with no extra fds and no zombies', async () => {
  const id = `leak-${process.pid}`;
  await cd.ctr(['run', '-d', '--runtime', 'io.containerd.tsshim.v2', image, id, 'sleep', '1000']);
  let initPid = 0;
  await waitFor(async () => {
    const line = (await cd.ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(id));
    initPid = Number(line?.split(/\s+/)[1] ?? 0);
    return line?.includes('RUNNING') ?? false;
  }, 10000);
  const shimPid = parentOf(initPid);
  // One exec first, so lazily created state (event connection, modules) is in the baseline.
  await cd.ctr(['task', 'exec', '--exec-id', 'warm', id, 'true']);
  const baseline = fdCount(shimPid);
  for (let i = 0; i < 20; i++) {
    const r = await cd.ctr(
      [
        'task',
        'exec',
        '--exec-id',
        `e${i}`,
        id,
        'sh',
        '-c',
        `echo out${i}; echo err${i} >&2; exit ${i % 3}`,
      ],
      {
        reject: false,
      },
    );
    assert.equal(r.stdout, `out${i}`);
    assert.equal(r.stderr, `err${i}`);
    assert.equal(r.exitCode, i % 3);
  }
  await waitFor(() => fdCount(shimPid) === baseline, 5000).catch(() => undefined);
  assert.equal(fdCount(shimPid), baseline, 'shim fd count after 20 execs');
  assert.equal(zombieChildren(shimPid), 0);
  await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
  await waitFor(async () => (await cd.ctr(['task', 'ls'])).stdout.includes('STOPPED'), 10000);
  await cd.ctr(['task', 'delete', id], { reject: false });
  await cd.ctr(['container', 'delete', id]);
});
