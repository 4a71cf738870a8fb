import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { ttrpc } from '../../../src/gen/ttrpc.js';
import {
  CLOSED_MESSAGE,
  Client,
  Code,
  FrameDecoder,
  MAX_MESSAGE_LENGTH,
  MessageType,
  Server,
  TtrpcError,
  encodeFrame,
  isClosedError,
  type Frame,
} from '../../../src/ttrpc/index.js';
import { fdsBackTo, openFds, prng, tempDir } from './helpers.js';

const unhandled: unknown[] = [];
const onUnhandled = (err: unknown): void => {
  unhandled.push(err);
};
process.on('unhandledRejection', onUnhandled);

const dir = tempDir();
let socketCounter = 0;
const nextPath = (): string => join(dir.path, `c${++socketCounter}.sock`);

after(() => {
  dir.remove();
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);
});

const isClosed = (err: unknown): boolean =>
  isClosedError(err) &&
  err.code === Code.Unavailable &&
  err.message === CLOSED_MESSAGE &&
  err instanceof TtrpcError;

/** A hand-driven peer: records every request frame, replies only when told to. */
async function rawServer(path: string): Promise<{
  frames: Frame[];
  requests: ttrpc.Request[];
  nextFrame(): Promise<Frame>;
  send(bytes: Buffer): void;
  drop(): void;
  close(): Promise<void>;
}> {
  const frames: Frame[] = [];
  const requests: ttrpc.Request[] = [];
  let waiter: (() => void) | undefined;
  let peer: net.Socket | undefined;
  let consumed = 0;
  const listener = net.createServer((socket) => {
    peer = socket;
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        assert.equal(f.kind, 'frame');
        frames.push(f);
        requests.push(ttrpc.Request.decode(f.data));
      }
      waiter?.();
    });
  });
  await new Promise<void>((resolve) => listener.listen(path, resolve));
  return {
    frames,
    requests,
    async nextFrame() {
      while (frames.length <= consumed) await new Promise<void>((resolve) => (waiter = resolve));
      return frames[consumed++]!;
    },
    send(bytes) {
      assert.ok(peer);
      peer.write(bytes);
    },
    drop() {
      peer?.destroy();
    },
    close() {
      peer?.destroy();
      return new Promise((resolve) => {
        listener.close(() => {
          resolve();
        });
      });
    },
  };
}

function response(streamId: number, message: ttrpc.Response.$Properties): Buffer {
  return encodeFrame(streamId, MessageType.Response, 0, ttrpc.Response.encode(message).finish());
}

void test('round trip: many concurrent calls on one connection, answered out of order', async () => {
  const baseline = openFds();
  const path = nextPath();
  const server = new Server();
  const rand = prng(42);
  server.register('test.Svc', {
    // Completes after a random number of event-loop turns, so replies leave out of order.
    Reverse: async (payload) => {
      const turns = Math.floor(rand() * 20);
      for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
      return Buffer.from(payload).reverse();
    },
  });
  await server.listen(path);
  const client = await Client.connect(`unix://${path}`);
  const inputs = Array.from({ length: 300 }, (_, i) =>
    Buffer.from(`payload-${i}-${'x'.repeat(i)}`),
  );
  const outputs = await Promise.all(inputs.map((p) => client.call('test.Svc', 'Reverse', p)));
  outputs.forEach((out, i) => {
    assert.deepEqual(Buffer.from(out), Buffer.from(inputs[i]!).reverse());
  });
  client.close();
  await server.close();
  assert.equal(await fdsBackTo(baseline), baseline);
});

void test('wire: odd increasing ids, timeout_nano, lower-cased metadata, defaults omitted', async () => {
  const path = nextPath();
  const peer = await rawServer(path);
  const client = await Client.connect(path);
  try {
    const first = client.call('a.B', 'C', Buffer.from('x'));
    const second = client.call('a.B', 'D', new Uint8Array(), {
      timeoutMs: 1500,
      metadata: { 'Containerd-Namespace-Ttrpc': 'default', multi: ['1', '2'] },
    });
    const third = client.call('a.B', 'E', Buffer.from('z'));
    const f1 = await peer.nextFrame();
    // Request{service:"a.B", method:"C", payload:"x"}: nothing else on the wire.
    assert.equal(
      encodeFrame(f1.streamId, f1.type, f1.flags, f1.data).toString('hex'),
      '0000000b000000010100' + '0a03612e42' + '120143' + '1a0178',
    );
    await peer.nextFrame();
    await peer.nextFrame();
    assert.deepEqual(
      peer.frames.map((f) => [f.streamId, f.type, f.flags]),
      [
        [1, MessageType.Request, 0],
        [3, MessageType.Request, 0],
        [5, MessageType.Request, 0],
      ],
    );
    const req = peer.requests[1]!;
    assert.equal(req.method, 'D');
    assert.equal(req.payload.length, 0);
    assert.equal(Number(req.timeout_nano.toString()), 1_500_000_000);
    assert.deepEqual(
      req.metadata.map((kv) => [kv.key, kv.value]),
      [
        ['containerd-namespace-ttrpc', 'default'],
        ['multi', '1'],
        ['multi', '2'],
      ],
    );

    // Replies out of order, dribbled one byte at a time, with noise the client must skip:
    // a Data frame, a reply for an id never used, and an explicit OK status.
    const bytes = Buffer.concat([
      encodeFrame(5, MessageType.Data, 0, Buffer.from('noise')),
      response(99, { payload: Buffer.from('nobody') }),
      response(5, { status: { code: 0 }, payload: Buffer.from('third') }),
      response(3, { status: { code: Code.NotFound, message: 'thing: not found' } }),
      response(1, { payload: Buffer.from('first') }),
    ]);
    for (const byte of bytes) peer.send(Buffer.from([byte]));
    assert.deepEqual(Buffer.from(await third), Buffer.from('third'));
    await assert.rejects(second, { code: Code.NotFound, message: 'thing: not found' });
    assert.deepEqual(Buffer.from(await first), Buffer.from('first'));
  } finally {
    client.close();
    await peer.close();
  }
});

