import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ttrpc } from '../../../src/gen/ttrpc.js';
import {
  Client,
  Code,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  Server,
  TtrpcError,
  encodeFrame,
  isClosedError,
  type CallContext,
  type Handler,
} from '../../../src/ttrpc/index.js';
import { RawReader, connectRaw, tempDir } from './helpers.js';

const TASK = 'containerd.task.v2.Task';
const NS_KEY = 'containerd-namespace-ttrpc';

const unhandled: unknown[] = [];
const onUnhandled = (err: unknown): void => {
  unhandled.push(err);
};
process.on('unhandledRejection', onUnhandled);

const dir = tempDir();
const socketPath = join(dir.path, 's.sock');
const server = new Server();
const seen: { method: string; payload: string; metadata: [string, string[]][] }[] = [];
let releaseSlow: (() => void) | undefined;
let lastAbortReason: unknown;
let lateSignalGate: (() => void) | undefined;

/** Waits for LateSignal to be running, then lets it look at its signal. */
async function openLateSignalGate(): Promise<void> {
  for (;;) {
    const gate = lateSignalGate;
    if (gate) {
      lateSignalGate = undefined;
      gate();
      return;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function record(method: string, payload: Uint8Array, ctx: CallContext): void {
  seen.push({ method, payload: Buffer.from(payload).toString('hex'), metadata: [...ctx.metadata] });
}

/** Resolves when the handler's signal aborts, then fails with the abort reason. */
const untilAborted: Handler = (_payload, ctx) =>
  new Promise((_resolve, reject) => {
    ctx.signal.addEventListener('abort', () => {
      lastAbortReason = ctx.signal.reason;
      reject(ctx.signal.reason as Error);
    });
  });

before(async () => {
  server.register(TASK, {
    Connect: (payload, ctx) => {
      record('Connect', payload, ctx);
      // ConnectResponse{shim_pid: 1234, task_pid: 5678}, encoded by hand.
      return Promise.resolve(Buffer.from('08d20910ae2c', 'hex'));
    },
    State: (payload, ctx) => {
      record('State', payload, ctx);
      return Promise.reject(new TtrpcError(Code.NotFound, 'container not created: not found'));
    },
  });
  server.register('test.Svc', {
    Echo: (payload) => Promise.resolve(payload),
    Meta: (_payload, ctx) =>
      Promise.resolve(Buffer.from(JSON.stringify([...ctx.metadata].sort()), 'utf8')),
    Slow: () =>
      new Promise((resolve) => {
        releaseSlow = () => {
          resolve(Buffer.from('slow'));
        };
      }),
    Fast: () => Promise.resolve(Buffer.from('fast')),
    UntilAborted: untilAborted,
    // Looks at its signal only once `lateSignalGate` opens: the signal is made on first use.
    LateSignal: async (_payload, ctx) => {
      await new Promise<void>((resolve) => {
        lateSignalGate = resolve;
      });
      lastAbortReason = ctx.signal.reason;
      return Buffer.from(ctx.signal.aborted ? 'aborted' : 'live');
    },
    Boom: () => Promise.reject(new Error('boom')),
    SyncThrow: () => {
      throw new Error('thrown synchronously');
    },
    // Something that is not an Error still becomes Unknown with its text.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    ThrowString: () => Promise.reject('plain string'),
    Precondition: () => Promise.reject(new TtrpcError(Code.FailedPrecondition, 'not running')),
    NoResult: () => Promise.resolve(undefined as unknown as Uint8Array),
    Huge: () => Promise.resolve(new Uint8Array(MAX_MESSAGE_LENGTH)),
    Enoent: () => {
      const err = new Error('open /x: no such file') as NodeJS.ErrnoException;
      err.code = 'ENOENT';
      return Promise.reject(err);
    },
  });
  // A second registration adds methods to the same service.
  server.register('test.Svc', { Added: () => Promise.resolve(Buffer.from('added')) });
  await server.listen(socketPath);
});

after(async () => {
  await server.close();
  dir.remove();
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);
});

/** Reads one whole frame from a raw socket and decodes its Response. */
async function readResponse(reader: RawReader): Promise<{
  streamId: number;
  type: number;
  flags: number;
  raw: Buffer;
  response: ttrpc.Response;
}> {
  const header = await reader.read(HEADER_LENGTH);
  const length = header.readUInt32BE(0);
  const body = await reader.read(length);
  return {
    streamId: header.readUInt32BE(4),
    type: header.readUInt8(8),
    flags: header.readUInt8(9),
    raw: Buffer.concat([header, body]),
    response: ttrpc.Response.decode(body),
  };
}

function requestFrame(streamId: number, request: ttrpc.Request.$Properties, type = 1): Buffer {
  return encodeFrame(streamId, type, 0, ttrpc.Request.encode(request).finish());
}

void test('byte-exact: the worked example and a NotFound error, as the reference writes them', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    const connect =
      '000000500000000101000a17636f6e7461696e6572642e7461736b2e76322e5461736b1207436f6e6e656374' +
      '1a050a036162632a250a1a636f6e7461696e6572642d6e616d6573706163652d7474727063120764656661756c74';
    socket.write(Buffer.from(connect, 'hex'));
    const first = await reader.read(18);
    assert.equal(first.toString('hex'), '0000000800000001020012' + '0608d20910ae2c');

    // The same request shape for State on stream 3 (length 0x4e = 78).
    const state =
      '0000004e0000000301000a17636f6e7461696e6572642e7461736b2e76322e5461736b12055374617465' +
      '1a050a036162632a250a1a636f6e7461696e6572642d6e616d6573706163652d7474727063120764656661756c74';
    assert.equal(Buffer.from(state, 'hex').length, HEADER_LENGTH + 0x4e);
    socket.write(Buffer.from(state, 'hex'));
    const second = await reader.read(10 + 0x26);
    assert.equal(
      second.toString('hex'),
      '00000026000000030200' +
        '0a2408051220' +
        Buffer.from('container not created: not found').toString('hex'),
    );
    assert.deepEqual(seen, [
      { method: 'Connect', payload: '0a03616263', metadata: [[NS_KEY, ['default']]] },
      { method: 'State', payload: '0a03616263', metadata: [[NS_KEY, ['default']]] },
    ]);
  } finally {
    socket.destroy();
  }
});

