import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerd, runtimeoptions } from '../../../src/gen/options.js';
import { ShimError } from '../../../src/base/errors.js';
import {
  decodeCheckpointOptions,
  decodeRuntimeOptions,
  optionsFromToml,
} from '../../../src/task/options.js';
import {
  DEFAULT_CHECKPOINT_OPTIONS,
  DEFAULT_RUNTIME_OPTIONS,
} from '../../../src/process/options.js';

const any = (type_url: string, value: Uint8Array) => ({ type_url, value });

test('absent, empty and unknown runtime options mean defaults', () => {
  assert.deepEqual(decodeRuntimeOptions(undefined), DEFAULT_RUNTIME_OPTIONS);
  assert.deepEqual(decodeRuntimeOptions({}), DEFAULT_RUNTIME_OPTIONS);
  assert.deepEqual(decodeRuntimeOptions(any('', new Uint8Array())), DEFAULT_RUNTIME_OPTIONS);
  assert.deepEqual(
    decodeRuntimeOptions(any('io.example.Unknown', new Uint8Array([8, 1]))),
    DEFAULT_RUNTIME_OPTIONS,
  );
});

test('containerd.runc.v1.Options: every field', () => {
  const value = containerd.runc.v1.Options.encode({
    no_pivot_root: true,
    no_new_keyring: true,
    shim_cgroup: '/shim',
    io_uid: 1000,
    io_gid: 1001,
    binary_name: '/opt/runc',
    root: '/run/r',
    criu_path: '/opt/criu',
    systemd_cgroup: true,
    criu_image_path: '/img',
    criu_work_path: '/work',
  }).finish();
  const expected = {
    noPivotRoot: true,
    noNewKeyring: true,
    shimCgroup: '/shim',
    ioUid: 1000,
    ioGid: 1001,
    binaryName: '/opt/runc',
    root: '/run/r',
    criuPath: '/opt/criu',
    systemdCgroup: true,
    criuImagePath: '/img',
    criuWorkPath: '/work',
    grouping: '',
  };
  assert.deepEqual(decodeRuntimeOptions(any('containerd.runc.v1.Options', value)), expected);
  // The type.googleapis.com/ prefix is tolerated.
  assert.deepEqual(
    decodeRuntimeOptions(any('type.googleapis.com/containerd.runc.v1.Options', value)),
    expected,
  );
});

test('containerd.linux.runc.CreateOptions maps onto the runc options', () => {
  const value = containerd.linux.runc.CreateOptions.encode({
    no_pivot_root: true,
    open_tcp: true,
    no_new_keyring: true,
    shim_cgroup: '/s',
    io_uid: 7,
    io_gid: 8,
    criu_work_path: '/w',
    criu_image_path: '/i',
  }).finish();
  assert.deepEqual(decodeRuntimeOptions(any('containerd.linux.runc.CreateOptions', value)), {
    ...DEFAULT_RUNTIME_OPTIONS,
    noPivotRoot: true,
    noNewKeyring: true,
    shimCgroup: '/s',
    ioUid: 7,
    ioGid: 8,
    criuWorkPath: '/w',
    criuImagePath: '/i',
  });
});

test('containerd.linux.runc.RuncOptions maps runtime/root/criu/systemd', () => {
  const value = containerd.linux.runc.RuncOptions.encode({
    runtime: 'crun',
    runtime_root: '/run/crun',
    criu_path: '/usr/sbin/criu',
    systemd_cgroup: true,
  }).finish();
  assert.deepEqual(decodeRuntimeOptions(any('containerd.linux.runc.RuncOptions', value)), {
    ...DEFAULT_RUNTIME_OPTIONS,
    binaryName: 'crun',
    root: '/run/crun',
    criuPath: '/usr/sbin/criu',
    systemdCgroup: true,
  });
});

const TOML = `# runc options as CRI and ctr --runtime-config-path carry them
BinaryName = "/opt/wrapper"
systemdcgroup = true
NOPIVOTROOT = true
NoNewKeyring = true
IoUid = 1000
IoGid = 1000
ShimCgroup = "/shim"
Root = "/run/x"
CriuPath = "/c"
CriuImagePath = "/ci"
CriuWorkPath = "/cw"
grouping = "namespace"
TypeUrl = "ignored"
SomethingElse = 3
`;
const TOML_EXPECTED = {
  binaryName: '/opt/wrapper',
  systemdCgroup: true,
  noPivotRoot: true,
  noNewKeyring: true,
  ioUid: 1000,
  ioGid: 1000,
  shimCgroup: '/shim',
  root: '/run/x',
  criuPath: '/c',
  criuImagePath: '/ci',
  criuWorkPath: '/cw',
  grouping: 'namespace',
};

