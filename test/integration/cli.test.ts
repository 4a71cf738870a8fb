// tsshim end to end with real runc and a busybox rootfs, and no containerd: exit statuses, stdio,
// events, a terminal, detached containers, bad input; and nothing left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { spawn } from 'node-pty';
import { plain } from '../helpers/pty.js';

const TSSHIM = fileURLToPath(new URL('../../../bin/tsshim', import.meta.url));
let work: string;
let rootfs: string;
let stateDir: string;

/** A busybox root filesystem, as the test image has. */
function buildRootfs(dir: string): void {
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root'])
    mkdirSync(join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n');
  for (const applet of applets)
    if (applet && applet !== 'busybox') symlinkSync('busybox', join(dir, 'bin', applet));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
}

/** Our temporary files: generated bundles, FIFO and events directories. */
function ourTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => /^tsshim-(bundle|io|events)-/.test(n));
}

/** Shims whose events socket is one of ours (so not another test's or containerd's). */
function ourShims(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter(
      (l) => (l.includes('/tsshim-events-') || l.includes(`${stateDir}/`)) && !l.includes(' ps '),
    );
}

/** The topic and fields of each line `tsshim events` or `run --events` printed. */
function eventLines(text: string): { topic: string; fields: Record<string, unknown> }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => ({
      topic: l.slice(0, l.indexOf(' ')),
      fields: JSON.parse(l.slice(l.indexOf(' ') + 1)) as Record<string, unknown>,
    }));
}

function zombies(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,ppid,stat,comm'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => / Z/.test(l) && l.trim().split(/\s+/)[1] === String(process.pid));
}

function tsshim(args: string[], input?: string) {
  return execa(TSSHIM, args, {
    reject: false,
    ...(input === undefined ? { stdin: 'ignore' } : { input }),
  });
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'cli-test-'));
  rootfs = join(work, 'rootfs');
  stateDir = join(work, 'state');
  buildRootfs(rootfs);
});

after(() => {
  rmSync(work, { recursive: true, force: true });
});

test('run prints the output and exits with the container status', async () => {
  const r = await tsshim([
    'run',
    '--rootfs',
    rootfs,
    '--',
    'sh',
    '-c',
    'echo hi; echo oops >&2; exit 3',
  ]);
  assert.equal(r.stdout, 'hi');
  assert.equal(r.stderr, 'oops');
  assert.equal(r.exitCode, 3);
});

test('stdin reaches the container, and its end too', async () => {
  const r = await tsshim(['run', '--rootfs', rootfs, '--', 'sh', '-c', 'cat; echo done'], 'abc\n');
  assert.equal(r.stdout, 'abc\ndone');
  assert.equal(r.exitCode, 0);
});

test('--events prints the task events in order', async () => {
  const r = await tsshim(['run', '--events', '--rootfs', rootfs, '--id', 'ev1', '--', 'true']);
  assert.equal(r.exitCode, 0);
  const lines = eventLines(r.stderr);
  assert.deepEqual(
    lines.map((e) => e.topic),
    ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'],
  );
  assert.equal(lines[2]?.fields['id'], 'ev1');
});

test('SIGTERM to tsshim is sent on to the container', async () => {
  const child = execa(
    TSSHIM,
    [
      'run',
      '--rootfs',
      rootfs,
      '--',
      'sh',
      '-c',
      'trap "exit 7" TERM; echo ready; sleep 1000 & wait',
    ],
    { reject: false, stdin: 'ignore' },
  );
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
  });
  child.kill('SIGTERM');
  const r = await child;
  assert.equal(r.exitCode, 7);
});

test('a terminal session: input, output and the exit status', async () => {
  const term = spawn(TSSHIM, ['run', '-t', '--rootfs', rootfs, '--', 'sh'], {
    name: 'xterm',
    cols: 80,
    rows: 24,
    env: process.env,
  });
  let screen = '';
  const seen = (re: RegExp) =>
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (re.test(plain(screen))) {
          sub.dispose();
          resolve();
        }
      };
      const sub = term.onData((d) => {
        screen += d;
        check();
      });
      check();
    });
  const exited = new Promise<number>((resolve) =>
    term.onExit(({ exitCode }) => {
      resolve(exitCode);
    }),
  );
  await seen(/# $/m);
  term.write('echo $((6*7))\r');
  await seen(/^42$/m);
  term.write('exit 5\r');
  assert.equal(await exited, 5);
});