void test('unknown service and unknown method are Unimplemented with the reference texts', async () => {
  const client = await Client.connect(socketPath);
  try {
    await assert.rejects(client.call('no.Such', 'Echo', new Uint8Array()), {
      code: Code.Unimplemented,
      message: 'service no.Such',
    });
    await assert.rejects(client.call('test.Svc', 'Nope', new Uint8Array()), {
      code: Code.Unimplemented,
      message: 'method Nope',
    });
    // Routing is exact: case matters.
    await assert.rejects(client.call('test.Svc', 'echo', new Uint8Array()), {
      code: Code.Unimplemented,
      message: 'method echo',
    });
    assert.deepEqual(
      await client.call('test.Svc', 'Added', new Uint8Array()),
      Buffer.from('added'),
    );
  } finally {
    client.close();
  }
});

void test('handler outcomes map to statuses; errors carry no payload', async () => {
  const client = await Client.connect(socketPath);
  try {
    const cases: [string, Code, string][] = [
      ['Boom', Code.Unknown, 'boom'],
      ['SyncThrow', Code.Unknown, 'thrown synchronously'],
      ['ThrowString', Code.Unknown, 'plain string'],
      ['Precondition', Code.FailedPrecondition, 'not running'],
      ['NoResult', Code.Unknown, 'ttrpc: marshal called with nil'],
      ['Enoent', Code.NotFound, 'open /x: no such file'],
      // Response{payload: 4 MiB} = 1 tag byte + 4 length-varint bytes + 4194304.
      [
        'Huge',
        Code.ResourceExhausted,
        'message length 4194309 exceed maximum message size of 4194304',
      ],
    ];
    for (const [method, code, message] of cases) {
      await assert.rejects(
        client.call('test.Svc', method, new Uint8Array()),
        { code, message },
        method,
      );
    }
    // The connection survived every failure.
    assert.deepEqual(
      await client.call('test.Svc', 'Echo', Buffer.from('still')),
      Buffer.from('still'),
    );
  } finally {
    client.close();
  }
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    socket.write(requestFrame(1, { service: 'test.Svc', method: 'Boom' }));
    const reply = await readResponse(reader);
    assert.equal(
      reply.raw.subarray(10).toString('hex'),
      '0a0808021204' + Buffer.from('boom').toString('hex'),
    );
    socket.write(requestFrame(3, { service: 'test.Svc', method: 'Echo' }));
    // Success with an empty payload is an empty Response: no status, no payload.
    assert.equal((await readResponse(reader)).raw.toString('hex'), '00000000000000030200');
  } finally {
    socket.destroy();
  }
});

