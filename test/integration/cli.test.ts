// The operator CLI's daemonless `run`: our shim started as containerd would start it, driven over
// ttrpc by the client library, with real runc and a busybox rootfs, and no containerd at all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildBusyboxRootfs } from '../helpers/image.js';
import { REPO } from '../helpers/containerd.js';
import { inTerminal } from '../helpers/pty.js';
import { mountsUnder, processesMatching } from '../helpers/leaks.js';

const TSSHIM = join(REPO, 'bin/tsshim');
let dir = '';
let rootfs = '';
let state = '';

before(async () => {
  dir = mkdtempSync('/tmp/tsshim-cli-');
  rootfs = join(dir, 'rootfs');
  state = join(dir, 'state');
  await buildBusyboxRootfs(rootfs);
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tsshim(args: string[], input?: string) {
  return execa(TSSHIM, args, { reject: false, ...(input !== undefined ? { input } : {}) });
}

/** Nothing of a run is left: no shim for `id`, no state, no mounts. */
function assertGone(id: string): void {
  assert.deepEqual(processesMatching(`-id ${id} `), [], 'no shim left');
  assert.deepEqual(existsSync(state) ? readdirSync(state) : [], [], 'no state left');
  assert.deepEqual(mountsUnder(rootfs), []);
}

test('run prints the output, exits with the status, and events arrive', async () => {
  const id = 'cli-run';
  const r = await tsshim([
    'run',
    '--rootfs',
    rootfs,
    '--id',
    id,
    '--state-dir',
    state,
    '--events',
    '--',
    'sh',
    '-c',
    'echo hi; echo oops >&2; exit 3',
  ]);
  assert.equal(r.exitCode, 3, r.stderr);
  assert.equal(r.stdout, 'hi');
  const lines = r.stderr.split('\n');
  assert.ok(lines.includes('oops'), r.stderr);
  const topics = lines.filter((l) => l.startsWith('/tasks/')).map((l) => l.split(' ')[0]);
  assert.deepEqual(topics, ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
  const exit = lines.find((l) => l.startsWith('/tasks/exit ')) ?? '';
  assert.match(exit, /"exit_status":3/);
  assertGone(id);
});

test('run -i feeds our stdin to the container', async () => {
  const id = 'cli-stdin';
  const args = ['run', '-i', '--rootfs', rootfs, '--id', id, '--state-dir', state, '--', 'cat'];
  const r = await tsshim(args, 'abc\ndef\n');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout, 'abc\ndef');
  assertGone(id);
});

test('run -t gives a terminal: typed input, tty output, the exit status', async () => {
  const id = 'cli-tty';
  const term = inTerminal(TSSHIM, [
    'run',
    '-t',
    '--rootfs',
    rootfs,
    '--id',
    id,
    '--state-dir',
    state,
    '--',
    'sh',
  ]);
  try {
    await term.expect(/# $/m);
    term.type('tty; echo $((6*7))\r');
    await term.expect(/^\/dev\/pts\/\d+\n42$/m);
    term.type('exit 5\r');
    assert.equal(await term.exited, 5);
  } finally {
    term.kill();
  }
  assertGone(id);
});

test('bad input: one line, a non-zero exit, never a stack trace', async () => {
  const bundle = join(dir, 'bad-bundle');
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), '{ not json');
  const cases: [string[], RegExp][] = [
    [['launch'], /unknown command 'launch'/],
    [['run', '--bundle', join(dir, 'missing'), '--state-dir', state], /no config\.json in bundle/],
    [['run', '--bundle', bundle, '--state-dir', state], /^tsshim: bad .*config\.json: /],
    [
      ['run', '--rootfs', join(dir, 'nope'), '--state-dir', state, '--', 'true'],
      /is not a directory/,
    ],
    [['run', '--rootfs', rootfs, '--state-dir', state], /needs a command/],
  ];
  for (const [args, message] of cases) {
    const r = await tsshim(args);
    assert.notEqual(r.exitCode, 0, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), message);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  assertGone('');
});
