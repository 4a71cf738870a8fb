// Live upgrade: a running daemon takes a newly installed version in place (SIGURG). Two copies
// of this package with different version strings stand for versions A and B; containerd runs the
// shim through a symlink that the test points at one or the other, as an install would replace
// the binary. Checked: same pid, new code (command line, log, `-v`), containers, a running exec
// (with an attached client whose Wait crosses the upgrade), a terminal, exits, stats and delete
// all work under B; exits around the upgrade arrive exactly once; a version that cannot load the
// state refuses and the old one keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { Harness } from '../helpers/differential.js';
import { REPO, startContainerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { commandLine, processesMatching, waitFor } from '../helpers/leaks.js';
import { resizePty } from '../helpers/tasks-api.js';
import { ctrInTerminal, plain, type TerminalSession } from '../helpers/pty.js';

const SHIM = 'containerd-shim-tsshim-v2';
const TSSHIM = join(REPO, 'bin', 'tsshim');
const RUNTIME = 'io.containerd.tsshim.v2';
const GROUPING = 'io.containerd.tsshim.v2.grouping';
// A broken handover tends to hang a client (a Wait nobody answers): fail instead.
const TIMEOUT = { timeout: 240_000 };

const root = mkdtempSync('/tmp/tsshim-live-upgrade-');
const binDir = join(root, 'bin');
const versions = {
  a: installVersion('a', '9.0.0-upgrade-a'),
  b: installVersion('b', '9.0.0-upgrade-b'),
  c: installVersion('c', '9.0.0-upgrade-c'),
  // B' reads a state format this daemon never writes: it must refuse.
  refusing: installVersion('refusing', '9.0.0-upgrade-refusing', 99),
};
type Version = keyof typeof versions;

/** A copy of this package with its own version string and build id (as another release). */
function installVersion(name: string, version: string, stateFormat?: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  cpSync(join(REPO, 'build'), join(dir, 'build'), { recursive: true });
  cpSync(join(REPO, 'bin'), join(dir, 'bin'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as object;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version }));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(REPO, 'native'), join(dir, 'native'));
  const buildId = Buffer.from(name).toString('hex').padEnd(16, '0').slice(0, 16);
  writeFileSync(join(dir, 'build/build-id'), `${buildId}\n`);
  const conf = readFileSync(join(dir, 'build/launcher.conf'), 'utf8')
    .replace(/^build_id=.*$/m, `build_id=${buildId}`)
    .replaceAll(join(REPO, 'build'), join(dir, 'build'));
  writeFileSync(join(dir, 'build/launcher.conf'), conf);
  if (stateFormat !== undefined) {
    // The module, and the bundle's chunk holding it (what the processes run).
    const bundle = join(dir, 'build/src/bundle');
    const files = [
      join(dir, 'build/src/shim/upgrade/state.js'),
      ...readdirSync(bundle).map((name) => join(bundle, name)),
    ];
    const changedFiles = files.filter((file) => {
      const text = readFileSync(file, 'utf8');
      const changed = text.replace(
        /UPGRADE_STATE_FORMAT ?= ?\d+;/,
        `UPGRADE_STATE_FORMAT = ${String(stateFormat)};`,
      );
      if (changed === text) return false;
      writeFileSync(file, changed);
      return true;
    });
    assert.equal(changedFiles.length, 2, 'the module and its bundled copy');
  }
  return version;
}

/** Points the installed binary (what containerd runs) at one version. */
function install(v: Version): void {
  mkdirSync(binDir, { recursive: true });
  const link = join(binDir, SHIM);
  try {
    unlinkSync(link);
  } catch {
    // first install
  }
  symlinkSync(join(root, v, 'bin', SHIM), link);
}

install('a');
const h = new Harness();
before(() => h.setUp({ binDir, env: { TSSHIM_WARM: '0' } }));
after(async () => {
  await h.tearDown();
  rmSync(root, { recursive: true, force: true });
});

/**
 * The daemon serving container `id` (not a transient start/delete invocation); a grouped daemon's
 * command line names whichever of `group` started it.
 */
function daemonOf(id: string, group: string[] = [id]): number {
  const pids = group
    .flatMap((g) => processesMatching(`-id ${g} -address ${h.cd.address}`))
    .filter((pid) => !/ (start|delete)$/.test(commandLine(pid)));
  const described = pids.map((pid) => `${String(pid)}: ${commandLine(pid)}`);
  assert.equal(pids.length, 1, `one daemon for ${id}:\n${described.join('\n')}`);
  return pids[0] ?? 0;
}

