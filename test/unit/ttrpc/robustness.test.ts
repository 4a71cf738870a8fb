import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { join } from 'node:path';
import { ttrpc } from '../../../src/gen/ttrpc.js';
import {
  Client,
  FrameDecoder,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  Server,
  encodeFrame,
  type Handler,
} from '../../../src/ttrpc/index.js';
import { connectRaw, fdsBackTo, openFds, prng, tempDir } from './helpers.js';

const JUNK_CONNECTIONS = 10;
/** This connection sends unframed garbage; the others keep their framing, so most junk is parsed. */
const GARBAGE_CONNECTION = JUNK_CONNECTIONS - 1;
const FRAMES_PER_CONNECTION = 1000;

/** Polls (bounded) until `done()` holds; returns whether it did. */
async function eventually(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return done();
}

function randomBytes(rand: () => number, max: number): Buffer {
  const out = Buffer.alloc(Math.floor(rand() * (max + 1)));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

/** One junk frame: structurally valid headers around every kind of bad or odd content. */
function junkFrame(rand: () => number): Buffer {
  const u32 = (): number => Math.floor(rand() * 0x100000000);
  const odd = (): number => (u32() | 1) >>> 0;
  const roll = rand();
  if (roll < 0.25) {
    // Anything at all in type, flags, id and body.
    return encodeFrame(
      u32(),
      Math.floor(rand() * 256),
      Math.floor(rand() * 256),
      randomBytes(rand, 300),
    );
  }
  if (roll < 0.45) {
    // A Request whose bytes are random: mostly undecodable.
    return encodeFrame(odd(), MessageType.Request, 0, randomBytes(rand, 200));
  }
  if (roll < 0.7) {
    // A decodable Request, routed somewhere real or not, with ids that may go backwards.
    const request = ttrpc.Request.encode({
      service: pick(rand, ['test.Svc', 'test.Svc', 'no.Such', '']),
      method: pick(rand, ['Echo', 'Hang', 'Throw', 'Nope', '']),
      payload: randomBytes(rand, 100),
      timeout_nano: pick(rand, [0, 1, 1_000_000, -5, 2 ** 53]),
      metadata: [{ key: 'k', value: 'v' }],
    }).finish();
    return encodeFrame(odd(), MessageType.Request, 0, request);
  }
  if (roll < 0.8) {
    return encodeFrame((u32() & ~1) >>> 0, MessageType.Request, 0, randomBytes(rand, 50));
  }
  if (roll < 0.9) {
    return encodeFrame(odd(), MessageType.Data, Math.floor(rand() * 8), randomBytes(rand, 50));
  }
  // A zero-length body of any type.
  return encodeFrame(u32(), Math.floor(rand() * 4), 0, Buffer.alloc(0));
}

/** Random bytes where a frame should be: the framing is lost for the rest of the connection. */
function garbage(rand: () => number): Buffer {
  return randomBytes(rand, 64);
}

function oversizeHeader(length: number, streamId: number): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt32BE(length, 0);
  header.writeUInt32BE(streamId, 4);
  header.writeUInt8(MessageType.Request, 8);
  return header;
}

function write(socket: net.Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(bytes, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}

void test('a burst of junk on several connections leaves a well-behaved connection untouched', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => {
    unhandled.push(err);
  };
  process.on('unhandledRejection', onUnhandled);
  const dir = tempDir();
  const path = join(dir.path, 'junk.sock');
  const serverErrors: unknown[] = [];
  const server = new Server({ onError: (err) => serverErrors.push(err) });
  const hang: Handler = (_payload, ctx) =>
    new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        reject(ctx.signal.reason as Error);
      });
    });
  server.register('test.Svc', {
    Echo: (payload) => Promise.resolve(payload),
    Hang: hang,
    Throw: () => Promise.reject(new Error('thrown')),
  });

  const baseline = openFds();
  await server.listen(path);
  const good = await Client.connect(path);
  const withGood = openFds();
  const rand = prng(0xc0ffee);

  // The well-behaved peer: waves of concurrent calls for as long as the junk keeps coming.
  const progress = { junkDone: false };
  let goodCalls = 0;
  const goodLoop = (async () => {
    const goodRand = prng(7);
    while (!progress.junkDone || goodCalls < 500) {
      const wave = Array.from({ length: 20 }, () => randomBytes(goodRand, 2000));
      const replies = await Promise.all(wave.map((p) => good.call('test.Svc', 'Echo', p)));
      replies.forEach((reply, i) => {
        assert.deepEqual(Buffer.from(reply), wave[i]);
      });
      goodCalls += wave.length;
    }
  })();

  let framesSent = 0;
  let responsesSeen = 0;
  const junk = Array.from({ length: JUNK_CONNECTIONS }, async (_, index) => {
    const socket = await connectRaw(path);
    // Whatever the server answers must be well-formed Response frames.
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        assert.equal(frame.kind, 'frame');
        assert.equal(frame.type, MessageType.Response);
        assert.equal(frame.flags, 0);
        ttrpc.Response.decode(frame.data);
        responsesSeen++;
      }
    });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    const ending = index % 3;
    for (let i = 0; i < FRAMES_PER_CONNECTION; i++) {
      let frame = index === GARBAGE_CONNECTION ? garbage(rand) : junkFrame(rand);
      // Half the connections carry one complete oversize frame in the middle.
      if (i === FRAMES_PER_CONNECTION / 2 && index % 2 === 0) {
        const length = MAX_MESSAGE_LENGTH + 1 + index;
        frame = Buffer.concat([oversizeHeader(length, 1), Buffer.alloc(length, 0x0a)]);
      }
      const last = i === FRAMES_PER_CONNECTION - 1;
      if (last && ending === 0) frame = frame.subarray(0, Math.floor(rand() * frame.length));
      if (last && ending === 2) {
        // An oversize frame cut off in its body (the length may be anything up to 4 GiB).
        const length =
          MAX_MESSAGE_LENGTH + 1 + Math.floor(rand() * (0xffffffff - MAX_MESSAGE_LENGTH));
        frame = Buffer.concat([oversizeHeader(length, 3), randomBytes(rand, 1000)]);
      }
      await write(socket, frame);
      framesSent++;
    }
    if (ending === 1) socket.end();
    else socket.destroy();
    await closed;
  });
  await Promise.all(junk);
  progress.junkDone = true;
  await goodLoop;

  assert.equal(framesSent, JUNK_CONNECTIONS * FRAMES_PER_CONNECTION);
  // Every framed junk Request, even id or oversize frame is answered; only other types are not.
  assert.ok(
    responsesSeen > (JUNK_CONNECTIONS - 1) * FRAMES_PER_CONNECTION * 0.5,
    `${responsesSeen}`,
  );
  assert.ok(goodCalls >= 500);
  assert.ok(await eventually(() => server.connectionCount === 1), 'junk connections linger');

  // The server still answers, on the old connection and on a new one.
  assert.deepEqual(
    Buffer.from(await good.call('test.Svc', 'Echo', Buffer.from('a'))),
    Buffer.from('a'),
  );
  const fresh = await Client.connect(path);
  assert.deepEqual(
    Buffer.from(await fresh.call('test.Svc', 'Echo', Buffer.from('b'))),
    Buffer.from('b'),
  );
  fresh.close();
  assert.equal(await fdsBackTo(withGood), withGood);

  good.close();
  await server.close();
  assert.equal(await fdsBackTo(baseline), baseline);
  dir.remove();
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);
  assert.deepEqual(serverErrors, []);
});
