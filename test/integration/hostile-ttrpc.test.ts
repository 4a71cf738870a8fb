// Fuzzing the real shim's ttrpc server: a daemon started by a real containerd, serving two running
// containers in one grouped shim, is sent random bytes, truncated and oversize frames, wrong
// types and stream ids, undecodable payloads, unknown routes, byte-by-byte writers and thousands
// of connections, up to its fd limit. After every batch the same shim process must be alive, its
// fd count back at the baseline, both containers RUNNING and `ctr task exec` working in each.
// Deterministic cases are also sent to the reference shim, whose codes we must match.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { containerd } from '../../src/gen/task.js';
import {
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  encodeFrame,
} from '../../src/ttrpc/index.js';
import { Harness } from '../helpers/differential.js';
import { fdCount, parentOf } from '../helpers/leaks.js';
import {
  RawConn,
  TASK,
  TASK_V3,
  TaskClient,
  assertHealthy,
  fdLimits,
  requestFrame,
  shimSocket,
  type Watched,
} from '../helpers/shim-probe.js';
import { prng } from '../unit/ttrpc/helpers.js';

const v2 = containerd.task.v2;
// Set up in this file's own hooks: top-level hooks of one file do not wait for each other.
const h = new Harness();
const tag = String(process.pid);
const idA = `fz-a-${tag}`;
const idB = `fz-b-${tag}`;
const ids = [idA, idB];
const refId = `fz-ref-${tag}`;
const GROUP_ANNOTATION = 'io.containerd.tsshim.v2.group';

const TASK_METHODS = [
  'State',
  'Create',
  'Start',
  'Delete',
  'Pids',
  'Pause',
  'Resume',
  'Checkpoint',
  'Kill',
  'Exec',
  'ResizePty',
  'CloseIO',
  'Update',
  'Wait',
  'Stats',
  'Connect',
  'Shutdown',
];

let w: Watched;
let ours = '';
let reference = '';
let cases = 0;
let connections = 0;
const rand = prng(0x5eed);

function randomBytes(max: number): Buffer {
  const out = Buffer.alloc(Math.floor(rand() * (max + 1)));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

function header(length: number, streamId: number, type: number = MessageType.Request): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH);
  out.writeUInt32BE(length, 0);
  out.writeUInt32BE(streamId, 4);
  out.writeUInt8(type, 8);
  return out;
}

const connectFrame = (streamId: number, type: number = MessageType.Request, flags = 0): Buffer =>
  requestFrame(
    streamId,
    TASK,
    'Connect',
    v2.ConnectRequest.encode({ id: idA }).finish(),
    type,
    flags,
  );

async function open(path: string): Promise<RawConn> {
  connections++;
  return RawConn.open(path);
}

/** Runs `count` cases, `width` at a time. */
async function waves(count: number, width: number, run: (i: number) => Promise<void>) {
  for (let start = 0; start < count; start += width) {
    await Promise.all(
      Array.from({ length: Math.min(width, count - start) }, (_, k) => run(start + k)),
    );
  }
}

/** Only so that a shim that never answers fails the test instead of hanging it. */
const HANG_LIMIT = { timeout: 10 * 60_000 };

before(async () => {
  await h.setUp();
  const group = `fz-${tag}`;
  const pids: number[] = [];
  for (const id of ids) {
    pids.push(
      await h.runDetached(
        'ours',
        id,
        ['sleep', '100000'],
        ['--annotation', `${GROUP_ANNOTATION}=${group}`],
      ),
    );
  }
  const shimPid = parentOf(pids[0] ?? 0);
  assert.equal(parentOf(pids[1] ?? 0), shimPid, 'both containers are served by one shim');
  await h.runDetached('reference', refId, ['sleep', '100000']);
  ours = shimSocket(h, idA);
  reference = shimSocket(h, refId);
  assert.equal(shimSocket(h, idB), ours);
  // One exec in each first, so lazily opened state (the event connection) is in the baseline.
  for (const id of ids) await h.ctr(['task', 'exec', '--exec-id', 'warm', id, 'true']);
  w = { shimPid, fds: fdCount(shimPid), ids };
  const client = await TaskClient.connect(ours, h.cd.namespace);
  const r = await client.call('Connect', v2.ConnectRequest, { id: idA });
  client.close();
  assert.equal(r.code, 0);
  assert.equal(v2.ConnectResponse.decode(r.payload).shim_pid, shimPid);
});

