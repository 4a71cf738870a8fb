// containerd 2.3's start protocol on the exact bytes: messages built field by field from the
// published field numbers (not with our generated code), as containerd 2.3 would send them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs/minimal.js';
import {
  RUNC_OPTIONS,
  bootstrapParams,
  readBootstrapResult,
  runcOptionsAny as optionsAny,
} from '../../helpers/bootstrap-wire.js';
import { formatStartOutput, parseStartInput } from '../../../src/shim/bootstrap.js';

test('a negative log level is a 10-byte varint on the wire', () => {
  const bytes = bootstrapParams({ logLevel: -4 });
  const at = bytes.indexOf(3 << 3);
  assert.deepEqual(
    [...bytes.subarray(at + 1, at + 11)],
    [0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
  );
});

test('BootstrapParams: options from the first extension, socket_dir, DEBUG log level', () => {
  const any = optionsAny('/shim-group');
  const input = parseStartInput(
    Buffer.from(bootstrapParams({ logLevel: -4, socketDir: '/run/c2/s', any })),
    'c1',
    'k8s.io',
  );
  assert.equal(input.bootstrap, true);
  assert.equal(input.socketDir, '/run/c2/s');
  assert.equal(input.debug, true);
  assert.ok(input.options);
  assert.equal(input.options.type_url, RUNC_OPTIONS);
  assert.deepEqual(
    Buffer.from(input.options.value ?? []),
    Buffer.from(any.subarray(any.length - 13)),
  );
});

test('BootstrapParams: TRACE is debug too; INFO, WARN and ERROR are not; no extension means no options', () => {
  const level = (l: number) =>
    parseStartInput(Buffer.from(bootstrapParams({ logLevel: l })), 'c1', 'k8s.io');
  assert.equal(level(-8).debug, true);
  for (const l of [0, 4, 8, 10, 12]) assert.equal(level(l).debug, false);
  assert.equal(level(0).options, undefined);
  assert.equal(level(0).socketDir, undefined);
});

test('only fields 1 and 2 matching -id and -namespace still read as BootstrapParams', () => {
  const w = protobuf.Writer.create()
    .uint32((1 << 3) | 2)
    .string('c1')
    .uint32((2 << 3) | 2)
    .string('k8s.io');
  assert.equal(parseStartInput(Buffer.from(w.finish()), 'c1', 'k8s.io').bootstrap, true);
});

test('1.6-2.2: a bare Any is the options; empty stdin is none; both answer the plain address', () => {
  const any = optionsAny('/g');
  const input = parseStartInput(Buffer.from(any), 'c1', 'k8s.io');
  assert.equal(input.bootstrap, false);
  assert.equal(input.options?.type_url, RUNC_OPTIONS);
  assert.equal(
    Buffer.from(formatStartOutput('unix:///run/containerd/s/ab', input)).toString(),
    'unix:///run/containerd/s/ab',
  );
  const none = parseStartInput(Buffer.alloc(0), 'c1', 'k8s.io');
  assert.deepEqual(none, { debug: false, bootstrap: false });
});

test('2.3 gets a BootstrapResult{1: version 2, 2: address, 3: "ttrpc"}, read field by field', () => {
  const input = parseStartInput(Buffer.from(bootstrapParams({ logLevel: 0 })), 'c1', 'k8s.io');
  const out = formatStartOutput('unix:///run/c2/s/ab', input);
  assert.deepEqual(readBootstrapResult(out), { 1: 2, 2: 'unix:///run/c2/s/ab', 3: 'ttrpc' });
});
