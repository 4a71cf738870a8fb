import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpec, writeBundle } from '../../../src/cli/spec.js';
import { main } from '../../../src/cli/main.js';
import { parseSignal } from '../../../src/cli/ops.js';

test('the default spec runs the command as root in / with the usual namespaces and mounts', () => {
  const spec = defaultSpec({ rootfs: 'rfs', args: ['sh', '-c', 'true'], terminal: true }) as {
    process: { args: string[]; terminal: boolean; user: object; cwd: string; env: string[] };
    root: { path: string; readonly: boolean };
    mounts: { destination: string }[];
    linux: { namespaces: { type: string }[]; cgroupsPath?: string };
  };
  assert.deepEqual(spec.process.args, ['sh', '-c', 'true']);
  assert.equal(spec.process.terminal, true);
  assert.deepEqual(spec.process.user, { uid: 0, gid: 0 });
  assert.equal(spec.process.cwd, '/');
  assert.ok(spec.process.env.some((e) => e.startsWith('PATH=')));
  assert.equal(spec.root.path, join(process.cwd(), 'rfs'));
  assert.equal(spec.root.readonly, false);
  assert.deepEqual(
    spec.mounts.map((m) => m.destination),
    ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys'],
  );
  assert.deepEqual(spec.linux.namespaces.map((n) => n.type).sort(), [
    'ipc',
    'mount',
    'network',
    'pid',
    'uts',
  ]);
  assert.equal(spec.linux.cgroupsPath, undefined);
});

test('without a terminal the spec says so and sets no TERM', () => {
  const spec = defaultSpec({ rootfs: '/r', args: ['true'], terminal: false }) as {
    process: { terminal: boolean; env: string[] };
  };
  assert.equal(spec.process.terminal, false);
  assert.ok(!spec.process.env.some((e) => e.startsWith('TERM=')));
});

test('the spec needs a command', () => {
  assert.throws(() => defaultSpec({ rootfs: '/r', args: [], terminal: false }), /command/);
});

test('writeBundle writes config.json into a fresh directory', () => {
  const parent = mkdtempSync(join(tmpdir(), 'spec-test-'));
  try {
    const a = writeBundle({ rootfs: '/r', args: ['true'], terminal: false }, parent);
    const b = writeBundle({ rootfs: '/r', args: ['true'], terminal: false }, parent);
    assert.notEqual(a, b);
    const spec = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')) as { ociVersion: string };
    assert.equal(typeof spec.ociVersion, 'string');
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('signals by name or number', () => {
  assert.equal(parseSignal('9'), 9);
  assert.equal(parseSignal('KILL'), 9);
  assert.equal(parseSignal('sigterm'), 15);
  assert.throws(() => parseSignal('BOGUS'), /unknown signal BOGUS/);
});

/** Runs main() with stderr captured. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = (chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  };
  try {
    return { code: await main(args), stderr };
  } finally {
    process.stderr.write = write;
  }
}

for (const [name, args, message] of [
  ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
  ['an unknown option', ['run', '--frob'], /unknown option '--frob'/],
  ['neither --bundle nor --rootfs', ['run', '--', 'true'], /--bundle DIR or --rootfs DIR/],
  ['both --bundle and --rootfs', ['run', '--bundle', '/b', '--rootfs', '/r'], /one of/],
  ['a missing bundle', ['run', '--bundle', '/nonexistent-bundle'], /no bundle at/],
  ['--rootfs without a command', ['run', '--rootfs', '/'], /needs a command/],
  ['a missing state id', ['state', '--state-dir', '/nonexistent-state', 'x'], /no container "x"/],
  ['a missing id', ['kill'], /missing required argument 'id'/],
] as const) {
  test(`${name}: one line on stderr and a non-zero exit`, async () => {
    const { code, stderr } = await cli([...args]);
    assert.notEqual(code, 0);
    assert.match(stderr, /^tsshim: .+\n$/);
    assert.match(stderr, message);
  });
}
