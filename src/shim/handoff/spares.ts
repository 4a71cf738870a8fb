// The warm process's supply of spares (spare.ts). A job goes to the ready spare; when there is none,
// or it fails or hangs, the daemon is started cold instead (and a hung spare is killed first, so
// one socket never has two daemons). A replacement is started after every job, off the path of
// the `start` that used the spare.
import { readFileSync } from 'node:fs';
import { native, type FdWatcher, POLL_READABLE } from '../../native/index.js';
import { Deferred, sleep, withTimeout } from '../../base/deferred.js';
import { spawnDetached } from '../../reaper/index.js';
import { nodeCommand } from '../node-command.js';
import {
  spawnDaemon,
  type DaemonJob,
  type DaemonLauncher,
  type LaunchedDaemon,
} from '../daemon.js';
import {
  MAX_SPARE_MESSAGE,
  SPARE_CHANNEL_FD,
  SPARE_READY,
  type SpareJob,
  type SpareReply,
} from './spare.js';

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

class Spare {
  readonly pid: number;
  ready = false;
  #channel: number;
  #watcher: FdWatcher;
  #pending: ((message: Buffer | undefined) => void) | undefined;
  /** Settles when the spare is ready or gone, for every waiter. */
  readonly #settled = new Deferred<void>();

  constructor(args: string[], env: string[]) {
    const [mine, theirs] = native.seqpacketPair();
    try {
      const argv = nodeCommand(args);
      const fds = [-1, -1, -1];
      fds[SPARE_CHANNEL_FD] = theirs;
      this.pid = spawnDetached({ file: argv[0] ?? process.execPath, argv, env, fds });
    } catch (err) {
      native.closeFd(mine);
      throw err;
    } finally {
      native.closeFd(theirs);
    }
    this.#channel = mine;
    native.setNonBlocking(mine, true);
    this.#watcher = new native.FdWatcher(mine, () => {
      this.#receive();
    });
    this.#watcher.start(POLL_READABLE);
    this.#watcher.unref();
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
      this.ready = false;
      this.close();
      this.#pending?.(undefined);
      this.#settled.resolve();
      return;
    }
    if (!this.ready && message.data.toString() === SPARE_READY) {
      this.ready = true;
      this.#settled.resolve();
      return;
    }
    this.#pending?.(message.data);
  }

  /** Resolves once booted (true), or false if it died or took longer than `ms`. */
  async whenReady(ms: number): Promise<boolean> {
    if (!this.ready) await withTimeout(this.#settled.promise, ms);
    return this.ready;
  }

  /** Hands the job over; resolves with the daemon's pid. */
  async adopt(job: DaemonJob): Promise<number> {
    const payload: SpareJob = { flags: job.flags, env: job.env, bundle: job.bundle };
    const answer = new Promise<Buffer | undefined>((resolve) => (this.#pending = resolve));
    native.sendMessage(this.#channel, Buffer.from(JSON.stringify(payload)), job.listenFd);
    const data = await withTimeout(answer, ADOPT_TIMEOUT_MS);
    if (data === undefined) throw new Error(`spare ${String(this.pid)} did not take the job`);
    const reply = JSON.parse(data.toString()) as SpareReply;
    if ('error' in reply) throw new Error(`spare ${String(this.pid)}: ${reply.error}`);
    this.close();
    return reply.pid;
  }

  /** Kills it and waits until it is gone, so nothing it was given outlives it. */
  async kill(): Promise<void> {
    killDaemon(this.pid)();
    this.close();
    for (let i = 0; i < 500 && !hasExited(this.pid); i++) await sleep(10);
  }

  close(): void {
    this.#settled.resolve();
    if (this.#channel < 0) return;
    this.#watcher.close();
    native.closeFd(this.#channel);
    this.#channel = -1;
  }
}

export class SparePool implements DaemonLauncher {
  #spare: Spare | undefined;
  #closed = false;

  /** `args`: the spare's command line (containerd's address, the spare action). */
  constructor(
    private readonly args: string[],
    private readonly env: string[],
  ) {}

  /** Starts a spare unless one is there; a failure just means cold starts for now. */
  replenish(): void {
    if (this.#closed || this.#spare !== undefined) return;
    try {
      this.#spare = new Spare(this.args, this.env);
    } catch {
      this.#spare = undefined;
    }
  }

  get sparePid(): number | undefined {
    return this.#spare?.pid;
  }

  async launch(job: DaemonJob): Promise<LaunchedDaemon> {
    const spare = this.#spare;
    // A spare still booting is further along than a Node started now would be: wait for it.
    if (spare !== undefined && (await spare.whenReady(ADOPT_TIMEOUT_MS)) && this.#spare === spare) {
      this.#spare = undefined;
      try {
        const pid = await spare.adopt(job);
        return { pid, abort: killDaemon(pid) };
      } catch {
        await spare.kill();
      } finally {
        this.replenish();
      }
    } else if (spare !== undefined && this.#spare === spare && hasExited(spare.pid)) {
      spare.close();
      this.#spare = undefined;
      this.replenish();
    }
    return spawnDaemon.launch(job);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#spare?.kill();
    this.#spare = undefined;
  }
}