void test('even, re-used and undecodable requests get InvalidArgument; the connection carries on', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    socket.write(
      requestFrame(2, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('x') }),
    );
    let reply = await readResponse(reader);
    assert.equal(reply.streamId, 2);
    assert.equal(reply.type, MessageType.Response);
    assert.equal(reply.flags, 0);
    assert.equal(reply.response.status?.code, Code.InvalidArgument);
    assert.equal(
      reply.response.status.message,
      'StreamID must be odd for client initiated streams',
    );

    socket.write(
      requestFrame(5, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('a') }),
    );
    reply = await readResponse(reader);
    assert.equal(reply.streamId, 5);
    assert.equal(reply.response.status, null);
    assert.deepEqual(Buffer.from(reply.response.payload), Buffer.from('a'));

    socket.write(requestFrame(5, { service: 'test.Svc', method: 'Echo' }));
    reply = await readResponse(reader);
    assert.equal(reply.streamId, 5);
    assert.equal(reply.response.status?.code, Code.InvalidArgument);
    assert.equal(reply.response.status.message, 'StreamID cannot be re-used and must increment');

    // Field 1 claims 100 bytes that are not there.
    socket.write(encodeFrame(7, MessageType.Request, 0, Buffer.from('0a64616263', 'hex')));
    reply = await readResponse(reader);
    assert.equal(reply.streamId, 7);
    assert.equal(reply.response.status?.code, Code.InvalidArgument);
    assert.match(reply.response.status.message ?? '', /^unmarshal request error: /);

    socket.write(
      requestFrame(9, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('b') }),
    );
    reply = await readResponse(reader);
    assert.equal(reply.streamId, 9);
    assert.deepEqual(Buffer.from(reply.response.payload), Buffer.from('b'));
  } finally {
    socket.destroy();
  }
});

void test('unknown message types and Data frames are ignored', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    socket.write(
      Buffer.concat([
        requestFrame(1, { service: 'test.Svc', method: 'Echo' }, 0x09),
        encodeFrame(3, MessageType.Data, 1, Buffer.from('data')),
        encodeFrame(5, MessageType.Response, 0, Buffer.from('junk')),
        requestFrame(7, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('after') }),
      ]),
    );
    const reply = await readResponse(reader);
    assert.equal(reply.streamId, 7);
    assert.deepEqual(Buffer.from(reply.response.payload), Buffer.from('after'));
  } finally {
    socket.destroy();
  }
});

void test('an oversize frame gets ResourceExhausted on its stream id; the connection is kept', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt32BE(MAX_MESSAGE_LENGTH + 1, 0);
    header.writeUInt32BE(5, 4);
    header.writeUInt8(MessageType.Request, 8);
    socket.write(header);
    // Answered at the header, before any of the body is sent.
    const reply = await readResponse(reader);
    assert.equal(reply.streamId, 5);
    assert.equal(reply.response.status?.code, Code.ResourceExhausted);
    assert.equal(
      reply.response.status.message,
      'message length 4194305 exceed maximum message size of 4194304',
    );
    socket.write(Buffer.alloc(MAX_MESSAGE_LENGTH + 1, 0x0a));
    socket.write(
      requestFrame(7, { service: 'test.Svc', method: 'Echo', payload: Buffer.from('ok') }),
    );
    const next = await readResponse(reader);
    assert.equal(next.streamId, 7);
    assert.deepEqual(Buffer.from(next.response.payload), Buffer.from('ok'));
  } finally {
    socket.destroy();
  }
});

void test('a slow handler does not block a fast one on the same connection', async () => {
  const client = await Client.connect(socketPath);
  try {
    let slowDone = false;
    const slow = client.call('test.Svc', 'Slow', new Uint8Array()).then((out) => {
      slowDone = true;
      return out;
    });
    assert.deepEqual(await client.call('test.Svc', 'Fast', new Uint8Array()), Buffer.from('fast'));
    assert.equal(slowDone, false);
    assert.ok(releaseSlow);
    releaseSlow();
    assert.deepEqual(await slow, Buffer.from('slow'));
  } finally {
    client.close();
  }
});