after(async () => {
  console.log(
    `hostile ttrpc: ${String(cases)} fuzz cases, ${String(connections)} connections opened, ` +
      `shim fds baseline ${String(w.fds)}, now ${String(fdCount(w.shimPid))}`,
  );
  for (const id of [...ids, refId]) await h.destroy(id);
  await h.tearDown();
});

test('random bytes on 1,000 connections', HANG_LIMIT, async () => {
  await waves(1000, 50, async (i) => {
    const conn = await open(ours);
    const chunks = 1 + Math.floor(rand() * 8);
    for (let c = 0; c < chunks; c++) {
      // Half start like a frame (byte 0 is 0, a plausible length), so the decoder gets past it.
      const junk = randomBytes(2048);
      if (rand() < 0.5 && junk.length > 4) junk[0] = 0;
      await conn.write(junk).catch(() => undefined);
    }
    await conn.close(i % 2 === 0);
    cases++;
  });
  await assertHealthy(h, w, 'random bytes');
});

test(
  'truncated frames: 1,000 Task requests cut at a random byte, then the peer leaves',
  HANG_LIMIT,
  async () => {
    await waves(1000, 50, async (i) => {
      const method = TASK_METHODS[i % TASK_METHODS.length] ?? 'State';
      const full = requestFrame(1, TASK, method, v2.StateRequest.encode({ id: idA }).finish());
      const cut = 1 + Math.floor(rand() * (full.length - 1));
      const conn = await open(ours);
      await conn.write(full.subarray(0, cut));
      await conn.close(i % 2 === 0);
      // An incomplete frame is never answered.
      assert.deepEqual(conn.responses, []);
      cases++;
    });
    await assertHealthy(h, w, 'truncated frames');
  },
);

test(
  'oversize frames: ResourceExhausted, and the connection goes on (as the reference)',
  HANG_LIMIT,
  async () => {
    const length = MAX_MESSAGE_LENGTH + 1;
    for (const [name, path] of [
      ['reference', reference],
      ['ours', ours],
    ] as const) {
      const conn = await open(path);
      await conn.write(Buffer.concat([header(length, 1), Buffer.alloc(length, 0x0a)]));
      await conn.write(connectFrame(3));
      const big = await conn.response(1);
      assert.equal(big.code, 8, name);
      assert.equal(
        big.message,
        `message length ${String(length)} exceed maximum message size of 4194304`,
      );
      assert.equal((await conn.response(3)).code, 0, `${name}: the connection survives`);
      await conn.close();
      cases++;
    }

    // A 4 GiB announcement is answered at once; nothing of it is buffered.
    const huge = await open(ours);
    await huge.write(Buffer.concat([header(0xffffffff, 5), randomBytes(1000)]));
    assert.equal((await huge.response(5)).code, 8);
    await huge.close();
    cases++;

    // A real Exec whose args push the frame over 4 MiB: refused, and no exec was added.
    const exec = v2.ExecProcessRequest.encode({
      id: idA,
      exec_id: 'big',
      spec: {
        type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
        value: Buffer.from(
          JSON.stringify({ args: ['echo', 'x'.repeat(MAX_MESSAGE_LENGTH)], cwd: '/' }),
        ),
      },
    }).finish();
    const conn = await open(ours);
    await conn.write(requestFrame(1, TASK, 'Exec', exec));
    assert.equal((await conn.response(1)).code, 8);
    await conn.write(connectFrame(3));
    assert.equal((await conn.response(3)).code, 0);
    await conn.close();
    const client = await TaskClient.connect(ours, h.cd.namespace);
    // Our client refuses to send it at all (the sender's duty).
    assert.equal((await client.callRaw('Exec', exec)).code, 8);
    const state = await client.call('State', v2.StateRequest, { id: idA, exec_id: 'big' });
    assert.equal(state.code, 5, state.message);
    cases += 2;

    // Exactly 4 MiB is allowed: a State whose id fills the frame is decoded and refused by id.
    let n = MAX_MESSAGE_LENGTH - 200;
    let frame: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 10; i++) {
      frame = requestFrame(
        1,
        TASK,
        'State',
        v2.StateRequest.encode({ id: 'x'.repeat(n) }).finish(),
      );
      const diff = MAX_MESSAGE_LENGTH - (frame.length - HEADER_LENGTH);
      if (diff === 0) break;
      n += diff;
    }
    assert.equal(frame.length - HEADER_LENGTH, MAX_MESSAGE_LENGTH);
    const max = await open(ours);
    await max.write(frame);
    const reply = await max.response(1);
    assert.equal(reply.code, 3, reply.message);
    assert.ok(reply.message.length < 300, 'the reply does not echo a 4 MiB id');
    await max.close();
    client.close();
    cases++;
    await assertHealthy(h, w, 'oversize frames');
  },
);