/** Lines of ours in containerd's log with `msg`, for the daemon `pid` where the line has one. */
function logLines(msg: string): string[] {
  return h.cd
    .log()
    .split('\n')
    .filter((l) => l.includes(`runtime=${RUNTIME}`) && l.includes(`msg="${msg}"`));
}

/**
 * Asks the daemon to upgrade (SIGURG, or `trigger`), then waits for the outcome in the log (one
 * more line of either kind).
 */
async function upgrade(
  pid: number,
  trigger = (): Promise<void> => {
    process.kill(pid, 'SIGURG');
    return Promise.resolve();
  },
): Promise<'upgraded' | 'refused'> {
  const upgraded = logLines('shim upgraded').length;
  const refused = logLines('upgrade refused').length;
  await trigger();
  let outcome: 'upgraded' | 'refused' | undefined;
  await waitFor(
    () => {
      if (logLines('shim upgraded').length > upgraded) outcome = 'upgraded';
      else if (logLines('upgrade refused').length > refused) outcome = 'refused';
      return outcome !== undefined;
    },
    60000,
    50,
  );
  return outcome ?? 'refused';
}

async function shimVersion(): Promise<string> {
  const r = await execa(join(binDir, SHIM), ['-v'], { reject: false });
  return /Version:\s+(\S+)/.exec(r.stdout)?.[1] ?? r.stdout;
}

/** The shim address containerd recorded for a container (one per daemon). */
function addressOf(id: string): string {
  return readFileSync(
    join(h.cd.state, 'io.containerd.runtime.v2.task', h.cd.namespace, id, 'address'),
    'utf8',
  );
}

/** Types a command into an interactive sh and waits for `want` in what follows. */
async function typeAndSee(term: TerminalSession, command: string, want: RegExp): Promise<void> {
  const from = term.output.length;
  term.type(`${command}\r`);
  await term.expect(want, from, 20000);
}

/** The /tasks/exit events of one process. */
function exitsOf(id: string, processId: string): Record<string, unknown>[] {
  return h.events.events
    .filter(
      (e) =>
        e.topic === '/tasks/exit' &&
        e.payload['container_id'] === id &&
        e.payload['id'] === processId,
    )
    .map((e) => e.payload);
}

