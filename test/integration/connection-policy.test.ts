// Who may connect to a real shim daemon, and how many: a peer with another uid or gid than the
// daemon's is closed before any request is read (SO_PEERCRED, as the reference's ttrpc server
// does), connections past the bound are closed at accept, each refusal reaches containerd's log,
// and the containers and containerd's own connection never notice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { containerd } from '../../src/gen/task.js';
import { Harness } from '../helpers/differential.js';
import { parentOf } from '../helpers/leaks.js';
import { TASK, TaskClient, requestFrame, shimSocket } from '../helpers/shim-probe.js';

const v2 = containerd.task.v2;
const h = new Harness();
const id = `policy-${String(process.pid)}`;
const MAX_CONNECTIONS = 4;
const NOBODY = 65534;
let socket = '';

before(async () => {
  await h.setUp({ env: { TSSHIM_MAX_CONNECTIONS: String(MAX_CONNECTIONS) } });
  await h.runDetached('ours', id, ['sleep', '100000']);
  socket = shimSocket(h, id);
});

after(async () => {
  await h.destroy(id);
  await h.tearDown();
});

/**
 * Connects as another user and sends a Connect request: 'answered' when a reply came back,
 * 'closed' when the shim closed the connection without one.
 */
function probeAs(ids: { uid?: number; gid?: number }, path = socket): Promise<string> {
  const frame = requestFrame(1, TASK, 'Connect', v2.ConnectRequest.encode({ id }).finish());
  const script = `
    const s = require('node:net').connect(process.argv[1]);
    s.on('connect', () => s.write(Buffer.from(process.argv[2], 'hex')));
    s.on('data', () => { console.log('answered'); process.exit(0); });
    s.on('close', () => { console.log('closed'); process.exit(0); });
    // A close while the request is being written is a close too.
    s.on('error', (e) => {
      console.log(['EPIPE', 'ECONNRESET'].includes(e.code) ? 'closed' : e.code);
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['-e', script, path, frame.toString('hex')], {
    ...ids,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => {
    child.on('close', () => {
      resolve(out.trim());
    });
  });
}

async function answers(client: TaskClient): Promise<boolean> {
  return client.call('Connect', v2.ConnectRequest, { id }).then(
    (r) => r.code === 0,
    () => false,
  );
}

async function execWorks(): Promise<void> {
  const r = await h.ctr(['task', 'exec', '--exec-id', `e${String(Date.now())}`, id, 'true']);
  assert.equal(r.exitCode, 0, r.stderr);
}

test('a peer with our uid but another gid is closed unanswered; ours are served', async () => {
  assert.equal(await probeAs({}), 'answered');
  assert.equal(await probeAs({ gid: NOBODY }), 'closed');
  await execWorks();
});

test('a peer with another uid is closed unanswered even where file modes let it in', async () => {
  // The socket is root's, mode 0600, in a directory only root may enter. Reached through a link
  // in an open directory (same inode, same listener) and opened up, the credential check alone
  // must hold.
  assert.equal(await probeAs({ uid: NOBODY, gid: NOBODY }), 'EACCES');
  // /run holds the socket directory: a hard link needs the same filesystem.
  const open = mkdtempSync('/run/tsshim-policy-');
  const link = join(open, 's');
  try {
    chmodSync(open, 0o755);
    linkSync(socket, link);
    chmodSync(socket, 0o666);
    assert.equal(await probeAs({ uid: NOBODY, gid: NOBODY }, link), 'closed');
  } finally {
    chmodSync(socket, 0o600);
    rmSync(open, { recursive: true, force: true });
  }
  await execWorks();
});

test('connections past the bound are closed at accept; once some close, new ones are served', async () => {
  const clients: TaskClient[] = [];
  const outcomes: boolean[] = [];
  try {
    // One at a time: each is accepted or refused before the next arrives.
    for (let i = 0; i < MAX_CONNECTIONS + 3; i++) {
      const client = await TaskClient.connect(socket, h.cd.namespace);
      clients.push(client);
      outcomes.push(await answers(client));
    }
    const served = outcomes.filter(Boolean).length;
    // containerd holds at least one connection of the bound for its container.
    assert.ok(served >= 1 && served < MAX_CONNECTIONS, `served ${String(served)}`);
    assert.deepEqual(outcomes, [
      ...Array<boolean>(served).fill(true),
      ...Array<boolean>(outcomes.length - served).fill(false),
    ]);
    // containerd's connection is untouched by the refusals.
    await execWorks();
  } finally {
    for (const c of clients) c.close();
  }
  // The shim notices the closes asynchronously: a refused attempt is retried on a new connection.
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    const again = await TaskClient.connect(socket, h.cd.namespace);
    ok = await answers(again);
    again.close();
    if (!ok) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(ok, 'a new connection is served once ours have closed');
});

test('refusals are in containerd log, and the same shim still serves its container', async () => {
  const log = h.cd.log();
  assert.match(log, /ttrpc connection refused.*is not uid 0 gid 0/);
  assert.match(log, /ttrpc connection refused.*connections open, the limit/);
  const pid = Number(
    (await h.ctr(['task', 'ls'])).stdout
      .split('\n')
      .find((l) => l.startsWith(id))
      ?.split(/\s+/)[1],
  );
  assert.ok(parentOf(pid) > 0);
  await execWorks();
});