test(
  'wrong message types are ignored: only the real Request on the connection is answered',
  HANG_LIMIT,
  async () => {
    const types = [0, MessageType.Response, MessageType.Data, 4, 9, 0x7f, 0x80, 0xff];
    for (const [name, path] of [
      ['reference', reference],
      ['ours', ours],
    ] as const) {
      const conn = await open(path);
      let stream = 1;
      for (const type of types) {
        for (const flags of [0, 1, 2, 5]) {
          await conn.write(connectFrame(stream, type, flags));
          stream += 2;
          cases++;
        }
      }
      await conn.write(connectFrame(stream));
      assert.equal((await conn.response(stream)).code, 0, name);
      assert.deepEqual(
        conn.responses.map((r) => r.streamId),
        [stream],
        `${name}: nothing but the Request was answered`,
      );
      await conn.close();
    }
    await assertHealthy(h, w, 'wrong message types');
  },
);

test(
  'even stream ids: InvalidArgument on that id (as the reference); reused ids are refused',
  HANG_LIMIT,
  async () => {
    for (const [name, path] of [
      ['reference', reference],
      ['ours', ours],
    ] as const) {
      const conn = await open(path);
      for (const id of [2, 4, 0, 0xfffffffe]) {
        await conn.write(connectFrame(id));
        const r = await conn.response(id);
        assert.equal(r.code, 3, `${name} ${String(id)}`);
        assert.equal(r.message, 'StreamID must be odd for client initiated streams');
        cases++;
      }
      await conn.close();
    }
    // ttrpc >= 1.2 also refuses ids that do not increase (containerd 1.6's 1.1 does not check).
    const conn = await open(ours);
    await conn.write(connectFrame(7));
    assert.equal((await conn.response(7)).code, 0);
    await conn.write(connectFrame(5));
    const back = await conn.response(5);
    assert.equal(back.code, 3);
    assert.equal(back.message, 'StreamID cannot be re-used and must increment');
    await conn.close();
    cases++;
    await assertHealthy(h, w, 'stream ids');
  },
);

test(
  'payloads that are not the method request: Internal, as the reference; random ones never crash',
  HANG_LIMIT,
  async () => {
    const broken = [
      [0x0a, 0x05, 0x61], // field 1 length 5, one byte present
      [0x08], // a varint with no bytes
      [0x0f], // wire type 7
      [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], // a 4 GiB string
    ].map((b) => Buffer.from(b));
    const clients = {
      reference: await TaskClient.connect(reference, h.cd.namespace),
      ours: await TaskClient.connect(ours, h.cd.namespace),
    };
    for (const method of TASK_METHODS) {
      for (const payload of broken) {
        for (const [name, client] of Object.entries(clients)) {
          const r = await client.callRaw(method, payload);
          assert.equal(r.code, 13, `${name} ${method} ${payload.toString('hex')}: ${r.message}`);
          assert.match(r.message, /^ttrpc: error unmarshalling payload/);
          cases++;
        }
      }
    }
    // Random payloads: any status at all, but always an answer.
    for (let i = 0; i < 30 * TASK_METHODS.length; i++) {
      const method = TASK_METHODS[i % TASK_METHODS.length] ?? 'State';
      const r = await clients.ours.callRaw(method, randomBytes(64));
      assert.ok(r.code >= 0 && r.code <= 16, `${method}: ${String(r.code)}`);
      cases++;
    }
    // A Request envelope that does not decode: InvalidArgument on both.
    for (const [name, path] of [
      ['reference', reference],
      ['ours', ours],
    ] as const) {
      const conn = await open(path);
      await conn.write(encodeFrame(1, MessageType.Request, 0, Buffer.from([0x0a, 0x05])));
      const r = await conn.response(1);
      assert.equal(r.code, 3, name);
      assert.match(r.message, /^unmarshal request error/);
      await conn.close();
      cases++;
    }
    for (const client of Object.values(clients)) client.close();
    await assertHealthy(h, w, 'bad payloads');
  },
);