test(
  'containers, a running exec and a terminal keep working across A -> B, same pid',
  TIMEOUT,
  async () => {
    install('a');
    const c1 = h.uid('ours', 'up-c1');
    const t1 = h.uid('ours', 'up-t1');
    await h.runDetached('ours', c1, ['sleep', '1000']);
    const detached = ctrInTerminal(h.cd, [
      'run',
      '-d',
      '-t',
      '--runtime',
      RUNTIME,
      h.image,
      t1,
      'sh',
    ]);
    assert.equal(await detached.exited, 0);
    await h.waitStatus(t1, 'RUNNING');
    // An interactive terminal exec under A, typed into under B.
    const term = ctrInTerminal(h.cd, ['task', 'exec', '-t', '--exec-id', 'tty', c1, 'sh']);
    await term.expect(/\/ # $/, 0, 20000);
    const pid = daemonOf(c1);
    const tpid = daemonOf(t1);
    assert.ok(commandLine(pid).includes(join(root, 'a', 'build')), 'A serves before');
    // An exec under A whose client waits (its Wait crosses the upgrade) and whose output comes
    // after it.
    const waiting = h.ctrBackground([
      'task',
      'exec',
      '--exec-id',
      'e1',
      c1,
      'sh',
      '-c',
      'while [ ! -f /tmp/go ]; do sleep 0.1; done; echo after-upgrade; exit 7',
    ]);
    await waitFor(
      () =>
        h.events.events.some(
          (e) => e.topic === '/tasks/exec-started' && e.payload['container_id'] === c1,
        ),
      20000,
    );

    install('b');
    assert.equal(await upgrade(pid), 'upgraded', logLines('upgrade refused').join('\n'));
    // The terminal's daemon gets the request over and over, through its exec: a request while the
    // new image boots must neither kill it nor start anything twice.
    let pester: NodeJS.Timeout | undefined;
    const outcome = await upgrade(tpid, () => {
      pester = setInterval(() => {
        process.kill(tpid, 'SIGURG');
      }, 20);
      return Promise.resolve();
    });
    clearInterval(pester);
    assert.equal(outcome, 'upgraded', logLines('upgrade refused').join('\n'));
    // Later requests may have started more upgrades (B to B): let them end.
    await waitFor(
      () =>
        logLines('upgrade requested').length ===
        logLines('shim upgraded').length + logLines('upgrade refused').length,
      60000,
    );
    assert.equal(daemonOf(c1), pid, 'same pid');
    assert.equal(daemonOf(t1), tpid, 'same pid');
    assert.ok(commandLine(pid).includes(join(root, 'b', 'build')), `B runs: ${commandLine(pid)}`);
    assert.equal(await shimVersion(), versions.b);
    const line = logLines('shim upgraded').find((l) => l.includes(`pid=${String(pid)}`));
    assert.ok(line?.includes(versions.b) && line.includes(versions.a), `log says A -> B: ${line}`);

    // Exec under B; it also releases e1, whose client (attached under A) gets its output and status.
    const e2 = await h.ctr([
      'task',
      'exec',
      '--exec-id',
      'e2',
      c1,
      'sh',
      '-c',
      'echo hi; touch /tmp/go',
    ]);
    assert.equal(e2.exitCode, 0, e2.stderr);
    assert.equal(e2.stdout.trim(), 'hi');
    const e1 = await waiting;
    assert.equal(e1.exitCode, 7, e1.stderr);
    assert.equal(e1.stdout.trim(), 'after-upgrade');

    // The terminal exec: input, output and window size under B.
    await typeAndSee(term, 'echo $((6*7))', /42/);
    term.resize(100, 30);
    await waitFor(
      async () => {
        const from = term.output.length;
        term.type('stty size\r');
        await term.expect(/\/ # $/, from, 20000);
        return plain(term.output.slice(from)).includes('30 100');
      },
      20000,
      200,
    );
    term.type('exit 5\r');
    assert.equal(await term.exited, 5);

    // Terminal resize under B, seen by the container.
    assert.equal((await resizePty(h.cd, t1, '', 123, 45)).code, 0);
    const size = await h.ctr([
      'task',
      'exec',
      '--exec-id',
      's1',
      t1,
      'stty',
      '-F',
      '/dev/console',
      'size',
    ]);
    assert.equal(size.stdout.trim(), '45 123', size.stderr);

    // Stats, kill, exit statuses and delete under B.
    const stats = await h.ctr(['task', 'metrics', c1]);
    assert.equal(stats.exitCode, 0, stats.stderr);
    assert.match(stats.stdout, /memory/);
    for (const id of [c1, t1]) {
      await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      await h.waitStatus(id, 'STOPPED');
      const del = await h.ctr(['task', 'delete', id]);
      assert.equal(del.exitCode, 0, del.stderr);
      assert.equal((await h.ctr(['container', 'delete', id])).exitCode, 0);
      await h.waitEvent(id, '/tasks/delete');
    }
    assert.deepEqual(
      exitsOf(c1, c1).map((e) => e['exit_status']),
      [137],
    );
    assert.deepEqual(
      exitsOf(t1, t1).map((e) => e['exit_status']),
      [137],
    );
    assert.deepEqual(
      exitsOf(c1, 'e1').map((e) => e['exit_status']),
      [7],
    );
    assert.deepEqual(
      exitsOf(c1, 'e2').map((e) => e['exit_status']),
      [0],
    );
    assert.deepEqual(
      exitsOf(t1, 's1').map((e) => e['exit_status']),
      [0],
    );
    assert.deepEqual(
      exitsOf(c1, 'tty').map((e) => e['exit_status']),
      [5],
    );
  },
);

/** Numbered lines `<tag> N`: each number once and in order from 0, and how many there are. */
function sequence(text: string, tag: string): number {
  const seen = text
    .split('\n')
    .filter((l) => l.startsWith(`${tag} `))
    .map((l) => Number(l.slice(tag.length + 1)));
  const gap = seen.findIndex((n, i) => n !== i);
  assert.equal(gap, -1, `${tag}: line ${String(gap)} is "${tag} ${String(seen[gap])}"`);
  return seen.length;
}

/** How many `<tag> N` lines so far (for waiting; `sequence` checks them). */
function count(text: string, tag: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${tag} `)).length;
}

// Writes numbered lines until /tmp/stop exists (touched by an exec), then echoes its input (to
// its end; a terminal's first line).
const STREAM = (tag: string, err: string, read = 'while read l; do echo "in $l"; done'): string =>
  `i=0; while [ ! -f /tmp/stop ]; do echo "${tag} $i"; ${err} i=$((i+1)); sleep 0.002; done; ` +
  `${read}; echo "end $i"`;

test(
  'pod grouping: output streams through the upgrade, each line once; stdin, a terminal, execs and exits after it',
  TIMEOUT,
  async (t) => {
    install('a');
    const group = ['--annotation', `io.containerd.tsshim.v2.group=${h.uid('ours', 'up-pod')}`];
    const pipes = [h.uid('ours', 'up-s1'), h.uid('ours', 'up-s2')];
    const tty = h.uid('ours', 'up-tty');
    // Attached clients: stdout, stderr and stdin are containerd FIFOs read and written by ctr.
    const clients = pipes.map((id) => {
      const child = execa(
        h.cd.ctrPath,
        [
          ...['--address', h.cd.address, '--namespace', h.cd.namespace, 'run', '--rm'],
          ...[...group, '--runtime', RUNTIME, h.image, id],
          ...['sh', '-c', `${STREAM('out', 'echo "err $i" >&2;')}; echo "end $i" >&2; exit 3`],
        ],
        { reject: false, stdin: 'pipe', buffer: false },
      );
      const seen = { out: '', err: '' };
      child.stdout.on('data', (d: Buffer) => (seen.out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (seen.err += d.toString()));
      return { id, child, seen };
    });
    // The terminal echoes nothing typed, so its output is the container's alone.
    const term = ctrInTerminal(h.cd, [
      ...['run', '--rm', '-t', ...group, '--runtime', RUNTIME, h.image, tty],
      ...['sh', '-c', `stty -echo; ${STREAM('tty', '', 'read l; echo "in $l"')}; exit 4`],
    ]);
    const ttyText = (): string => plain(term.output);
    try {
      const more = async (n: number): Promise<void> => {
        const base = clients.map((c) => [count(c.seen.out, 'out'), count(c.seen.err, 'err')]);
        const baseTty = count(ttyText(), 'tty');
        await waitFor(
          () =>
            clients.every(
              (c, i) =>
                count(c.seen.out, 'out') >= (base[i]?.[0] ?? 0) + n &&
                count(c.seen.err, 'err') >= (base[i]?.[1] ?? 0) + n,
            ) && count(ttyText(), 'tty') >= baseTty + n,
          60000,
        ).catch((err: unknown) => {
          // Which stream stopped, and where.
          const tails = clients.map((c) => `${c.seen.out.slice(-40)} | ${c.seen.err.slice(-40)}`);
          throw new Error(`${String(err)}: ${tails.join('; ')}; tty: ${ttyText().slice(-40)}`);
        });
      };
      await more(50);
      const pid = daemonOf(tty, [...pipes, tty]);
      for (const id of [...pipes, tty]) assert.equal(addressOf(id), addressOf(tty), 'one daemon');
      for (const c of clients) c.child.stdin.write('before\n');
      install('b');
      assert.equal(await upgrade(pid), 'upgraded', logLines('upgrade refused').join('\n'));
      assert.ok(commandLine(pid).includes(join(root, 'b', 'build')), 'B serves');
      // Lines keep coming under B, from every container and stream.
      await more(50);
      for (const c of clients) c.child.stdin.write('after\n');
      for (const id of [...pipes, tty]) {
        const stop = await h.ctr([
          'task',
          'exec',
          '--exec-id',
          'stop',
          id,
          'sh',
          '-c',
          'touch /tmp/stop; echo stopped',
        ]);
        assert.equal(stop.exitCode, 0, stop.stderr);
        assert.equal(stop.stdout.trim(), 'stopped');
      }
      // Only now (the terminal's init exits on its line, and would take its exec with it).
      term.type('typed-after\r');
      // Input written under B reaches the container; then the end of it (CloseIO).
      for (const c of clients) {
        await waitFor(() => c.seen.out.includes('\nin after\n'), 60000).catch((err: unknown) => {
          throw new Error(`${String(err)}: stdin under B never arrived: ${c.seen.out.slice(-40)}`);
        });
        c.child.stdin.end();
      }
      for (const c of clients) {
        const r = await c.child;
        assert.equal(r.exitCode, 3, c.seen.err.slice(-500));
        const n = sequence(c.seen.out, 'out');
        assert.equal(sequence(c.seen.err, 'err'), n, `${c.id}: as many stderr lines`);
        const rest = c.seen.out.split('\n').filter((l) => !l.startsWith('out '));
        assert.deepEqual(rest, ['in before', 'in after', `end ${String(n)}`, ''], c.id);
        assert.ok(c.seen.err.endsWith(`end ${String(n)}\n`), c.id);
      }
      assert.equal(await term.exited, 4);
      const n = sequence(ttyText(), 'tty');
      assert.match(ttyText(), new RegExp(`\\nin typed-after\\nend ${String(n)}\\n`));
      t.diagnostic(
        `lines per stream: ${clients.map((c) => count(c.seen.out, 'out')).join(', ')}, tty ${String(n)}`,
      );
    } finally {
      for (const c of clients) c.child.kill('SIGKILL');
      term.kill();
    }
    for (const id of pipes) {
      await h.waitEvent(id, '/tasks/delete');
      assert.deepEqual(
        exitsOf(id, id).map((e) => e['exit_status']),
        [3],
        id,
      );
      assert.deepEqual(
        exitsOf(id, 'stop').map((e) => e['exit_status']),
        [0],
        id,
      );
    }
    await h.waitEvent(tty, '/tasks/delete');
    assert.deepEqual(
      exitsOf(tty, tty).map((e) => e['exit_status']),
      [4],
    );
    assert.deepEqual(
      exitsOf(tty, 'stop').map((e) => e['exit_status']),
      [0],
    );
  },
);

test(
  'namespace grouping: exits queued, and a burst of exits around the upgrade, arrive once',
  TIMEOUT,
  async (t) => {
    install('b');
    const shared = mkdtempSync(join(root, 'go-'));
    const count = 16;
    const ids: string[] = [];
    const ann = ['--annotation', `${GROUPING}=namespace`];
    const mount = ['--mount', `type=bind,src=${shared},dst=/go,options=rbind:rw`];
    // The first half exits before the upgrade, the rest as it begins.
    const gate = (i: number): string => (i < count / 2 ? 'early' : 'now');
    for (let i = 0; i < count; i++) {
      const id = h.uid('ours', `burst${String(i)}`);
      ids.push(id);
      const wait = `while [ ! -f /go/${gate(i)} ]; do sleep 0.05; done`;
      // The init outlives its exec (its exit would kill the exec): it waits until the exec is gone.
      const pidFile = `/go/exec-${String(i)}`;
      const init = `${wait}; while [ ! -s ${pidFile} ] || kill -0 $(cat ${pidFile}); do sleep 0.05; done`;
      await h.runDetached(
        'ours',
        id,
        ['sh', '-c', `${init}; exit ${String(i + 1)}`],
        [...ann, ...mount],
      );
      // An exec of each that exits at the same moment, with its own status.
      const exec = await h.ctr([
        'task',
        'exec',
        '-d',
        '--exec-id',
        'x',
        id,
        'sh',
        '-c',
        `${wait}; echo $$ > ${pidFile}; exit ${String(i + 101)}`,
      ]);
      assert.equal(exec.exitCode, 0, exec.stderr);
    }
    const pid = daemonOf(ids[0] ?? '');
    for (const id of ids) assert.equal(addressOf(id), addressOf(ids[0] ?? ''), 'one daemon');
    install('c');
    // containerd's event endpoint out of the daemon's reach (containerd restarted, its ttrpc socket
    // moved; subscribers are live again): events wait in the daemon's queue, and that queue is what
    // the upgrade must hand over. A symlink at the old path lets them through afterwards.
    const ttrpcOld = h.cd.ttrpcAddress;
    const ttrpcNew = `${ttrpcOld}.${String(Date.now())}`;
    await h.cd.kill9();
    await h.cd.restart({ ttrpcAddress: ttrpcNew });
    await h.subscribe();
    try {
      writeFileSync(join(shared, 'early'), '');
      for (const id of ids.slice(0, count / 2)) await h.waitStatus(id, 'STOPPED');
      writeFileSync(join(shared, 'now'), '');
      // The operator's command this time (a cold-started daemon is named by its pid).
      const outcome = await upgrade(pid, async () => {
        const r = await execa(TSSHIM, ['upgrade', String(pid)], { reject: false });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^upgrade requested: pid ${String(pid)} `, 'm'));
      });
      assert.equal(outcome, 'upgraded', logLines('upgrade refused').join('\n'));
      assert.equal(daemonOf(ids[0] ?? ''), pid);
      assert.ok(commandLine(pid).includes(join(root, 'c', 'build')));
      for (const id of ids) await h.waitStatus(id, 'STOPPED');
    } finally {
      rmSync(ttrpcOld, { force: true });
      symlinkSync(ttrpcNew, ttrpcOld);
    }
    const upgrading = logLines('shim upgrading').at(-1) ?? '';
    const handed = Number(/ events=(\d+)/.exec(upgrading)?.[1] ?? -1);
    assert.ok(handed >= count, `the queue handed over holds the early exits: ${upgrading}`);
    t.diagnostic(upgrading);
    await waitFor(() => ids.every((id) => exitsOf(id, id).length > 0), 30000);
    for (const [i, id] of ids.entries()) {
      assert.deepEqual(
        exitsOf(id, id).map((e) => e['exit_status']),
        [i + 1],
        id,
      );
      assert.deepEqual(
        exitsOf(id, 'x').map((e) => e['exit_status']),
        [i + 101],
        `${id} exec`,
      );
    }
    for (const id of ids) {
      assert.equal((await h.ctr(['task', 'delete', id])).exitCode, 0);
      await h.ctr(['container', 'delete', id]);
    }
  },
);

