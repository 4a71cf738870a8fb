import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FrameDecoder,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  decodeHeader,
  encodeFrame,
  type DecodedFrame,
} from '../../../src/ttrpc/index.js';
import { prng } from './helpers.js';

interface Spec {
  streamId: number;
  type: number;
  flags: number;
  data: Buffer;
}

function frame(spec: Spec): Buffer {
  return encodeFrame(spec.streamId, spec.type, spec.flags, spec.data);
}

function expected(specs: Spec[]): DecodedFrame[] {
  return specs.map((s) => ({ kind: 'frame', ...s }));
}

/** Compares decoded frames with plain Buffers, whatever view type the decoder handed out. */
function normalize(frames: DecodedFrame[]): unknown[] {
  return frames.map((f) => (f.kind === 'frame' ? { ...f, data: Buffer.from(f.data) } : f));
}

const SPECS: Spec[] = [
  { streamId: 1, type: MessageType.Request, flags: 0, data: Buffer.from('hello, ttrpc') },
  { streamId: 3, type: MessageType.Response, flags: 0, data: Buffer.alloc(0) },
  { streamId: 0xfffffffd, type: 0xff, flags: 0x05, data: Buffer.from([0, 1, 2, 255]) },
  { streamId: 7, type: MessageType.Data, flags: 1, data: Buffer.alloc(300, 0xab) },
];

void test('header round-trips big-endian fields', () => {
  const bytes = encodeFrame(0x01020304, 2, 0x81, Buffer.from('xy'));
  assert.equal(bytes.toString('hex'), '00000002010203040281' + '7879');
  assert.deepEqual(decodeHeader(bytes), { length: 2, streamId: 0x01020304, type: 2, flags: 0x81 });
});

void test('every split point of a multi-frame buffer yields the same frames', () => {
  const whole = Buffer.concat(SPECS.map(frame));
  for (let i = 0; i <= whole.length; i++) {
    const d = new FrameDecoder();
    const out = [...d.push(whole.subarray(0, i)), ...d.push(whole.subarray(i))];
    assert.deepEqual(normalize(out), expected(SPECS), `split at ${i}`);
    assert.equal(d.idle, true);
  }
});

void test('every pair of split points inside the first frames yields the same frames', () => {
  const specs = SPECS.slice(0, 3);
  const whole = Buffer.concat(specs.map(frame));
  for (let i = 0; i <= whole.length; i++) {
    for (let j = i; j <= whole.length; j++) {
      const d = new FrameDecoder();
      const out = [
        ...d.push(whole.subarray(0, i)),
        ...d.push(whole.subarray(i, j)),
        ...d.push(whole.subarray(j)),
      ];
      assert.deepEqual(normalize(out), expected(specs), `split at ${i},${j}`);
    }
  }
});

void test('random frames in random chunks (seeded) decode exactly', () => {
  const rand = prng(0x7e57);
  for (let round = 0; round < 300; round++) {
    const specs: Spec[] = [];
    const count = 1 + Math.floor(rand() * 12);
    for (let k = 0; k < count; k++) {
      const size = rand() < 0.1 ? 0 : Math.floor(rand() * (rand() < 0.1 ? 70000 : 200));
      const data = Buffer.alloc(size);
      for (let b = 0; b < size; b++) data[b] = Math.floor(rand() * 256);
      specs.push({
        streamId: Math.floor(rand() * 0x100000000),
        type: Math.floor(rand() * 256),
        flags: Math.floor(rand() * 256),
        data,
      });
    }
    const whole = Buffer.concat(specs.map(frame));
    const d = new FrameDecoder();
    const out: DecodedFrame[] = [];
    for (let off = 0; off < whole.length;) {
      // Includes empty chunks and single bytes, the shapes most likely to break a state machine.
      const n = Math.floor(rand() * (rand() < 0.3 ? 4 : 5000));
      out.push(...d.push(whole.subarray(off, off + n)));
      off += n;
    }
    assert.deepEqual(normalize(out), expected(specs), `round ${round}`);
    assert.equal(d.idle, true);
  }
});

void test('an oversize frame is reported at its header, its body skipped, the next frame intact', () => {
  const d = new FrameDecoder();
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt32BE(MAX_MESSAGE_LENGTH + 1, 0);
  header.writeUInt32BE(5, 4);
  header.writeUInt8(MessageType.Request, 8);
  // Reported before any body byte arrives: the body is never waited for nor buffered.
  assert.deepEqual(d.push(header), [
    {
      kind: 'oversize',
      streamId: 5,
      type: MessageType.Request,
      flags: 0,
      length: MAX_MESSAGE_LENGTH + 1,
    },
  ]);
  assert.equal(d.idle, false);
  const body = Buffer.alloc(MAX_MESSAGE_LENGTH + 1, 0x5a);
  const next = frame({ streamId: 7, type: MessageType.Request, flags: 0, data: Buffer.from('ok') });
  const chunkSize = 65536;
  const out: DecodedFrame[] = [];
  // The last body chunk carries the start of the next frame's header.
  const stream = Buffer.concat([body, next]);
  const cut = body.length + 3;
  for (let off = 0; off < cut; off += chunkSize) {
    out.push(...d.push(stream.subarray(off, Math.min(off + chunkSize, cut))));
  }
  assert.deepEqual(out, []);
  assert.equal(d.idle, false);
  assert.deepEqual(normalize(d.push(stream.subarray(cut))), [
    { kind: 'frame', streamId: 7, type: MessageType.Request, flags: 0, data: Buffer.from('ok') },
  ]);
  assert.equal(d.idle, true);
});

void test('oversize header, skipped body and the next frame all in one chunk', () => {
  const d = new FrameDecoder();
  const length = MAX_MESSAGE_LENGTH + 10;
  const big = Buffer.alloc(HEADER_LENGTH + length);
  big.writeUInt32BE(length, 0);
  big.writeUInt32BE(9, 4);
  big.writeUInt8(MessageType.Data, 8);
  big.writeUInt8(3, 9);
  const next = frame({
    streamId: 11,
    type: MessageType.Response,
    flags: 0,
    data: Buffer.from('z'),
  });
  assert.deepEqual(normalize(d.push(Buffer.concat([big, next]))), [
    { kind: 'oversize', streamId: 9, type: MessageType.Data, flags: 3, length },
    { kind: 'frame', streamId: 11, type: MessageType.Response, flags: 0, data: Buffer.from('z') },
  ]);
});

void test('a body of exactly the limit is a normal frame', () => {
  const d = new FrameDecoder();
  const data = Buffer.alloc(MAX_MESSAGE_LENGTH, 1);
  const out = d.push(frame({ streamId: 1, type: 1, flags: 0, data }));
  assert.equal(out.length, 1);
  const [only] = out;
  assert.ok(only);
  assert.equal(only.kind, 'frame');
  assert.equal(only.data.length, MAX_MESSAGE_LENGTH);
});

test('pending(): the bytes of a frame begun, which another decoder completes', () => {
  const frame = encodeFrame(5, 1, 0, Buffer.from('payload-bytes'));
  for (const cut of [0, 3, 10, 12, frame.length]) {
    const first = new FrameDecoder();
    const done = first.push(frame.subarray(0, cut));
    const rest = frame.subarray(cut);
    const second = new FrameDecoder();
    const frames = [
      ...done,
      ...second.push(Buffer.concat([first.pending() ?? Buffer.alloc(0), rest])),
    ];
    assert.equal(frames.length, 1, `cut at ${String(cut)}`);
    const f = frames[0];
    assert.ok(f?.kind === 'frame' && Buffer.from(f.data).toString() === 'payload-bytes');
  }
});