test(
  'unknown services and methods: Unimplemented with the reference wording',
  HANG_LIMIT,
  async () => {
    const clients = {
      reference: await TaskClient.connect(reference, h.cd.namespace),
      ours: await TaskClient.connect(ours, h.cd.namespace),
    };
    const state = v2.StateRequest.encode({ id: 'nosuch' }).finish();
    const routes: [string, string][] = [
      ...[
        '',
        'containerd.task.v4.Task',
        'containerd.task.v2.task',
        'grpc.health.v1.Health',
        'x'.repeat(10_000),
      ].map((s): [string, string] => [s, 'State']),
      ...['', 'state', 'Nope', 'State ', 'Forward', 'x'.repeat(10_000)].map(
        (m): [string, string] => [TASK, m],
      ),
    ];
    for (const [service, method] of routes) {
      const seen: Record<string, { code: number; message: string }> = {};
      for (const [name, client] of Object.entries(clients)) {
        const r = await client.callRaw(method, state, service);
        seen[name] = { code: r.code, message: r.message };
        cases++;
      }
      assert.equal(seen['ours']?.code, 12, `${service}/${method}`);
      assert.deepEqual(seen['ours'], seen['reference']);
    }
    // Both service names route, also on the shim side of a v3 client.
    for (const service of [TASK, TASK_V3]) {
      const r = await clients.ours.call('State', v2.StateRequest, { id: idA }, service);
      assert.equal(r.code, 0, service);
      cases++;
    }
    for (const client of Object.values(clients)) client.close();
    await assertHealthy(h, w, 'unknown routes');
  },
);