void test('a timed-out call rejects locally; its late reply is dropped; the client goes on', async () => {
  const path = nextPath();
  const peer = await rawServer(path);
  const client = await Client.connect(path);
  try {
    await assert.rejects(client.call('a.B', 'Slow', new Uint8Array(), { timeoutMs: 20 }), {
      code: Code.DeadlineExceeded,
      message: 'context deadline exceeded',
    });
    assert.equal(Number(peer.requests[0]?.timeout_nano.toString()), 20_000_000);
    const next = client.call('a.B', 'Next', new Uint8Array());
    await peer.nextFrame();
    assert.equal((await peer.nextFrame()).streamId, 3);
    peer.send(response(1, { payload: Buffer.from('late') }));
    peer.send(response(3, { payload: Buffer.from('on time') }));
    assert.deepEqual(Buffer.from(await next), Buffer.from('on time'));

    const controller = new AbortController();
    const aborted = client.call('a.B', 'Aborted', new Uint8Array(), { signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, { code: Code.Canceled });
    await assert.rejects(client.call('a.B', 'X', new Uint8Array(), { signal: controller.signal }), {
      code: Code.Canceled,
    });
  } finally {
    client.close();
    await peer.close();
  }
});

void test('an oversize request is refused locally and uses no stream id', async () => {
  const path = nextPath();
  const peer = await rawServer(path);
  const client = await Client.connect(path);
  try {
    await assert.rejects(client.call('a.B', 'Big', new Uint8Array(MAX_MESSAGE_LENGTH)), {
      code: Code.ResourceExhausted,
      // Request{service, method, payload}: 5 + 5 + (1 + 4 + 4194304) bytes.
      message: 'message length 4194319 exceed maximum message size of 4194304',
    });
    const small = client.call('a.B', 'Small', Buffer.from('s'));
    const frame = await peer.nextFrame();
    assert.equal(frame.streamId, 1);
    assert.equal(peer.requests[0]?.method, 'Small');
    peer.send(response(1, {}));
    assert.equal((await small).length, 0);
  } finally {
    client.close();
    await peer.close();
  }
});

void test('the peer closing rejects pending calls with ttrpc: closed', async () => {
  const path = nextPath();
  const peer = await rawServer(path);
  const client = await Client.connect(path);
  const closed = new Promise<Error | undefined>((resolve) => client.once('close', resolve));
  const pending = [
    client.call('a.B', 'One', new Uint8Array()),
    client.call('a.B', 'Two', new Uint8Array()),
  ];
  await peer.nextFrame();
  await peer.nextFrame();
  peer.drop();
  for (const p of pending) await assert.rejects(p, isClosed);
  await closed;
  assert.equal(client.closed, true);
  await assert.rejects(client.call('a.B', 'After', new Uint8Array()), isClosed);
  client.close();
  await peer.close();
});

void test('server close() rejects pending calls with closed; the client reports close', async () => {
  const path = nextPath();
  const server = new Server();
  server.register('test.Svc', { Never: () => new Promise(() => undefined) });
  await server.listen(path);
  const client = await Client.connect(path);
  let closeEvents = 0;
  client.on('close', () => closeEvents++);
  const pending = client.call('test.Svc', 'Never', new Uint8Array());
  // Unknown-method reply proves the Never request was read and dispatched first.
  await assert.rejects(client.call('test.Svc', 'Missing', new Uint8Array()), {
    code: Code.Unimplemented,
  });
  await Promise.all([server.close(), server.close()]);
  await assert.rejects(pending, isClosed);
  assert.equal(closeEvents, 1);
  client.close();
  assert.equal(closeEvents, 1);
  await assert.rejects(Client.connect(path), { code: Code.Unavailable });
});

void test('graceful shutdown: no new connections, in-flight calls still answered', async () => {
  const path = nextPath();
  const server = new Server();
  let release: (() => void) | undefined;
  server.register('test.Svc', {
    Slow: () =>
      new Promise((resolve) => {
        release = () => {
          resolve(Buffer.from('finished'));
        };
      }),
    Echo: (p) => Promise.resolve(p),
  });
  await server.listen(path);
  const client = await Client.connect(path);
  const closed = new Promise((resolve) => client.once('close', resolve));
  const slow = client.call('test.Svc', 'Slow', new Uint8Array());
  await client.call('test.Svc', 'Echo', new Uint8Array());
  let shutdownDone = false;
  const shutdown = server.shutdown().then(() => (shutdownDone = true));
  assert.equal(server.shutdown(), server.shutdown());
  await assert.rejects(Client.connect(path), { code: Code.Unavailable });
  // The existing connection is still served while the slow call runs.
  assert.deepEqual(
    Buffer.from(await client.call('test.Svc', 'Echo', Buffer.from('e'))),
    Buffer.from('e'),
  );
  assert.equal(shutdownDone, false);
  assert.ok(release);
  release();
  assert.deepEqual(Buffer.from(await slow), Buffer.from('finished'));
  await shutdown;
  await closed;
  assert.equal(server.connectionCount, 0);
  await server.close();
});

void test('close() during a graceful shutdown ends it and aborts what still runs', async () => {
  const path = nextPath();
  const server = new Server();
  let aborted: unknown;
  server.register('test.Svc', {
    Never: (_payload, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          aborted = ctx.signal.reason;
          reject(new Error('aborted'));
        });
      }),
    Echo: (p) => Promise.resolve(p),
  });
  await server.listen(path);
  const client = await Client.connect(path);
  const pending = client.call('test.Svc', 'Never', new Uint8Array());
  await client.call('test.Svc', 'Echo', new Uint8Array());
  const shutdown = server.shutdown();
  await server.close();
  await shutdown;
  assert.equal(server.shutdown(), server.close());
  await assert.rejects(pending, isClosed);
  assert.ok(isClosedError(aborted));
  client.close();
});

