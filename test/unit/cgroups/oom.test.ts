// OOM watching: the kill counter, the v2 inotify watcher on a fixture cgroup, and the v1
// eventfd watcher on a real memory cgroup of this host (a child process is OOM-killed in it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { OomKillCounter } from '../../../src/cgroups/oom-counter.js';
import { V1OomWatcher, V2OomWatcher } from '../../../src/cgroups/oom.js';
import { nullLogger } from '../../../src/base/log.js';
import { fdCount, waitFor } from '../../helpers/leaks.js';
import { writeTree } from './fixtures.js';

/** Watchers never keep the process alive, so hold the loop open while waiting on them. */
async function held(cond: () => boolean): Promise<void> {
  const timer = setInterval(() => undefined, 1000);
  try {
    await waitFor(cond, 30000, 10);
  } finally {
    clearInterval(timer);
  }
}

/** inotify watches held by this process (libuv shares one inotify fd; each watch is a line). */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

test('OomKillCounter reports each increase once, never a decrease or a repeat', () => {
  const c = new OomKillCounter(2n);
  assert.equal(c.update(2n), false, 'kills before watching are not ours');
  assert.equal(c.update(3n), true);
  assert.equal(c.update(3n), false, 'the same kill seen twice (watcher + final check)');
  assert.equal(c.update(1n), false);
  assert.equal(c.update(5n), true, 'two kills at once: one report');
  assert.equal(c.reported, 5n);
});

const events = (oomKill: number): string =>
  `low 0\nhigh 0\nmax ${oomKill * 3}\noom ${oomKill}\noom_kill ${oomKill}\noom_group_kill 0\n`;

test('v2 watcher: oom_kill increases, deduplicated with the final check; stops when empty', async () => {
  const t = writeTree({
    'memory.events': events(1),
    'cgroup.events': 'populated 1\nfrozen 0\n',
  });
  const before = inotifyWatches();
  let calls = 0;
  const w = new V2OomWatcher(t.root, () => calls++, nullLogger);
  try {
    assert.equal(inotifyWatches(), before + 2, 'memory.events and cgroup.events');
    w.check();
    assert.equal(calls, 0, 'the kill counted before watching is not reported');
    writeFileSync(join(t.root, 'memory.events'), events(2));
    await held(() => calls === 1);
    w.check();
    assert.equal(calls, 1, 'the final check does not repeat the watcher');
    // The final check first: the watcher's own notification must not repeat it.
    writeFileSync(join(t.root, 'memory.events'), events(3));
    w.check();
    assert.equal(calls, 2);
    // Only oom_kill counts (an `oom` charged to a pod-level limit is no kill here).
    writeFileSync(join(t.root, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 7\noom_kill 3\n');
    writeFileSync(join(t.root, 'cgroup.events'), 'populated 0\nfrozen 0\n');
    await held(() => w.closed);
    assert.equal(calls, 2, 'inotify events arrive in order: all were handled before the stop');
    assert.equal(inotifyWatches(), before, 'no inotify watch left');
    // Stopped, but the final check before the exit still reads the counter.
    writeFileSync(join(t.root, 'memory.events'), events(4));
    w.check();
    assert.equal(calls, 3);
  } finally {
    w.close();
    t.cleanup();
  }
});

test('v2 watcher stops silently when memory.events disappears', async () => {
  const t = writeTree({ 'memory.events': events(0), 'cgroup.events': 'populated 1\n' });
  let calls = 0;
  const w = new V2OomWatcher(t.root, () => calls++, nullLogger);
  try {
    rmSync(join(t.root, 'memory.events'));
    await held(() => w.closed);
    w.check();
    assert.equal(calls, 0);
  } finally {
    w.close();
    t.cleanup();
  }
});

function makeMemoryCgroup(name: string, limit: number): string | Error {
  const dir = join('/sys/fs/cgroup/memory', name);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limit));
    // No swap to escape into.
    if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) {
      writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limit));
    }
    return dir;
  } catch (err) {
    try {
      rmdirSync(dir);
    } catch {
      // never created
    }
    return err as Error;
  }
}

/** A shell that joins the cgroup and then eats memory until the OOM killer ends it. */
const HOG = (dir: string): [string, string[]] => [
  '/bin/sh',
  ['-c', `echo $$ > ${dir}/cgroup.procs && exec tail /dev/zero`],
];

test('v1 watcher on a real memory cgroup: one TaskOOM per kill, eventfd freed on removal', async (t) => {
  const dir = makeMemoryCgroup(`shimtest-oom-${process.pid}`, 16 * 1024 * 1024);
  if (dir instanceof Error) {
    t.skip(`cannot create a cgroup v1 memory group on this host: ${dir.message}`);
    return;
  }
  const before = fdCount();
  let calls = 0;
  let w: V1OomWatcher | undefined;
  try {
    w = new V1OomWatcher(dir, () => calls++, nullLogger);
    assert.equal(fdCount(), before + 1, 'the eventfd');
    // 1. The watcher's own notification reports the kill.
    const [file, args] = HOG(dir);
    const child = spawn(file, args, { stdio: 'ignore' });
    const signal = await new Promise((resolve) =>
      child.on('exit', (_c, s) => {
        resolve(s);
      }),
    );
    assert.equal(signal, 'SIGKILL');
    await held(() => calls === 1);
    w.check();
    assert.equal(calls, 1, 'the final check does not repeat the notification');
    // 2. The final check first (spawnSync blocks the loop: the notification is still pending).
    const r = spawnSync(file, args, { stdio: 'ignore' });
    assert.equal(r.signal, 'SIGKILL');
    w.check();
    assert.equal(calls, 2, 'reported by the final check');
    assert.match(readFileSync(join(dir, 'memory.oom_control'), 'utf8'), /oom_kill 2/);
    // 3. Removing the cgroup fires the eventfd too: the watcher stops by itself, no report.
    rmdirSync(dir);
    await held(() => w?.closed === true);
    assert.equal(calls, 2, 'each kill reported exactly once');
    assert.equal(fdCount(), before, 'eventfd closed');
  } finally {
    w?.close();
    if (existsSync(dir)) rmdirSync(dir);
  }
});