test('runtimeoptions.v1.Options with config_path reads the TOML file (keys ignore case)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opts-'));
  try {
    const path = join(dir, 'runc.toml');
    writeFileSync(path, TOML);
    const value = runtimeoptions.v1.Options.encode({ config_path: path }).finish();
    assert.deepEqual(decodeRuntimeOptions(any('runtimeoptions.v1.Options', value)), TOML_EXPECTED);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runtimeoptions.v1.Options with config_body parses the bytes', () => {
  const value = runtimeoptions.v1.Options.encode({
    type_url: 'io.containerd.tsshim.v2',
    config_body: Buffer.from(TOML),
  }).finish();
  assert.deepEqual(decodeRuntimeOptions(any('runtimeoptions.v1.Options', value)), TOML_EXPECTED);
});

test('runtimeoptions.v1.Options with neither path nor body means defaults', () => {
  const value = runtimeoptions.v1.Options.encode({ type_url: 'x' }).finish();
  assert.deepEqual(
    decodeRuntimeOptions(any('runtimeoptions.v1.Options', value)),
    DEFAULT_RUNTIME_OPTIONS,
  );
});

test('a missing config file or bad TOML is an invalid-argument error naming the source', () => {
  const missing = runtimeoptions.v1.Options.encode({ config_path: '/nonexistent/x.toml' }).finish();
  assert.throws(
    () => decodeRuntimeOptions(any('runtimeoptions.v1.Options', missing)),
    (err: unknown) =>
      err instanceof ShimError &&
      err.kind === 'invalid-argument' &&
      /failed to read runtime config \/nonexistent\/x\.toml/.test(err.message),
  );
  const bad = runtimeoptions.v1.Options.encode({
    config_body: Buffer.from('[options]\nBinaryName = "x"\n'),
  }).finish();
  assert.throws(
    () => decodeRuntimeOptions(any('runtimeoptions.v1.Options', bad)),
    (err: unknown) =>
      err instanceof ShimError &&
      err.kind === 'invalid-argument' &&
      /runtime config config_body: toml: line 1: tables are not supported/.test(err.message),
  );
});

test('TOML values of the wrong type are refused', () => {
  assert.throws(() => optionsFromToml('SystemdCgroup = "true"'), /SystemdCgroup must be a boolean/);
  assert.throws(() => optionsFromToml('BinaryName = 1'), /BinaryName must be a string/);
  assert.throws(() => optionsFromToml('IoUid = -1'), /IoUid must be an integer between 0/);
  assert.throws(() => optionsFromToml('IoGid = 4294967296'), /IoGid must be an integer/);
  assert.throws(() => optionsFromToml('IoGid = true'), /IoGid must be an integer/);
});

test('checkpoint options: absent means defaults', () => {
  assert.deepEqual(decodeCheckpointOptions(undefined), DEFAULT_CHECKPOINT_OPTIONS);
  assert.deepEqual(decodeCheckpointOptions({ type_url: '' }), DEFAULT_CHECKPOINT_OPTIONS);
});

const CHECKPOINT_FIELDS = {
  exit: true,
  open_tcp: true,
  external_unix_sockets: true,
  terminal: true,
  file_locks: true,
  empty_namespaces: ['network', 'ipc'],
  cgroups_mode: 'soft',
  image_path: '/image',
  work_path: '/work',
};
const CHECKPOINT_EXPECTED = {
  exit: true,
  openTcp: true,
  externalUnixSockets: true,
  terminal: true,
  fileLocks: true,
  emptyNamespaces: ['network', 'ipc'],
  cgroupsMode: 'soft',
  imagePath: '/image',
  workPath: '/work',
};

test('containerd.runc.v1.CheckpointOptions: every field (image_path 8, work_path 9)', () => {
  const value = containerd.runc.v1.CheckpointOptions.encode(CHECKPOINT_FIELDS).finish();
  assert.deepEqual(
    decodeCheckpointOptions(any('containerd.runc.v1.CheckpointOptions', value)),
    CHECKPOINT_EXPECTED,
  );
  // Wire check: field 8 carries the image path.
  const only8 = Uint8Array.from([0x42, 2, 0x2f, 0x69]); // field 8, "/i"
  assert.equal(
    decodeCheckpointOptions(any('containerd.runc.v1.CheckpointOptions', only8)).imagePath,
    '/i',
  );
});

test('containerd.linux.runc.CheckpointOptions: 8 and 9 are swapped (work_path 8)', () => {
  const value = containerd.linux.runc.CheckpointOptions.encode(CHECKPOINT_FIELDS).finish();
  assert.deepEqual(
    decodeCheckpointOptions(any('containerd.linux.runc.CheckpointOptions', value)),
    CHECKPOINT_EXPECTED,
  );
  const only8 = Uint8Array.from([0x42, 2, 0x2f, 0x77]); // field 8, "/w"
  const decoded = decodeCheckpointOptions(any('containerd.linux.runc.CheckpointOptions', only8));
  assert.equal(decoded.workPath, '/w');
  assert.equal(decoded.imagePath, '');
});

test('checkpoint options of another type are refused', () => {
  assert.throws(
    () => decodeCheckpointOptions(any('containerd.runc.v1.Options', new Uint8Array())),
    (err: unknown) =>
      err instanceof ShimError &&
      err.kind === 'invalid-argument' &&
      /unsupported checkpoint options type containerd\.runc\.v1\.Options/.test(err.message),
  );
});
