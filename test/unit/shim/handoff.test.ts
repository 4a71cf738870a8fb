import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WireError,
  decodeRequestBody,
  encodeAnswer,
  encodeRequest,
  requestBodyLength,
} from '../../../src/shim/handoff/wire.js';
import { coldLockPath, fnv1a64, warmSocketPath } from '../../../src/shim/handoff/warm-socket.js';
import { relayPolicy } from '../../../src/shim/handoff/warm.js';
import { GROUPING_ANNOTATION, groupKey, parseGrouping } from '../../../src/shim/grouping.js';
import { ShimError } from '../../../src/base/errors.js';

const request = { argv: ['shim', '-address', '/c.sock', 'start'], env: ['A=1', 'B=é'], cwd: '/b' };

test('a relay request round-trips byte for byte, as the launcher packs it', () => {
  const frame = encodeRequest(request);
  assert.equal(frame.subarray(0, 4).toString(), 'TSR1');
  assert.equal(requestBodyLength(frame.subarray(0, 8)), frame.length - 8);
  assert.deepEqual(decodeRequestBody(frame.subarray(8)), request);
  // u32 argc = 4, then u32 length 4 + "shim": little-endian, as launcher.c writes it.
  assert.deepEqual([...frame.subarray(8, 20)], [4, 0, 0, 0, 4, 0, 0, 0, 115, 104, 105, 109]);
});

test('malformed requests are refused with a reason', () => {
  assert.throws(() => requestBodyLength(Buffer.from('GET / HT')), /bad magic/);
  const huge = Buffer.alloc(8);
  huge.write('TSR1');
  huge.writeUInt32LE(2 << 20, 4);
  assert.throws(() => requestBodyLength(huge), /exceeds/);
  const body = encodeRequest(request).subarray(8);
  assert.throws(() => decodeRequestBody(body.subarray(0, body.length - 1)), WireError);
  assert.throws(() => decodeRequestBody(Buffer.concat([body, Buffer.from([0])])), /trailing/);
  const manyEntries = Buffer.alloc(4);
  manyEntries.writeUInt32LE(0xffffffff);
  assert.throws(() => decodeRequestBody(manyEntries), /entries/);
  assert.throws(
    () => decodeRequestBody(encodeRequest({ argv: [], env: [], cwd: '' }).subarray(8)),
    /without argv/,
  );
});

test('an answer carries the exit code, stdout and stderr', () => {
  const a = encodeAnswer(3, Buffer.from('out'), 'err');
  assert.equal(a.subarray(0, 1).toString(), 'R');
  assert.equal(a.readUInt32LE(1), 3);
  assert.equal(a.readUInt32LE(5), 3);
  assert.equal(a.subarray(9, 12).toString(), 'out');
  assert.equal(a.readUInt32LE(12), 3);
  assert.equal(a.subarray(16).toString(), 'err');
});

test('the warm socket is keyed by FNV-1a 64 of the address and by the build', () => {
  assert.equal(fnv1a64(''), 'cbf29ce484222325');
  assert.equal(fnv1a64('a'), 'af63dc4c8601ec8c');
  assert.equal(
    warmSocketPath('/run/containerd/containerd.sock', '/d', 'b1'),
    `/d/${fnv1a64('/run/containerd/containerd.sock')}-b1.sock`,
  );
  assert.equal(
    coldLockPath('/run/containerd/containerd.sock', '/d', 'b1'),
    `/d/${fnv1a64('/run/containerd/containerd.sock')}-b1.lock`,
  );
  assert.notEqual(warmSocketPath('/a.sock', '/d', 'b1'), warmSocketPath('/b.sock', '/d', 'b1'));
  assert.notEqual(warmSocketPath('/a.sock', '/d', 'b1'), warmSocketPath('/a.sock', '/d', 'b2'));
});

test('the warm process serves root and its own uid, for its own containerd only', () => {
  const policy = relayPolicy('/c.sock', 1000);
  const peer = (uid: number) => ({ pid: 1, uid, gid: 0 });
  assert.equal(policy.refuse(peer(0), request), undefined);
  assert.equal(policy.refuse(peer(1000), request), undefined);
  assert.match(policy.refuse(peer(65534), request) ?? '', /uid 65534 is not allowed/);
  const other = { ...request, argv: ['shim', '-address', '/other.sock', 'delete'] };
  assert.match(
    policy.refuse(peer(0), other) ?? '',
    /serves containerd \/c\.sock, not \/other\.sock/,
  );
});

test('grouping: values, keys per mode, and clear errors', () => {
  assert.equal(parseGrouping('', 'x'), undefined);
  assert.equal(parseGrouping('Namespace', 'x'), 'namespace');
  assert.throws(
    () => parseGrouping('cluster', `annotation ${GROUPING_ANNOTATION}`),
    (err: unknown) => {
      assert.ok(err instanceof ShimError);
      assert.match(
        err.message,
        /invalid annotation .* "cluster": want one of container, pod, namespace/,
      );
      return true;
    },
  );
  const cri = { 'io.kubernetes.cri.sandbox-id': 'sb1' };
  assert.equal(groupKey('pod', cri, 'c1', 'k8s.io'), 'sb1');
  assert.equal(groupKey('pod', {}, 'c1', 'k8s.io'), 'c1');
  assert.equal(groupKey('container', cri, 'c1', 'k8s.io'), 'c1');
  assert.equal(groupKey('namespace', cri, 'c1', 'k8s.io'), 'namespace:k8s.io');
});