void test('connectionFilter rejecting a peer closes it before any request is served', async () => {
  const path = nextPath();
  let seenPeers = 0;
  const server = new Server({
    // Refuses the first peer only; a real filter would check SO_PEERCRED on the socket.
    connectionFilter: (socket) => {
      assert.ok(socket instanceof net.Socket);
      return ++seenPeers > 1;
    },
  });
  server.register('test.Svc', { Echo: (p) => Promise.resolve(p) });
  await server.listen(path);
  const refused = await Client.connect(path);
  await assert.rejects(refused.call('test.Svc', 'Echo', Buffer.from('1')), isClosed);
  const accepted = await Client.connect(path);
  assert.deepEqual(
    Buffer.from(await accepted.call('test.Svc', 'Echo', Buffer.from('2'))),
    Buffer.from('2'),
  );
  assert.equal(seenPeers, 2);
  accepted.close();
  await server.close();
});

void test('maxConnections closes a peer past the bound and serves again once one leaves', async () => {
  const path = nextPath();
  const refusals: string[] = [];
  const server = new Server({
    maxConnections: 2,
    onRefused: (reason) => refusals.push(reason),
  });
  server.register('test.Svc', { Echo: (p) => Promise.resolve(p) });
  await server.listen(path);
  const echo = async (c: Client, text: string): Promise<string> =>
    Buffer.from(await c.call('test.Svc', 'Echo', Buffer.from(text))).toString();
  const first = await Client.connect(path);
  const second = await Client.connect(path);
  // Both answered: both were accepted before the third arrives.
  assert.deepEqual([await echo(first, 'a'), await echo(second, 'b')], ['a', 'b']);
  const third = await Client.connect(path);
  await assert.rejects(third.call('test.Svc', 'Echo', Buffer.from('c')), isClosed);
  assert.deepEqual(refusals, ['2 connections open, the limit']);
  first.close();
  while (server.connectionCount > 1) await new Promise((r) => setTimeout(r, 5));
  const fourth = await Client.connect(path);
  assert.equal(await echo(fourth, 'd'), 'd');
  assert.equal(await echo(second, 'e'), 'e');
  for (const c of [second, third, fourth]) c.close();
  await server.close();
});

void test('connect to a missing socket is Unavailable, not closed', async () => {
  const err: unknown = await Client.connect(join(dir.path, 'missing.sock')).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof TtrpcError);
  assert.equal(err.code, Code.Unavailable);
  assert.equal(isClosedError(err), false);
  assert.match(err.message, /ENOENT/);
});