void test('metadata reaches the handler, repeated keys as one multi-valued entry', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    socket.write(
      requestFrame(1, {
        service: 'test.Svc',
        method: 'Meta',
        metadata: [
          { key: NS_KEY, value: 'default' },
          { key: 'traceparent', value: '00-abc-01' },
          { key: 'multi', value: 'a' },
          { key: 'multi', value: 'b' },
        ],
      }),
    );
    const reply = await readResponse(reader);
    assert.deepEqual(JSON.parse(Buffer.from(reply.response.payload).toString('utf8')), [
      [NS_KEY, ['default']],
      ['multi', ['a', 'b']],
      ['traceparent', ['00-abc-01']],
    ]);
  } finally {
    socket.destroy();
  }
});

void test('timeout_nano aborts the handler signal with DeadlineExceeded', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    lastAbortReason = undefined;
    socket.write(
      requestFrame(1, { service: 'test.Svc', method: 'UntilAborted', timeout_nano: 20_000_000 }),
    );
    const reply = await readResponse(reader);
    assert.equal(reply.streamId, 1);
    assert.equal(reply.response.status?.code, Code.DeadlineExceeded);
    assert.equal(reply.response.status.message, 'context deadline exceeded');
    assert.ok(lastAbortReason instanceof TtrpcError);
  } finally {
    socket.destroy();
  }
});

void test('a signal first looked at after the deadline is already aborted', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    lastAbortReason = undefined;
    socket.write(
      requestFrame(1, { service: 'test.Svc', method: 'LateSignal', timeout_nano: 20_000_000 }),
    );
    await new Promise((resolve) => setTimeout(resolve, 60));
    await openLateSignalGate();
    const reply = await readResponse(reader);
    assert.equal(Buffer.from(reply.response.payload).toString(), 'aborted');
    assert.ok(lastAbortReason instanceof TtrpcError);
    assert.equal(lastAbortReason.code, Code.DeadlineExceeded);
  } finally {
    socket.destroy();
  }
});

void test('a signal first looked at before the deadline is live', async () => {
  const socket = await connectRaw(socketPath);
  const reader = new RawReader(socket);
  try {
    socket.write(
      requestFrame(1, { service: 'test.Svc', method: 'LateSignal', timeout_nano: 60_000_000_000 }),
    );
    await openLateSignalGate();
    const reply = await readResponse(reader);
    assert.equal(Buffer.from(reply.response.payload).toString(), 'live');
  } finally {
    socket.destroy();
  }
});

void test('a peer going away aborts its running handlers', async () => {
  lastAbortReason = undefined;
  const client = await Client.connect(socketPath);
  const pending = client.call('test.Svc', 'UntilAborted', new Uint8Array());
  // Echo is answered after UntilAborted was dispatched: the handler is running by now.
  await client.call('test.Svc', 'Echo', new Uint8Array());
  client.close();
  await assert.rejects(pending, (err) => isClosedError(err));
  while (lastAbortReason === undefined) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(isClosedError(lastAbortReason));
});

void test('listen({fd}) serves on an inherited listening socket', async () => {
  const child = join(dir.path, 'child.mjs');
  const index = new URL('../../../src/ttrpc/index.js', import.meta.url).href;
  writeFileSync(
    child,
    `import { Server } from ${JSON.stringify(index)};\n` +
      `const s = new Server();\n` +
      `s.register('test.Svc', { Pid: () => Promise.resolve(Buffer.from(String(process.pid))) });\n` +
      `await s.listen({ fd: 3 });\n` +
      `process.stdout.write('ready\\n');\n`,
  );
  const path = join(dir.path, 'fd.sock');
  // Python binds and listens, then execs node with the socket as fd 3, as a shim parent would.
  const bootstrap =
    'import os, socket, sys\n' +
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n' +
    's.bind(sys.argv[1]); s.listen(16)\n' +
    'os.dup2(s.fileno(), 3); os.set_inheritable(3, True)\n' +
    'os.execv(sys.argv[2], sys.argv[2:])\n';
  const proc = spawn('python3', ['-c', bootstrap, path, process.execPath, child], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => {
        reject(new Error(`child exited with ${String(code)}`));
      });
      proc.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
    });
    const client = await Client.connect(path);
    try {
      const pid = Buffer.from(await client.call('test.Svc', 'Pid', new Uint8Array())).toString();
      assert.equal(pid, String(proc.pid));
    } finally {
      client.close();
    }
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    }
  }
});