test(
  'slow writers: frames dribbled byte by byte are answered, and block no one else',
  HANG_LIMIT,
  async () => {
    const client = await TaskClient.connect(ours, h.cd.namespace);
    // One peer stops half way through a frame and stays connected meanwhile.
    const stalled = await open(ours);
    const frame = connectFrame(1);
    await stalled.write(frame.subarray(0, frame.length >> 1));
    const dribblers = Array.from({ length: 5 }, async () => {
      const conn = await open(ours);
      for (const byte of connectFrame(1)) {
        await conn.write(Buffer.from([byte]));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const r = await conn.response(1);
      assert.equal(r.code, 0);
      assert.equal(v2.ConnectResponse.decode(r.payload).shim_pid, w.shimPid);
      await conn.close();
      cases++;
    });
    let served = 0;
    const progress = { dribbling: true };
    const others = (async () => {
      // Other connections are served while the byte-by-byte frames are in progress.
      while (progress.dribbling || served < 20) {
        const r = await client.call('State', v2.StateRequest, { id: idB });
        assert.equal(r.code, 0);
        served++;
      }
    })();
    await Promise.all(dribblers);
    progress.dribbling = false;
    await others;
    assert.deepEqual(stalled.responses, []);
    await stalled.close();
    client.close();
    cases++;
    await assertHealthy(h, w, 'slow writers');
  },
);

test(
  'stalled 4 MiB frames on 200 connections: the shim keeps serving and frees them at close',
  HANG_LIMIT,
  async () => {
    const rss = (): number =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${String(w.shimPid)}/status`, 'utf8'))?.[1]);
    const rssBefore = rss();
    const stalled: RawConn[] = [];
    await waves(200, 50, async () => {
      const conn = await open(ours);
      // The largest allowed frame, of which only a few bytes ever arrive.
      await conn.write(Buffer.concat([header(MAX_MESSAGE_LENGTH, 1), randomBytes(100)]));
      stalled.push(conn);
      cases++;
    });
    const client = await TaskClient.connect(ours, h.cd.namespace);
    const r = await client.call('State', v2.StateRequest, { id: idB });
    assert.equal(r.code, 0, 'served while 200 frames are pending');
    client.close();
    const rssStalled = rss();
    await Promise.all(stalled.map((c) => c.close(true)));
    for (const c of stalled) assert.deepEqual(c.responses, []);
    console.log(
      `shim VmRSS ${String(rssBefore)} kB before, ${String(rssStalled)} kB with 200 stalled 4 MiB frames`,
    );
    await assertHealthy(h, w, 'stalled 4 MiB frames');
  },
);

test('2,000 connections opened and closed, 500 of them idle at once', HANG_LIMIT, async () => {
  const limits = fdLimits(w.shimPid);
  console.log(`shim RLIMIT_NOFILE soft ${String(limits.soft)} hard ${String(limits.hard)}`);
  let idle: TaskClient[] = [];
  let peakIdle = 0;
  let peakFds = 0;
  const closeIdle = async (): Promise<void> => {
    peakIdle = Math.max(peakIdle, idle.length);
    // Idle connections were kept by the shim: each still answers before it is closed.
    await Promise.all(
      idle.map(async (c) => {
        assert.equal((await c.call('Connect', v2.ConnectRequest, { id: idA })).code, 0);
      }),
    );
    // Every one of them has been accepted now (it answered), and the shim closes none itself.
    const fds = fdCount(w.shimPid);
    assert.ok(fds >= w.fds + idle.length, `${String(fds)} fds for ${String(idle.length)} idle`);
    peakFds = Math.max(peakFds, fds);
    for (const c of idle) c.close();
    idle = [];
  };
  await waves(2000, 100, async (i) => {
    connections++;
    cases++;
    const client = await TaskClient.connect(ours, h.cd.namespace);
    switch (i % 4) {
      case 0:
        client.close();
        return;
      case 1: {
        const r = await client.call('State', v2.StateRequest, { id: i % 2 === 0 ? idA : idB });
        assert.equal(r.code, 0);
        client.close();
        return;
      }
      default:
        idle.push(client);
        if (idle.length >= 500) await closeIdle();
    }
  });
  await closeIdle();
  console.log(`peak idle connections ${String(peakIdle)}, peak shim fds ${String(peakFds)}`);
  assert.equal(peakIdle, 500);
  await assertHealthy(h, w, '2,000 connections');
});

test(
  'at its fd limit the shim refuses connections, keeps serving, and recovers',
  HANG_LIMIT,
  async () => {
    const limits = fdLimits(w.shimPid);
    const before = await TaskClient.connect(ours, h.cd.namespace);
    const soft = fdCount(w.shimPid) + 20;
    await execa('prlimit', [
      '--pid',
      String(w.shimPid),
      `--nofile=${String(soft)}:${String(limits.hard)}`,
    ]);
    let answered = 0;
    let refused = 0;
    const held: RawConn[] = [];
    try {
      await waves(200, 200, async () => {
        cases++;
        let conn: RawConn;
        try {
          conn = await open(ours);
        } catch {
          refused++; // a full backlog (EAGAIN) is a refusal too
          return;
        }
        held.push(conn);
        try {
          await conn.write(connectFrame(1));
          assert.equal((await conn.response(1)).code, 0);
          answered++;
        } catch {
          refused++;
        }
      });
      // The connection opened before the limit still works.
      const r = await before.call('State', v2.StateRequest, { id: idA });
      assert.equal(r.code, 0);
    } finally {
      await execa('prlimit', [
        '--pid',
        String(w.shimPid),
        `--nofile=${String(limits.soft)}:${String(limits.hard)}`,
      ]);
    }
    console.log(
      `at the fd limit: ${String(answered)} connections answered, ${String(refused)} refused`,
    );
    assert.ok(refused > 0, 'the limit was reached');
    assert.ok(answered > 0, 'connections under the limit were served');
    await Promise.all(held.map((c) => c.close(true)));
    before.close();
    // Fresh connections are accepted again.
    const after = await TaskClient.connect(ours, h.cd.namespace);
    assert.equal((await after.call('Connect', v2.ConnectRequest, { id: idA })).code, 0);
    after.close();
    await assertHealthy(h, w, 'fd limit');
  },
);
