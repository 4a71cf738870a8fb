// A long-lived shim serving terminal execs must not leak: each exec has a console socket (and its
// temp dir), a pty master, a poll watcher and FIFO ends. After many execs the shim's fd count is
// back at its baseline, it has no zombies, and no pty* temp dir is left behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { fdCount, parentOf, waitFor, zombieChildren } from '../helpers/leaks.js';
import { ctrInTerminal, plain } from '../helpers/pty.js';

let cd: Containerd;
let image: string;
// A private XDG_RUNTIME_DIR: the shim puts its console sockets there, and only there.
const runtimeDir = mkdtempSync('/tmp/xdg-');

before(async () => {
  cd = await startContainerd({ env: { XDG_RUNTIME_DIR: runtimeDir } });
  image = await ensureBusyboxImage(cd);
});

after(async () => {
  await cd.stop();
  rmSync(runtimeDir, { recursive: true, force: true });
});

const ptyDirs = (): string[] => readdirSync(runtimeDir).filter((n) => n.startsWith('pty'));

async function terminalExec(id: string, execId: string, script: string) {
  const term = ctrInTerminal(cd, [
    'task',
    'exec',
    '-t',
    '--exec-id',
    execId,
    id,
    'sh',
    '-c',
    script,
  ]);
  try {
    const code = await term.exited;
    return { code, output: plain(term.output) };
  } finally {
    term.kill();
  }
}

test('10 terminal execs leave no fds, zombies or console socket dirs behind', async () => {
  const id = `tty-leak-${process.pid}`;
  const run = await cd.ctr([
    'run',
    '-d',
    '--runtime',
    'io.containerd.tsshim.v2',
    image,
    id,
    'sleep',
    '1000',
  ]);
  assert.equal(run.exitCode, 0, run.stderr);
  let initPid = 0;
  await waitFor(async () => {
    const line = (await cd.ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(id));
    initPid = Number(line?.split(/\s+/)[1] ?? 0);
    return line?.includes('RUNNING') ?? false;
  }, 10000);
  const shimPid = parentOf(initPid);
  // The check below is only meaningful if the shim sees the private runtime dir.
  assert.ok(
    readFileSync(`/proc/${shimPid}/environ`, 'utf8')
      .split('\0')
      .includes(`XDG_RUNTIME_DIR=${runtimeDir}`),
  );
  // One terminal exec first, so lazily created state is in the baseline.
  assert.equal((await terminalExec(id, 'warm', 'true')).code, 0);
  const baseline = fdCount(shimPid);
  for (let i = 0; i < 10; i++) {
    const r = await terminalExec(id, `t${i}`, `echo out${i}; exit ${i % 3}`);
    assert.equal(r.code, i % 3);
    assert.match(r.output, new RegExp(`^out${i}$`, 'm'));
  }
  // And one interactive session, so both copy directions and a resize are exercised.
  const term = ctrInTerminal(cd, ['task', 'exec', '-t', '--exec-id', 'talk', id, 'sh']);
  try {
    await term.expect(/\/ # $/);
    term.resize(91, 19);
    term.type('echo typed-$((6*7))\r');
    await term.expect(/^typed-42$/m);
    term.type('exit 7\r');
    assert.equal(await term.exited, 7);
  } finally {
    term.kill();
  }
  await waitFor(() => fdCount(shimPid) === baseline, 5000).catch(() => undefined);
  assert.equal(fdCount(shimPid), baseline, 'shim fd count after the terminal execs');
  assert.equal(zombieChildren(shimPid), 0);
  assert.deepEqual(ptyDirs(), [], 'console socket dirs left behind');
  await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
  await waitFor(async () => (await cd.ctr(['task', 'ls'])).stdout.includes('STOPPED'), 10000);
  await cd.ctr(['task', 'delete', id], { reject: false });
  await cd.ctr(['container', 'delete', id]);
});
