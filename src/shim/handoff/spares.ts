// The warm process's supply of spares (spare.ts). A job goes to the ready spare; when there is none,
// or it fails or hangs, the daemon is started cold instead (and a hung spare is killed first, so
// one socket never has two daemons). A replacement is started after every job, off the path of
// the `start` that used the spare.
import { readFileSync } from 'node:fs';
import { native, type FdWatcher, POLL_READABLE } from '../../native/index.js';
import { Deferred, sleep, withTimeout } from '../../base/deferred.js';
import {
  spawnDaemon,
  type DaemonJob,
  type DaemonLauncher,
  type LaunchedDaemon,
} from '../daemon.js';
import {
  MAX_SPARE_MESSAGE,
  SPARE_READY,
  spawnWithChannel,
  startWithChannel,
  type SpareJob,
  type SpareReply,
  TITLE_ROOM,
} from './spare.js';
import { Zygote } from './zygote.js';

/** How long a spare may take to take a job before it counts as hung. */
const ADOPT_TIMEOUT_MS = 3000;

const killDaemon = (pid: number) => (): void => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

/** True once `pid` has exited (gone, or a zombie: its fds are closed either way). */
function hasExited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

type SpareState = 'booting' | 'ready' | 'adopting' | 'serving' | 'gone';

class Spare {
  readonly pid: number;
  #state: SpareState = 'booting';
  /** When it last became ready (booted, or back from serving). */
  readySince = 0;
  #channel: number;
  #watcher: FdWatcher;
  #pending: ((message: Buffer | undefined) => void) | undefined;
  /** Settles when the spare is first ready or gone, for every waiter. */
  readonly #settled = new Deferred<void>();

