// The warm path against a real containerd: the launcher relays start/delete to the warm process,
// a spare becomes the daemon, and every failure of the warm side (killed or hung before, during
// or after a handoff, containerd restarted) still gives a working container with exactly one
// daemon. Warm processes are never shared between containerd instances or builds, and their
// socket refuses garbage and peers that are not root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { useHarness, RUNTIMES } from '../helpers/differential.js';
import { REPO, startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { commandLine, isAlive, processesMatching, waitFor } from '../helpers/leaks.js';
import { encodeRequest } from '../../src/shim/handoff/wire.js';
import { coldLockPath, warmSocketPath } from '../../src/shim/handoff/warm-socket.js';
import { LOAD_MESSAGE } from '../../src/shim/load-report.js';

const h = useHarness();
const OURS = RUNTIMES.ours;

/** Whether the suite's containerd runs with the zygote (the default; TSSHIM_ZYGOTE=0 is off). */
const ZYGOTE_ON = process.env['TSSHIM_ZYGOTE'] !== '0';
const warmOf = (address: string): number[] => processesMatching(`-address ${address} warm`);
const spareOf = (address: string): number[] => processesMatching(`-address ${address} spare`);
const zygoteOf = (address: string): number[] => processesMatching(`-address ${address} zygote`);
const daemonsOf = (address: string, id: string): number[] =>
  processesMatching(`-id ${id} -address ${address}`);

function wchan(pid: number): string {
  try {
    return readFileSync(`/proc/${String(pid)}/wchan`, 'utf8');
  } catch {
    return '';
  }
}

/** True while `pid` is blocked reading its channel: a spare (or returned daemon) waiting for a job. */
const waitsForJob = (pid: number): boolean => wchan(pid) === '__skb_wait_for_more_packets';

/** Waits for the warm process of `cd` and its ready spare; returns their pids. */
async function warmAndSpare(cd: Containerd): Promise<{ warm: number; spare: number }> {
  await waitFor(() => warmOf(cd.address).length === 1 && spareOf(cd.address).length === 1, 30000);
  // A spare is ready once it has loaded the daemon and waits for a job on its channel.
  const spare = spareOf(cd.address)[0] ?? 0;
  await waitFor(() => waitsForJob(spare), 30000);
  return { warm: warmOf(cd.address)[0] ?? 0, spare };
}

async function runEcho(cd: Containerd, image: string, id: string, text: string): Promise<void> {
  const r = await cd.ctr(['run', '--rm', '--runtime', OURS, image, id, 'echo', text]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout.trim(), text);
}

async function runDetached(cd: Containerd, image: string, id: string): Promise<number> {
  const r = await cd.ctr(['run', '-d', '--runtime', OURS, image, id, 'sleep', '100000']);
  assert.equal(r.exitCode, 0, r.stderr);
  const daemons = daemonsOf(cd.address, id);
  assert.equal(daemons.length, 1, `exactly one daemon for ${id}`);
  return daemons[0] ?? 0;
}

async function destroy(cd: Containerd, id: string): Promise<void> {
  await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id], { reject: false });
  await waitFor(async () => (await cd.ctr(['task', 'ls'])).stdout.includes('STOPPED'), 30000).catch(
    () => undefined,
  );
  await cd.ctr(['task', 'delete', '-f', id], { reject: false });
  await cd.ctr(['container', 'delete', id], { reject: false });
}