test('run -d, then events, state, ps, exec, kill and delete', async () => {
  const opts = ['--state-dir', stateDir];
  const started = await tsshim([
    'run',
    '-d',
    ...opts,
    '--id',
    'd1',
    '--rootfs',
    rootfs,
    '--',
    'sleep',
    '1000',
  ]);
  assert.equal(started.exitCode, 0, started.stderr);
  assert.equal(started.stdout, 'd1');
  const address = readFileSync(join(stateDir, 'default/d1/address'), 'utf8');
  assert.match(address, /^unix:\/\//);
  // The events from here on, and the create and start the shim held while nobody listened.
  const events = execa(TSSHIM, ['events', ...opts, 'd1'], { reject: false, stdin: 'ignore' });
  await new Promise((resolve) => events.stdout.once('data', resolve));
  const second = await tsshim(['events', ...opts, 'd1']);
  assert.notEqual(second.exitCode, 0);
  assert.match(second.stderr, /^tsshim: the events of d1 are being read already/);

  const state = await tsshim(['state', ...opts, 'd1']);
  const s = JSON.parse(state.stdout) as { status: string; pid: number };
  assert.equal(s.status, 'running');
  const ps = await tsshim(['ps', ...opts, 'd1']);
  assert.ok(ps.stdout.split('\n').includes(String(s.pid)));

  const ex = await tsshim([
    'exec',
    ...opts,
    'd1',
    '--',
    'sh',
    '-c',
    'echo in; echo err >&2; exit 4',
  ]);
  assert.deepEqual([ex.stdout, ex.stderr, ex.exitCode], ['in', 'err', 4]);
  const cat = await tsshim(['exec', ...opts, 'd1', '--', 'cat'], 'piped\n');
  assert.deepEqual([cat.stdout, cat.exitCode], ['piped', 0]);

  assert.equal((await tsshim(['kill', ...opts, 'd1', 'KILL'])).exitCode, 0);
  for (;;) {
    const st = JSON.parse((await tsshim(['state', ...opts, 'd1'])).stdout) as { status: string };
    if (st.status === 'stopped') break;
  }
  const del = await tsshim(['delete', ...opts, 'd1']);
  assert.equal(del.exitCode, 0, del.stderr);
  assert.deepEqual(readdirSync(join(stateDir, 'default')), []);
  // `events` ends by itself after the container's delete, and takes its socket with it.
  const seen = await events;
  assert.deepEqual(readdirSync(join(stateDir, 'events')), []);
  assert.equal(seen.exitCode, 0, seen.stderr);
  const lines = eventLines(seen.stdout);
  const topics = lines.map((e) => e.topic);
  assert.deepEqual(topics.slice(0, 2), ['/tasks/create', '/tasks/start']);
  assert.equal(topics.at(-1), '/tasks/delete');
  assert.equal(topics.filter((t) => t === '/tasks/exec-added').length, 2);
  const initExit = lines.find((e) => e.topic === '/tasks/exit' && e.fields['id'] === 'd1');
  assert.equal(initExit?.fields['exit_status'], 137);
  const gone = await tsshim(['state', ...opts, 'd1']);
  assert.notEqual(gone.exitCode, 0);
});

test('bad input: one line on stderr and a non-zero exit, no stack trace', async () => {
  const badBundle = join(work, 'bad-bundle');
  mkdirSync(badBundle);
  writeFileSync(join(badBundle, 'config.json'), '{not json');
  const unreachable = join(stateDir, 'default/u1');
  mkdirSync(unreachable, { recursive: true });
  writeFileSync(join(unreachable, 'address'), `unix://${join(work, 'no.sock')}\n`);
  const cases = [
    ['frobnicate'],
    ['run', '--bundle', join(work, 'missing')],
    ['run', '--bundle', badBundle],
    ['state', '--state-dir', stateDir, 'u1'],
    ['run', '--rootfs', rootfs, '--', '/no/such/binary'],
  ];
  for (const args of cases) {
    const r = await tsshim(args);
    assert.notEqual(r.exitCode, 0, args.join(' '));
    assert.match(r.stderr, /^tsshim: [^\n]+$/, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('nothing is left behind: no shim, no zombie, no mount, no temporary file', () => {
  assert.deepEqual(ourShims(), []);
  assert.deepEqual(zombies(), []);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes('/tsshim-bundle-'));
  assert.ok(!mounts.includes(rootfs));
  assert.deepEqual(ourTempDirs(), []);
});