  /**
   * `start` starts the process with the given channel as its fd 3 and returns its pid. `owner`
   * hears when the daemon it became is done and ready again, and when it is gone.
   */
  constructor(
    start: (channel: number) => number,
    private readonly owner: {
      booted(spare: Spare): void;
      returned(spare: Spare): void;
      gone(spare: Spare): void;
    },
  ) {
    const { pid, channel } = startWithChannel(start);
    this.pid = pid;
    this.#channel = channel;
    native.setNonBlocking(channel, true);
    this.#watcher = new native.FdWatcher(channel, () => {
      this.#receive();
    });
    this.#watcher.start(POLL_READABLE);
    this.#watcher.unref();
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  #receive(): void {
    let message;
    try {
      message = native.recvMessage(this.#channel, MAX_SPARE_MESSAGE);
    } catch {
      message = { data: Buffer.alloc(0), fd: -1 };
    }
    if (message === null) return;
    if (message.fd >= 0) native.closeFd(message.fd);
    if (message.data.length === 0) {
      this.close();
      this.#pending?.(undefined);
      this.owner.gone(this);
      return;
    }
    if (message.data.toString() === SPARE_READY) {
      const returning = this.#state === 'serving';
      if (this.#state !== 'booting' && !returning) return;
      this.#state = 'ready';
      this.readySince = Date.now();
      this.#settled.resolve();
      if (returning) this.owner.returned(this);
      else this.owner.booted(this);
      return;
    }
    this.#pending?.(message.data);
  }

  /** Resolves once booted (true), or false if it died or took longer than `ms`. */
  async whenReady(ms: number): Promise<boolean> {
    if (this.#state === 'booting') await withTimeout(this.#settled.promise, ms);
    return this.ready;
  }

  /** Hands the job over; resolves with the daemon's pid. The channel stays for its return. */
  async adopt(job: DaemonJob): Promise<number> {
    this.#state = 'adopting';
    const payload: SpareJob = { flags: job.flags, env: job.env, bundle: job.bundle };
    const answer = new Promise<Buffer | undefined>((resolve) => (this.#pending = resolve));
    native.sendMessage(this.#channel, Buffer.from(JSON.stringify(payload)), job.listenFd);
    const data = await withTimeout(answer, ADOPT_TIMEOUT_MS);
    this.#pending = undefined;
    if (data === undefined) throw new Error(`spare ${String(this.pid)} did not take the job`);
    const reply = JSON.parse(data.toString()) as SpareReply;
    if ('error' in reply) throw new Error(`spare ${String(this.pid)}: ${reply.error}`);
    this.#state = 'serving';
    return reply.pid;
  }

  /** Kills it (never while it serves) and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.#state !== 'serving') killDaemon(this.pid)();
    this.close();
    for (let i = 0; i < 500 && !hasExited(this.pid); i++) await sleep(10);
  }

  /** Closes our end: an idle spare exits on the EOF, a daemon once it is done. */
  close(): void {
    this.#state = 'gone';
    this.#settled.resolve();
    if (this.#channel < 0) return;
    this.#watcher.close();
    native.closeFd(this.#channel);
    this.#channel = -1;
  }
}

/** Ready processes kept when daemons come back, beyond which a returning one is let go. */
const MAX_READY = 2;
/** How long more than one ready process is kept after a burst. */
const EXTRA_READY_MS = 20_000;
/** Spares kept ready (or on their way) while starts come faster than one spare boots. */
const BURST_SPARES = 2;
/** Pause before a zygote that failed is started again. */
const ZYGOTE_RETRY_MS = 10_000;
/**
 * A daemon back this recently means containers come and go: returning daemons (a one-container
 * daemon right after its last container, a grouped one ~1 s after) are the supply, and a spare
 * booted besides would be let go unused.
 */
const RECENT_RETURN_MS = 3000;

/**
 * The warm process's ready processes: freshly booted spares, and daemons of ours that finished
 * serving and came back clean (spare.ts). Reusing those takes the Node start-up off the path of
 * back-to-back containers. One process is kept ready. With a zygote, a start that finds none
 * ready has one forked for itself (a fork costs milliseconds, not a boot). Without one, spares
 * boot one at a time, so a boot never competes with another for the CPU a start needs, and
 * after a start found none ready (it had to wait for a boot, or start cold) while no daemon came
 * back lately, two are kept ready until EXTRA_READY_MS pass without that happening.
 */
export class SparePool implements DaemonLauncher {
  /** Spares booting or booted and not yet used (the oldest first). */
  readonly #fresh: Spare[] = [];
  /** Daemons back from serving, ready for another job (the most recent last). */
  readonly #returned: Spare[] = [];
  /** Daemons that came from this pool and may come back. */
  readonly #serving = new Set<Spare>();
  /** Until when BURST_SPARES are kept rather than one. */
  #burstUntil = 0;
  /** When a daemon last came back. */
  #lastReturn = 0;
  #closed = false;
  /** Forks spares when on (unless TSSHIM_ZYGOTE=0); one that failed is replaced after a pause. */
  #zygote: Zygote | undefined;
  #zygoteRetryAt = 0;

  /** `address`: containerd's; `env`: the spares' environment. */
  constructor(
    private readonly address: string,
    private readonly env: string[],
    private readonly useZygote = false,
  ) {}

  /** Starts a spare with `channel` as its fd 3: forked when the zygote is ready, else booted. */
  #startSpare(channel: number): number {
    if (this.#zygote?.ready === true) {
      try {
        return this.#zygote.fork(channel);
      } catch {
        // gone or hung: this spare boots Node, and a new zygote is started later
        this.#zygoteRetryAt = Date.now() + ZYGOTE_RETRY_MS;
      }
    }
    return spawnWithChannel(['-address', this.address, 'spare', TITLE_ROOM], this.env, channel);
  }

  /**
   * True while a zygote boots (spares then wait for it, rather than boot Node alongside it);
   * starts one when on and due.
   */
  #zygoteBooting(): boolean {
    if (!this.useZygote || this.#closed) return false;
    if (this.#zygote?.alive === true) return !this.#zygote.ready;
    if (Date.now() < this.#zygoteRetryAt) return false;
    this.#zygoteRetryAt = Date.now() + ZYGOTE_RETRY_MS;
    try {
      this.#zygote = new Zygote(['-address', this.address, 'zygote', TITLE_ROOM], this.env, () => {
        this.replenish();
      });
      return true;
    } catch {
      this.#zygote = undefined;
      return false;
    }
  }

  /**
   * How many processes to keep ready now. With a zygote, one: a start that finds none ready has
   * one forked for itself, so a second would only cost memory.
   */
  #target(now = Date.now()): number {
    if (this.#zygote?.ready === true) return 1;
    return now < this.#burstUntil ? BURST_SPARES : 1;
  }

  /**
   * Boots a spare when fewer than wanted are ready or on their way, and none is booting; a
   * failure just means cold starts for now.
   */
  replenish(): void {
    if (this.#closed || this.#fresh.some((spare) => !spare.ready)) return;
    if (this.#fresh.length + this.#returned.length >= this.#target()) return;
    if (this.#zygoteBooting()) return;
    try {
      this.#fresh.push(this.#newSpare());
    } catch {
      // no spare for now: starts run cold
    }
  }

  /** A spare on its way (forked or booted), whose news reaches this pool. */
  #newSpare(): Spare {
    return new Spare((channel) => this.#startSpare(channel), {
      booted: () => {
        this.replenish();
      },
      returned: (spare) => {
        this.#takeBack(spare);
      },
      gone: (spare) => {
        this.#serving.delete(spare);
        this.#forget(spare);
      },
    });
  }

  /** Drops `spare` from the ready lists (it is gone, or taken). */
  #forget(spare: Spare): void {
    for (const list of [this.#fresh, this.#returned]) {
      const at = list.indexOf(spare);
      if (at >= 0) list.splice(at, 1);
    }
  }

  #takeBack(spare: Spare): void {
    this.#serving.delete(spare);
    this.#lastReturn = Date.now();
    if (this.#closed || this.#readyCount >= MAX_READY) spare.close();
    else this.#returned.push(spare);
  }

  /** Processes ready for a job now: returned daemons and booted fresh spares. */
  get #readyCount(): number {
    return this.#returned.length + this.#fresh.filter((spare) => spare.ready).length;
  }

  /**
   * Pids of processes waiting for a job, and of the zygote (not shim daemons, though their command
   * lines say so).
   */
  get waitingPids(): number[] {
    const pids = [...this.#returned, ...this.#fresh].map((spare) => spare.pid);
    if (this.#zygote?.alive === true) pids.push(this.#zygote.pid);
    return pids;
  }

  /** Lets extra ready processes go once a burst is over; one stays ready. */
  trim(now = Date.now()): void {
    const target = this.#target(now);
    for (const spare of [...this.#returned]) {
      if (this.#readyCount <= target) break;
      if (now - spare.readySince < EXTRA_READY_MS) continue;
      this.#forget(spare);
      spare.close();
    }
    // Fresh spares beyond the target, the newest first (a returned daemon has served: kept).
    for (const spare of [...this.#fresh].reverse()) {
      if (this.#readyCount <= target) break;
      if (!spare.ready) continue;
      this.#forget(spare);
      spare.close();
    }
  }

  async launch(job: DaemonJob): Promise<LaunchedDaemon> {
    const returned = this.#returned.pop();
    if (returned !== undefined) return (await this.#handOver(returned, job)) ?? this.launch(job);
    const spare = this.#takeReady() ?? (await this.#spareWhenNoneReady());
    if (spare !== undefined) {
      const launched = await this.#handOver(spare, job);
      if (launched !== undefined) return launched;
    }
    this.replenish();
    return spawnDaemon.launch(job);
  }

  /** A booted fresh spare, taken off the ready list. */
  #takeReady(): Spare | undefined {
    const spare = this.#fresh.find((candidate) => candidate.ready);
    if (spare !== undefined) this.#forget(spare);
    return spare;
  }

  /**
   * A spare for a start that found none ready. With a zygote, one forked for this start alone:
   * under a burst, starts waiting on one booting spare would all but one start cold (31 of 50
   * parallel starts did), each paying a Node boot. Without, the spare already booting, once
   * ready, unless another start took it first.
   */
  async #spareWhenNoneReady(): Promise<Spare | undefined> {
    // Starts come faster than spares are ready: keep more ready for a while (unless daemons
    // are coming back).
    const now = Date.now();
    if (now - this.#lastReturn > RECENT_RETURN_MS) this.#burstUntil = now + EXTRA_READY_MS;
    if (this.#zygote?.ready === true) {
      let forked: Spare;
      try {
        forked = this.#newSpare();
      } catch {
        return undefined;
      }
      if (await forked.whenReady(ADOPT_TIMEOUT_MS)) return forked;
      await forked.kill();
      return undefined;
    }
    // A spare still booting is further along than a Node started now would be: wait for it.
    const booting = this.#fresh[0];
    if (booting === undefined) return undefined;
    if (!(await booting.whenReady(ADOPT_TIMEOUT_MS))) {
      if (hasExited(booting.pid)) {
        booting.close();
        this.#forget(booting);
      }
      return undefined;
    }
    // Another start may have taken it while this one waited.
    if (!this.#fresh.includes(booting)) return undefined;
    this.#forget(booting);
    return booting;
  }

  /** The daemon's pid, or undefined (and the process killed) when it did not take the job. */
  async #handOver(spare: Spare, job: DaemonJob): Promise<LaunchedDaemon | undefined> {
    try {
      const pid = await spare.adopt(job);
      this.#serving.add(spare);
      return { pid, abort: killDaemon(pid) };
    } catch {
      await spare.kill();
      return undefined;
    } finally {
      this.replenish();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#zygote?.close();
    const waiting = [...this.#returned.splice(0), ...this.#fresh.splice(0)];
    await Promise.all(waiting.map((spare) => spare.kill()));
    // Daemons serving carry on; they exit when done instead of coming back.
    for (const spare of this.#serving) spare.close();
    this.#serving.clear();
  }
}
