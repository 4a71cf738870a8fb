// OOM watching for a container's cgroup, started right after Create and closed at Delete (or
// when the cgroup goes away). Each watcher reports a kill by calling `onOom` once, whether the
// kernel's notification or the final check before an exit sees it first.
//  - v1: an eventfd registered on memory.oom_control through cgroup.event_control, watched on
//    Node's loop (native FdWatcher). The kernel signals before it kills, so a notification may
//    come before the oom_kill counter moves: it is re-read a few times.
//  - v2: inotify (fs.watch) on memory.events and cgroup.events, counting oom_kill (not oom: a
//    pod-level limit charges oom to the parent); it stops once the cgroup is empty or gone.
import { closeSync, openSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { EFD_NONBLOCK, POLL_READABLE, native, type FdWatcher } from '../native/index.js';
import { OomKillCounter, oomKillCount } from './oom-counter.js';
import { parseKVText } from './parse.js';
import type { CgroupRef } from './load.js';

export interface OomWatcher {
  /** Reads the kill counter once more and reports a kill it shows (before publishing an exit). */
  check(): void;
  close(): void;
  /** Stopped: closed by its owner, or because the cgroup emptied or went away. */
  readonly closed: boolean;
}

/** After a notification without a counted kill, look again after these delays (ms). */
const RECHECK_DELAYS_MS = [5, 25, 100, 500];

function readKV(path: string): Map<string, bigint> | undefined {
  try {
    return parseKVText(readFileSync(path, 'utf8'));
  } catch {
    return undefined; // gone (ENOENT/ENODEV) or unreadable: nothing to report
  }
}

/** Starts watching; undefined when the cgroup has no memory controller to watch. */
export function watchOom(cg: CgroupRef, onOom: () => void, log: Logger): OomWatcher | undefined {
  if (cg.version === 2) return new V2OomWatcher(cg.path, onOom, log);
  const memory = cg.paths.get('memory');
  return memory === undefined ? undefined : new V1OomWatcher(memory, onOom, log);
}

export class V1OomWatcher implements OomWatcher {
  readonly #efd: number;
  readonly #watcher: FdWatcher;
  readonly #counter: OomKillCounter;
  readonly #control: string;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    dir: string,
    private readonly onOom: () => void,
    private readonly log: Logger,
  ) {
    this.#control = join(dir, 'memory.oom_control');
    const efd = native.eventfd(0, EFD_NONBLOCK);
    try {
      const ofd = openSync(this.#control, 'r');
      try {
        // "<eventfd> <oom_control fd> " (the trailing empty argument is the OOM event's).
        writeFileSync(join(dir, 'cgroup.event_control'), `${efd} ${ofd} `);
      } finally {
        closeSync(ofd);
      }
      const initial = readKV(this.#control);
      this.#counter = new OomKillCounter((initial && oomKillCount(initial)) ?? 0n);
      this.#watcher = new native.FdWatcher(efd, (status) => {
        this.onReady(status);
      });
      this.#watcher.start(POLL_READABLE);
      // Watching must not be what keeps a shim alive.
      this.#watcher.unref();
    } catch (err) {
      native.closeFd(efd);
      throw err;
    }
    this.#efd = efd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  private onReady(status: number): void {
    try {
      if (status < 0) {
        this.log.warn('oom eventfd watch failed', { status });
        this.close();
        return;
      }
      if (native.eventfdRead(this.#efd) === 0) return; // already consumed by check()
      this.settle(true);
    } catch (err) {
      this.log.warn('oom notification', { error: errorMessage(err) });
    }
  }

  /** `notified`: the eventfd fired (an OOM happened), not just "look at the counter". */
  private settle(notified: boolean, attempt = 0): void {
    const kv = readKV(this.#control);
    if (!kv) {
      // The eventfd also fires when the cgroup is removed: nothing more to watch.
      this.close();
      return;
    }
    const kills = oomKillCount(kv);
    if (kills === undefined) {
      // Kernels before 4.13 count no kills: report every notification, as the reference does.
      if (notified) this.onOom();
      return;
    }
    if (this.#counter.update(kills)) {
      this.clearTimer();
      this.onOom();
      return;
    }
    if (!notified) return;
    if ((kv.get('under_oom') ?? 0n) > 0n) {
      // OOM killer disabled: the group is stuck under OOM; the reference reports that too.
      this.onOom();
      return;
    }
    const delay = RECHECK_DELAYS_MS[attempt];
    if (delay === undefined || this.#closed) return;
    this.clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.settle(true, attempt + 1);
    }, delay);
    this.#timer.unref();
  }

  check(): void {
    // Consume a pending notification here, so the watcher does not report this kill again.
    const notified = !this.#closed && native.eventfdRead(this.#efd) > 0;
    const kv = readKV(this.#control);
    if (!kv) return;
    const kills = oomKillCount(kv);
    if (kills !== undefined && this.#counter.update(kills)) {
      this.clearTimer();
      this.onOom();
    } else if (kills === undefined && notified) {
      this.onOom();
    }
  }

  private clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.clearTimer();
    this.#watcher.close(); // before the fd: epoll must not outlive it
    native.closeFd(this.#efd);
  }
}

export class V2OomWatcher implements OomWatcher {
  readonly #events: string;
  readonly #cgroupEvents: string;
  readonly #counter: OomKillCounter;
  readonly #watchers: FSWatcher[] = [];
  #closed = false;

  constructor(
    dir: string,
    private readonly onOom: () => void,
    private readonly log: Logger,
  ) {
    this.#events = join(dir, 'memory.events');
    this.#cgroupEvents = join(dir, 'cgroup.events');
    const initial = readKV(this.#events);
    this.#counter = new OomKillCounter((initial && oomKillCount(initial)) ?? 0n);
    try {
      for (const file of [this.#events, this.#cgroupEvents]) {
        const w = watch(file, { persistent: false }, () => {
          this.onChange();
        });
        w.on('error', (err) => {
          this.log.warn('oom inotify watch failed', { error: errorMessage(err) });
          this.close();
        });
        this.#watchers.push(w);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  private onChange(): void {
    if (this.#closed) return;
    const events = readKV(this.#events);
    if (!events) {
      this.close(); // memory.events gone: the cgroup was removed
      return;
    }
    const kills = oomKillCount(events);
    if (kills !== undefined && this.#counter.update(kills)) this.onOom();
    const populated = readKV(this.#cgroupEvents)?.get('populated');
    if (populated === undefined || populated === 0n) this.close(); // empty: no more kills
  }

  check(): void {
    const events = readKV(this.#events);
    const kills = events && oomKillCount(events);
    if (kills !== undefined && this.#counter.update(kills)) this.onOom();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watchers) w.close();
    this.#watchers.length = 0;
  }
}