// A warm process leaves soon after the last shim of ours (1 s in tests): a container of ours runs
// throughout, so these tests never race that exit.
describe('while a shim of ours runs', () => {
  let keeper = '';
  before(async () => {
    keeper = h.uid('ours', 'warm-path-keeper');
    await runDetached(h.cd, h.image, keeper);
  });
  after(async () => {
    await destroy(h.cd, keeper);
  });

  test('a spare becomes the next daemon, and start/delete need no Node start-up', async () => {
    const { warm, spare } = await warmAndSpare(h.cd);
    const id = h.uid('ours', 'warm-spare');
    const daemon = await runDetached(h.cd, h.image, id);
    assert.equal(daemon, spare, 'the ready spare took the job');
    // It looks like any daemon: own session, init as parent, containerd's flags in its title.
    const stat = readFileSync(`/proc/${String(daemon)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.equal(fields[1], '1', 'the daemon is a child of init');
    assert.equal(fields[3], String(daemon), 'the daemon leads its own session');
    await destroy(h.cd, id);
    assert.deepEqual(warmOf(h.cd.address), [warm], 'the same warm process throughout');
  });

  test('killed before a handoff: the next start runs cold and a new warm process follows', async () => {
    const { warm, spare } = await warmAndSpare(h.cd);
    process.kill(warm, 'SIGKILL');
    process.kill(spare, 'SIGKILL');
    await waitFor(() => !isAlive(warm) && !isAlive(spare), 10000);
    await runEcho(h.cd, h.image, h.uid('ours', 'warm-killed'), 'cold again');
    const next = await warmAndSpare(h.cd);
    assert.notEqual(next.warm, warm);
  });

  test('a spare hung during the handoff is killed and the daemon starts cold', async () => {
    const { spare } = await warmAndSpare(h.cd);
    process.kill(spare, 'SIGSTOP');
    try {
      const id = h.uid('ours', 'warm-hung-spare');
      const daemon = await runDetached(h.cd, h.image, id);
      assert.notEqual(daemon, spare);
      await waitFor(() => !isAlive(spare), 10000);
      await destroy(h.cd, id);
    } finally {
      if (isAlive(spare)) process.kill(spare, 'SIGKILL');
    }
  });

  test('a hung warm process: the launcher starts the daemon itself, one daemon per container', async () => {
    const { warm } = await warmAndSpare(h.cd);
    process.kill(warm, 'SIGSTOP');
    try {
      const id = h.uid('ours', 'warm-hung');
      await runDetached(h.cd, h.image, id);
      await destroy(h.cd, id);
    } finally {
      process.kill(warm, 'SIGKILL');
    }
  });

  test(
    ZYGOTE_ON
      ? 'starts faster than spares are forked: each forks its own, one is kept ready'
      : 'starts faster than a spare boots: two are kept ready, then one again',
    async () => {
      // A start brings a warm process up (a container that stays: no daemon comes back).
      const ids = [h.uid('ours', 'burst-first')];
      await runDetached(h.cd, h.image, ids[0] ?? '');
      const ready = (): number[] => spareOf(h.cd.address).filter(waitsForJob);
      const zygoteReady = (): boolean =>
        !ZYGOTE_ON || zygoteOf(h.cd.address).filter(waitsForJob).length === 1;
      await waitFor(
        () => warmOf(h.cd.address).length === 1 && ready().length === 1 && zygoteReady(),
        30000,
      );
      // Two at once: one takes the ready spare, the other finds none ready.
      const burst = ['a', 'b'].map((n) => h.uid('ours', `burst-${n}`));
      ids.push(...burst);
      await Promise.all(burst.map((id) => runDetached(h.cd, h.image, id)));
      if (ZYGOTE_ON) {
        // A second ready spare would only cost memory: the next burst forks its own again.
        await waitFor(() => ready().length === 1, 30000);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        assert.equal(spareOf(h.cd.address).length, 1, 'one spare kept ready');
      } else {
        await waitFor(() => ready().length === 2, 30000);
        // 20 s after the last start that found none ready, the extra one goes.
        await waitFor(() => spareOf(h.cd.address).length === 1, 40000);
      }
      for (const id of ids) await destroy(h.cd, id);
    },
  );

  test('killed after a handoff: the container it started is unaffected', async () => {
    await runEcho(h.cd, h.image, h.uid('ours', 'warm-again'), 'warm again');
    await warmAndSpare(h.cd);
    const id = h.uid('ours', 'warm-after');
    await runDetached(h.cd, h.image, id);
    for (const pid of [...warmOf(h.cd.address), ...spareOf(h.cd.address)])
      process.kill(pid, 'SIGKILL');
    const exec = await h.cd.ctr(
      ['task', 'exec', '--exec-id', 'e1', id, 'sh', '-c', 'echo hi; exit 3'],
      {
        reject: false,
      },
    );
    assert.equal(exec.exitCode, 3);
    assert.equal(exec.stdout.trim(), 'hi');
    await destroy(h.cd, id);
  });
});

test('containerd restarted while the warm process waits: it keeps serving', async () => {
  await runEcho(h.cd, h.image, h.uid('ours', 'warm-pre-restart'), 'before');
  const keeper = h.uid('ours', 'warm-keeper');
  await runDetached(h.cd, h.image, keeper); // a shim of ours keeps the warm process wanted
  const { warm } = await warmAndSpare(h.cd);
  await h.cd.kill9();
  await h.cd.restart();
  await h.subscribe();
  await runEcho(h.cd, h.image, h.uid('ours', 'warm-post-restart'), 'after');
  assert.deepEqual(warmOf(h.cd.address), [warm]);
  await destroy(h.cd, keeper);
});

test('two containerd instances never share a warm process or a group', async () => {
  const other = await startContainerd();
  try {
    const image = await ensureBusyboxImage(other);
    const group = ['--annotation', 'io.containerd.tsshim.v2.group=shared'];
    const ids = [h.uid('ours', 'inst-a'), h.uid('ours', 'inst-b')];
    const pids: number[] = [];
    for (const [cd, img, id] of [
      [h.cd, h.image, ids[0]],
      [other, image, ids[1]],
    ] as const) {
      const r = await cd.ctr([
        'run',
        '-d',
        ...group,
        '--runtime',
        OURS,
        img,
        id ?? '',
        'sleep',
        '1000',
      ]);
      assert.equal(r.exitCode, 0, r.stderr);
      pids.push(...daemonsOf(cd.address, id ?? ''));
    }
    assert.equal(new Set(pids).size, 2, 'one daemon per containerd for the same group name');
    await warmAndSpare(other);
    const warms = [...warmOf(h.cd.address), ...warmOf(other.address)];
    assert.equal(new Set(warms).size, 2, 'one warm process per containerd');
    await destroy(h.cd, ids[0] ?? '');
    await destroy(other, ids[1] ?? '');
  } finally {
    await other.stop();
  }
});

/** A second installation of this package whose build id differs: what an upgrade looks like. */
function installCopy(): { dir: string; binDir: string } {
  const dir = mkdtempSync('/tmp/tsshim-upgrade-');
  cpSync(join(REPO, 'build'), join(dir, 'build'), { recursive: true });
  cpSync(join(REPO, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(REPO, 'native'), join(dir, 'native'));
  const buildId = 'f0f0f0f0f0f0f0f0';
  writeFileSync(join(dir, 'build/build-id'), `${buildId}\n`);
  const conf = readFileSync(join(dir, 'build/launcher.conf'), 'utf8')
    .replace(/^build_id=.*$/m, `build_id=${buildId}`)
    .replaceAll(join(REPO, 'build'), join(dir, 'build'));
  writeFileSync(join(dir, 'build/launcher.conf'), conf);
  return { dir, binDir: join(dir, 'bin') };
}

test('an upgrade is never served by the old warm process', async () => {
  const keeper = h.uid('ours', 'upgrade-keeper');
  await runDetached(h.cd, h.image, keeper);
  const { warm } = await warmAndSpare(h.cd);
  const copy = installCopy();
  try {
    await h.cd.kill9();
    await h.cd.restart({ binDir: copy.binDir });
    await h.subscribe();
    const id = h.uid('ours', 'upgraded');
    const daemon = await runDetached(h.cd, h.image, id);
    const cmdline = readFileSync(`/proc/${String(daemon)}/cmdline`, 'utf8');
    assert.ok(cmdline.includes(join(copy.dir, 'build')), `new code serves it: ${cmdline}`);
    await waitFor(() => warmOf(h.cd.address).length === 2, 30000);
    assert.ok(warmOf(h.cd.address).includes(warm), 'the old warm process still runs, unused');
    await destroy(h.cd, id);
    await destroy(h.cd, keeper);
    await h.cd.kill9();
    await h.cd.restart({ binDir: join(REPO, 'bin') });
    await h.subscribe();
  } finally {
    // Its processes leave once no shim of theirs runs; then the copy can go.
    await waitFor(() => processesMatching(copy.dir).length === 0, 30000).catch(() => undefined);
    rmSync(copy.dir, { recursive: true, force: true });
  }
});

/** Sends raw bytes to a socket and returns everything it answers before closing. */
function exchange(path: string, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const chunks: Buffer[] = [];
    sock.on('connect', () => sock.end(data));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

test('the warm socket refuses garbage, oversize requests and non-root peers; nothing is lost', async () => {
  const warmDir = mkdtempSync('/tmp/tsshim-warm-');
  const cd = await startContainerd({ env: { TSSHIM_WARM_DIR: warmDir } });
  try {
    const image = await ensureBusyboxImage(cd);
    const keeper = 'refuse-keeper';
    await runDetached(cd, image, keeper);
    const { warm } = await warmAndSpare(cd);
    const path = warmSocketPath(cd.address, warmDir);

    assert.match(
      await exchange(path, Buffer.from('GET / HTTP/1.1\r\n\r\n')),
      /relay: not a relay request/,
    );
    const oversize = Buffer.alloc(8);
    oversize.write('TSR1', 0, 'latin1');
    oversize.writeUInt32LE(1 << 30, 4);
    assert.match(
      await exchange(path, oversize),
      /relay: relay request of 1073741824 bytes exceeds/,
    );
    const truncated = encodeRequest({ argv: ['x', '-v'], env: [], cwd: '/' }).subarray(0, 20);
    assert.match(await exchange(path, truncated), /relay: relay connection closed mid-request/);
    const wrongContainerd = encodeRequest({
      argv: ['x', '-address', '/elsewhere.sock', '-v'],
      env: [],
      cwd: '/',
    });
    assert.match(
      await exchange(path, wrongContainerd),
      /serves containerd .* not \/elsewhere\.sock/,
    );

    // A peer that is not root: open the directory to it for this test only.
    chmodSync(warmDir, 0o711);
    chmodSync(path, 0o666);
    const probe = `
      const net = require('node:net');
      const s = net.connect(${JSON.stringify(path)}, () => s.end(Buffer.from(${JSON.stringify(
        encodeRequest({ argv: ['x', '-v'], env: [], cwd: '/' }).toString('base64'),
      )}, 'base64')));
      const c = []; s.on('data', (d) => c.push(d)); s.on('close', () => process.stdout.write(Buffer.concat(c).toString('latin1')));`;
    const nobody = await execa('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '-e',
      probe,
    ]);
    assert.match(nobody.stdout, /relay: uid 65534 is not allowed/);

    assert.deepEqual(warmOf(cd.address), [warm], 'the warm process survived it all');
    const exec = await cd.ctr(['task', 'exec', '--exec-id', 'after', keeper, 'echo', 'still here']);
    assert.equal(exec.stdout.trim(), 'still here');
    await runEcho(cd, image, 'refuse-after', 'served');
    await destroy(cd, keeper);
  } finally {
    await cd.stop();
    rmSync(warmDir, { recursive: true, force: true });
  }
});

// With no warm process, a launcher waits for the one another launcher's Node brings up (the cold
// lock). A holder that never lets go must only delay it: then it starts Node itself.
test('a cold lock held by a hung process delays a start, never hangs it', async () => {
  const warmDir = mkdtempSync('/tmp/tsshim-warm-');
  const cd = await startContainerd({ env: { TSSHIM_WARM_DIR: warmDir } });
  const lock = coldLockPath(cd.address, warmDir);
  // Its own process group, no pipes: killing the group ends flock and the sleep that holds it.
  const holder = execa('flock', [lock, 'sleep', '600'], {
    reject: false,
    stdio: 'ignore',
    detached: true,
  });
  try {
    const image = await ensureBusyboxImage(cd);
    await waitFor(() => existsSync(lock) && processesMatching(lock).length > 0, 10000);
    assert.deepEqual(warmOf(cd.address), [], 'no warm process yet');
    await runEcho(cd, image, 'lock-held', 'started anyway');
    // The Node it started brought up the warm process, which serves the next one.
    await waitFor(() => warmOf(cd.address).length === 1, 30000);
    await runEcho(cd, image, 'lock-held-warm', 'served warm');
  } finally {
    if (holder.pid !== undefined) process.kill(-holder.pid, 'SIGKILL');
    await holder;
    await cd.stop();
    rmSync(warmDir, { recursive: true, force: true });
  }
});

// Two launchers that both found the warm process dead can both start one; the second takes the
// socket from the first. The first, reached by nobody, must not stay: before, it lived on as long
// as any shim of ours ran (each warm process counted the other as one).
test('a warm process whose socket another took leaves; the other serves', async () => {
  const warmDir = mkdtempSync('/tmp/tsshim-warm-');
  const cd = await startContainerd({ env: { TSSHIM_WARM_DIR: warmDir } });
  try {
    const image = await ensureBusyboxImage(cd);
    await runDetached(cd, image, 'displace-keeper');
    const { warm: first } = await warmAndSpare(cd);
    // What the second of two racing takeovers leaves: the first one's socket file gone, and the
    // next start brings up a warm process of its own on the path.
    rmSync(warmSocketPath(cd.address, warmDir));
    await runEcho(cd, image, 'displace-cold', 'cold');
    await waitFor(() => warmOf(cd.address).some((pid) => pid !== first), 30000);
    await waitFor(() => !isAlive(first), 15000);
    assert.equal(warmOf(cd.address).length, 1, 'one warm process');
    assert.ok(existsSync(warmSocketPath(cd.address, warmDir)), 'its socket stays in place');
    await runEcho(cd, image, 'displace-warm', 'served warm');
    await destroy(cd, 'displace-keeper');
  } finally {
    await cd.stop();
    rmSync(warmDir, { recursive: true, force: true });
  }
});

/**
 * Where each open fd of `pid` points, with inode numbers left out, sorted; not the /dev/null that
 * libuv keeps open above stdio once a process has listened (its reserve for EMFILE).
 */
function fdKinds(pid: number): string[] {
  const dir = `/proc/${String(pid)}/fd`;
  return readdirSync(dir)
    .filter((fd) => Number(fd) <= 2 || readlinkSync(join(dir, fd)) !== '/dev/null')
    .map((fd) => readlinkSync(join(dir, fd)).replace(/:\[\d+\]$/, ''))
    .sort();
}

/** True once `pid` waits for a job as a spare does (its title says spare again). */
const waitsAsSpare = (address: string, pid: number): boolean =>
  spareOf(address).includes(pid) && waitsForJob(pid);

test('a daemon done with its container takes the next one, with nothing of the first left', async () => {
  // A containerd of its own: its warm process holds no daemon that came back from another test.
  const cd = await startContainerd();
  try {
    const image = await ensureBusyboxImage(cd);
    // A running container keeps the warm process (and what it holds) through the test.
    await runDetached(cd, image, 'reuse-keeper');
    const { spare } = await warmAndSpare(cd);
    const before = fdKinds(spare);
    assert.equal(await runDetached(cd, image, 'reuse-a'), spare, 'the ready spare took the job');
    await destroy(cd, 'reuse-a');

    // Back after Shutdown with the fds it had before the job: no FIFO, log or socket of it kept.
    await waitFor(() => waitsAsSpare(cd.address, spare), 30000);
    assert.deepEqual(fdKinds(spare), before);
    assert.equal(readlinkSync(`/proc/${String(spare)}/cwd`), '/');

    // The next container gets it, and it serves that container as any daemon would.
    assert.equal(await runDetached(cd, image, 'reuse-b'), spare, 'the returned daemon took it');
    assert.match(commandLine(spare), / -id reuse-b /);
    assert.match(readlinkSync(`/proc/${String(spare)}/cwd`), /\/reuse-b$/);
    const exec = await cd.ctr(['task', 'exec', '--exec-id', 'e', 'reuse-b', 'sh', '-c', 'exit 7'], {
      reject: false,
    });
    assert.equal(exec.exitCode, 7);
    const out = await cd.ctr(['task', 'exec', '--exec-id', 'o', 'reuse-b', 'echo', 'second']);
    assert.equal(out.stdout.trim(), 'second');
    // SIGUSR1 reports this job's load: no handler or log of the first job is left (one would run
    // first, registered first, and report that job's 0 containers).
    const logFrom = cd.log().length;
    process.kill(spare, 'SIGUSR1');
    const reports = (): string[] =>
      cd
        .log()
        .slice(logFrom)
        .split('\n')
        .filter((l) => l.includes(`msg="${LOAD_MESSAGE}"`) && l.includes(` pid=${String(spare)}`));
    await waitFor(() => reports().length > 0, 30000);
    assert.match(reports()[0] ?? '', / containers=1 /);
    await destroy(cd, 'reuse-b');

    // Idle again, and SIGTERM stops it as it does a spare that never served.
    await waitFor(() => waitsAsSpare(cd.address, spare), 30000);
    process.kill(spare, 'SIGTERM');
    await waitFor(() => !isAlive(spare), 10000);
    await runEcho(cd, image, 'reuse-after', 'after');
    await destroy(cd, 'reuse-keeper');
  } finally {
    await cd.stop();
  }
});

test('with the zygote on, forked spares serve containers as any daemon, and outlive it', async () => {
  const cd = await startContainerd({ env: { TSSHIM_ZYGOTE: '1' } });
  try {
    const image = await ensureBusyboxImage(cd);
    await runDetached(cd, image, 'zy-keeper');
    await waitFor(
      () => zygoteOf(cd.address).length === 1 && waitsForJob(zygoteOf(cd.address)[0] ?? 0),
      30000,
    );
    const zygote = zygoteOf(cd.address)[0] ?? 0;
    // The spare made while the zygote booted was a Node start-up; the next ones are forked, and
    // run with the zygote's flags.
    let daemon = 0;
    for (let i = 0; i < 3 && daemon === 0; i++) {
      await waitFor(() => spareOf(cd.address).some(waitsForJob), 30000);
      const candidate = await runDetached(cd, image, `zy-${String(i)}`);
      if (commandLine(candidate).includes(' --single-threaded ')) daemon = candidate;
    }
    assert.notEqual(daemon, 0, 'a daemon forked by the zygote');
    const stat = readFileSync(`/proc/${String(daemon)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.equal(fields[1], '1', 'the daemon is a child of init');
    assert.equal(fields[3], String(daemon), 'the daemon leads its own session');
    const id = / -id (\S+) /.exec(commandLine(daemon))?.[1] ?? '';

    // A burst: more starts at once than spares are ready. Each that finds none ready has one
    // forked for itself, so none boots Node (a booted daemon lacks the zygote's flags).
    const burst = Array.from({ length: 8 }, (_, i) => `zy-burst-${String(i)}`);
    const burstDaemons = await Promise.all(burst.map((b) => runDetached(cd, image, b)));
    assert.deepEqual(
      burstDaemons.filter((pid) => !commandLine(pid).includes(' --single-threaded ')),
      [],
      'every daemon of the burst forked by the zygote',
    );
    await Promise.all(burst.map((b) => destroy(cd, b)));

    // Killed, the zygote takes nothing with it: its daemon serves on, starts still work.
    process.kill(zygote, 'SIGKILL');
    await waitFor(() => !isAlive(zygote), 10000);
    const exec = await cd.ctr(['task', 'exec', '--exec-id', 'e', id, 'sh', '-c', 'exit 7'], {
      reject: false,
    });
    assert.equal(exec.exitCode, 7);
    const out = await cd.ctr(['task', 'exec', '--exec-id', 'o', id, 'echo', 'forked']);
    assert.equal(out.stdout.trim(), 'forked');
    // Its own pid (Node caches the zygote's at start-up) in what it reports.
    const logFrom = cd.log().length;
    process.kill(daemon, 'SIGUSR1');
    await waitFor(
      () =>
        cd
          .log()
          .slice(logFrom)
          .includes(` pid=${String(daemon)}`),
      30000,
    );
    await runEcho(cd, image, 'zy-after', 'after');
    for (let i = 0; i < 3; i++) await destroy(cd, `zy-${String(i)}`);
    await destroy(cd, 'zy-keeper');
  } finally {
    await cd.stop();
  }
});
