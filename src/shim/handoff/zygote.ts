// The zygote (on unless TSSHIM_ZYGOTE=0): a Node process booted once with the daemon's code loaded,
// which makes the warm process's spares by fork(2) instead of by a Node start-up each. A forked
// spare costs a few milliseconds of CPU instead of ~200, and shares the zygote's code and heap
// pages copy-on-write. It runs V8 without background threads (--single-threaded): fork copies
// only the calling thread, so no V8 task may be in flight in another one; and it forks only while
// idle, blocked in a read of its channel (fd 3, SOCK_SEQPACKET to the warm process).
//
// The channel: the zygote says ZYGOTE_READY once loaded; each request is one message carrying the
// new spare's channel (SCM_RIGHTS), answered with the spare's pid (a SpareReply). EOF: exit.
import { native, type FdWatcher, POLL_READABLE } from '../../native/index.js';
import { nodeCommand, ZYGOTE_NODE_FLAGS } from '../node-command.js';
import {
  MAX_SPARE_MESSAGE,
  runSpare,
  settle,
  spawnWithChannel,
  SPARE_CHANNEL_FD,
  startWithChannel,
  type SpareReply,
} from './spare.js';

/** The same fd as a spare's: both are started by spawnWithChannel. */
const ZYGOTE_CHANNEL_FD = SPARE_CHANNEL_FD;
export const ZYGOTE_READY = 'ready';
const FORK_REQUEST = 'fork';
/** A fork takes milliseconds; a zygote silent this long is hung (and killed). */
const FORK_TIMEOUT_MS = 1000;

/** The process this zygote is, in a forked copy: its own pid, and an exit that skips Node's. */
export function becomeForked(): void {
  const { pid } = native.processIds();
  Object.defineProperty(process, 'pid', { value: pid, enumerable: true, configurable: true });
  Object.defineProperty(process, 'ppid', {
    get: () => native.processIds().ppid,
    enumerable: true,
    configurable: true,
  });
  // process.exit ends in process.reallyExit, whose teardown joins the V8 worker threads that were
  // not copied.
  Reflect.set(process, 'reallyExit', (code: number) => native.exitNow(code));
}

/**
 * The zygote: loads the daemon's code, then forks one spare per request. Returns (to exit) at EOF;
 * in a forked spare, returns when that spare is done.
 */
export async function runZygote(address: string): Promise<void> {
  await import('../serve.js');
  // Node's own modules that a daemon loads on first use (net's listen loads cluster, and with it
  // child_process and dgram): loaded here, they are compiled once for every forked daemon.
  await import('node:cluster');
  // What `ps` shows of the spares it forks: a spare's command line, with the zygote's flags.
  const spareTitle = nodeCommand(['-address', address, 'spare'], ZYGOTE_NODE_FLAGS).join(' ');
  const channel = native.dupFd(ZYGOTE_CHANNEL_FD);
  native.closeFd(ZYGOTE_CHANNEL_FD);
  // Made now, on our /dev/null, so every forked spare has the same one (see runSpare).
  Reflect.get(process, 'stderr');
  await settle();
  const send = (text: string): void => {
    native.sendMessage(channel, Buffer.from(text), -1);
  };
  try {
    send(ZYGOTE_READY);
  } catch {
    return; // the warm process is gone
  }
  for (;;) {
    // Blocking: idle, as a fork needs it.
    const message = native.recvMessage(channel, MAX_SPARE_MESSAGE);
    if (message === null || message.data.length === 0) return;
    let reply: SpareReply;
    if (message.fd < 0 || message.data.toString() !== FORK_REQUEST) {
      reply = { error: 'a fork request carries the new spare channel and nothing else' };
    } else {
      let forked: { pid: number } | { error: string };
      try {
        forked = { pid: native.forkDetached() };
      } catch (err) {
        forked = { error: err instanceof Error ? err.message : String(err) };
      }
      if ('pid' in forked && forked.pid === 0) {
        native.closeFd(channel);
        becomeForked();
        // Nothing is touched ahead of the job: copying the whole young generation up front (to
        // take its copy-on-write faults off the job's path) cost each daemon ~1.1 MiB of PSS and
        // 4-8 ms of CPU, more than the faults it saved, and back-to-back starts were no faster.
        await runSpare(message.fd, spareTitle);
        return;
      }
      reply = forked;
    }
    if (message.fd >= 0) native.closeFd(message.fd);
    try {
      send(JSON.stringify(reply));
    } catch {
      return;
    }
  }
}

/** The warm process's end of a zygote. Requests are synchronous: a fork answers in milliseconds. */
export class Zygote {
  readonly pid: number;
  #channel: number;
  #ready = false;
  /** Watches for the zygote's first message only (ready, or EOF if it died booting). */
  #watcher: FdWatcher | undefined;

  /**
   * Starts one: `args` is its command line (containerd's address, the zygote action). `settled`
   * runs once it is ready to fork, or gone before that.
   */
  constructor(args: readonly string[], env: string[], settled: () => void) {
    const { pid, channel } = startWithChannel((theirs) =>
      spawnWithChannel(args, env, theirs, ZYGOTE_NODE_FLAGS),
    );
    this.pid = pid;
    this.#channel = channel;
    this.#watcher = new native.FdWatcher(channel, () => {
      this.#stopWatching();
      this.#ready = this.#receive() === ZYGOTE_READY;
      if (!this.#ready) this.kill();
      settled();
    });
    this.#watcher.start(POLL_READABLE);
    this.#watcher.unref();
  }

  get alive(): boolean {
    return this.#channel >= 0;
  }

  /** Booted and able to fork. */
  get ready(): boolean {
    return this.#ready && this.alive;
  }

  /**
   * A spare forked with `spareChannel` as its channel: its pid. Throws when the zygote is not
   * ready, and when it is gone or hung (then it is killed: the next one is started afresh).
   */
  fork(spareChannel: number): number {
    if (!this.ready) throw new Error('the zygote is not ready');
    native.sendMessage(this.#channel, Buffer.from(FORK_REQUEST), spareChannel);
    if (!native.waitReadable(this.#channel, FORK_TIMEOUT_MS)) {
      this.kill();
      throw new Error(`the zygote did not fork within ${String(FORK_TIMEOUT_MS)} ms`);
    }
    const text = this.#receive();
    if (text === '') throw new Error('the zygote is gone');
    const reply = JSON.parse(text) as SpareReply;
    if ('error' in reply) throw new Error(`the zygote: ${reply.error}`);
    return reply.pid;
  }

  /** One message; at EOF (or garbage) the zygote is done with, and '' returned. */
  #receive(): string {
    let message;
    try {
      message = native.recvMessage(this.#channel, MAX_SPARE_MESSAGE);
    } catch {
      message = null;
    }
    if (message !== null && message.fd >= 0) native.closeFd(message.fd);
    if (message === null || message.data.length === 0) {
      this.kill();
      return '';
    }
    return message.data.toString();
  }

  #stopWatching(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  kill(): void {
    if (this.#channel < 0) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.close();
  }

  /** Closes our end: the zygote exits at the EOF. Spares it forked carry on. */
  close(): void {
    if (this.#channel < 0) return;
    this.#stopWatching();
    native.closeFd(this.#channel);
    this.#channel = -1;
  }
}