test(
  'a version that cannot load the state refuses; the running one keeps serving',
  TIMEOUT,
  async () => {
    install('b');
    const id = h.uid('ours', 'up-refused');
    await h.runDetached('ours', id, ['sleep', '1000']);
    const pid = daemonOf(id);
    const before = commandLine(pid);
    install('refusing');
    assert.equal(await upgrade(pid), 'refused');
    const reason = logLines('upgrade refused').at(-1) ?? '';
    assert.match(reason, /format 1 is not known/);
    assert.equal(daemonOf(id), pid);
    assert.equal(commandLine(pid), before, 'the old code still runs');
    const exec = await h.ctr([
      'task',
      'exec',
      '--exec-id',
      'e',
      id,
      'sh',
      '-c',
      'echo still; exit 4',
    ]);
    assert.equal(exec.exitCode, 4, exec.stderr);
    assert.equal(exec.stdout.trim(), 'still');
    install('b');
    await h.destroy(id);
    assert.deepEqual(
      exitsOf(id, id).map((e) => e['exit_status']),
      [137],
    );
  },
);

test('a daemon born from a warm spare upgrades too', TIMEOUT, async () => {
  install('a');
  // A containerd of its own with the warm path on (the default): the daemon was a spare.
  const cd = await startContainerd({ binDir });
  try {
    const image = await ensureBusyboxImage(cd);
    const id = `up-warm-${String(process.pid)}`;
    const run = await cd.ctr(['run', '-d', '--runtime', RUNTIME, image, id, 'sleep', '1000']);
    assert.equal(run.exitCode, 0, run.stderr);
    const bundle = join(cd.state, 'io.containerd.runtime.v2.task', cd.namespace, id);
    const pid = processesMatching('/build/src/bundle/main.js').find((p) => {
      try {
        return readlinkSync(`/proc/${String(p)}/cwd`) === bundle;
      } catch {
        return false;
      }
    });
    assert.ok(pid !== undefined, 'the daemon runs in the bundle');
    install('b');
    const log = (): string[] =>
      cd
        .log()
        .split('\n')
        .filter((l) => l.includes('msg="shim upgraded"') && l.includes(versions.b));
    process.kill(pid, 'SIGURG');
    await waitFor(() => log().length > 0, 60000);
    assert.ok(commandLine(pid).includes(join(root, 'b', 'build')), commandLine(pid));
    const exec = await cd.ctr(['task', 'exec', '--exec-id', 'e', id, 'sh', '-c', 'exit 9'], {
      reject: false,
    });
    assert.equal(exec.exitCode, 9, exec.stderr);
    await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor(async () => (await cd.ctr(['task', 'ls'])).stdout.includes('STOPPED'), 30000);
    assert.equal((await cd.ctr(['task', 'delete', id], { reject: false })).exitCode, 0);
    await cd.ctr(['container', 'delete', id]);
  } finally {
    await cd.stop();
  }
});
