// Publishes task events to containerd with ttrpc Events.Forward on $TTRPC_ADDRESS.
// One FIFO queue, one sender waiting for each reply: events arrive in the order they were queued.
// While containerd is unreachable (restarting), the head event is retried with backoff for as long
// as it takes (the reference gives up after a few attempts), so a restart loses nothing.
//
// The queue is bounded (MAX_QUEUED_EVENTS) so a long outage with busy containers cannot grow the
// shim's memory without limit. Past the bound the oldest queued event that is not a /tasks/exit
// is dropped (and logged); exits are never dropped: containerd learns a process ended only from
// its exit, and there is at most one per process, so they cannot grow the queue unboundedly.
import { Client, Code, TtrpcError } from '../ttrpc/index.js';
import { containerd } from '../gen/events.js';
import { timestampFromDate } from '../base/proto-util.js';
import { sleep } from '../base/deferred.js';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';

export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';
const FORWARD_SERVICE = 'containerd.services.events.ttrpc.v1.Events';
const FORWARD_TIMEOUT_MS = 5000;
const MAX_BACKOFF_MS = 2000;
/** Events held while containerd is away: about 2 MB for typical task events (~200 bytes each). */
export const MAX_QUEUED_EVENTS = 10_000;
const EXIT_TOPIC = '/tasks/exit';

export interface QueuedEvent {
  topic: string;
  typeUrl: string;
  value: Uint8Array;
  at: Date;
}

export class EventPublisher {
  #queue: QueuedEvent[] = [];
  #client: Client | undefined;
  #wake: (() => void) | undefined;
  #running = false;
  #closed = false;
  #idle: (() => void)[] = [];
  /** Events dropped to keep the bound, since the shim started. */
  #dropped = 0;
  /** Held for a live upgrade: nothing new is sent. */
  #held = false;
  /** A Forward is on the wire; its reply decides whether the head event was delivered. */
  #sending = false;
  #sendDone: (() => void)[] = [];

  constructor(
    private readonly ttrpcAddress: string,
    private readonly namespace: string,
    private readonly log: Logger,
    private readonly maxQueued = MAX_QUEUED_EVENTS,
  ) {}

  /** Events waiting to be delivered (the head one may be in flight). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Events dropped so far to keep the queue within its bound. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Live upgrade: lets the send in flight finish (its outcome is then known, so nothing is sent
   * twice), sends nothing more, and resolves false if a send is still unfinished after
   * `timeoutMs`. resume() undoes it.
   */
  async hold(timeoutMs: number): Promise<boolean> {
    this.#held = true;
    this.#wake?.();
    if (!this.#sending) return true;
    await Promise.race([
      new Promise<void>((resolve) => this.#sendDone.push(resolve)),
      sleep(timeoutMs),
    ]);
    return !this.#sending;
  }

  resume(): void {
    this.#held = false;
    if (this.#queue.length > 0 && !this.#running) {
      this.#running = true;
      void this.drain();
    }
  }

  /** The undelivered events, oldest first (only meaningful while held). */
  pending(): readonly QueuedEvent[] {
    return this.#queue;
  }

  /** Events handed over by the process image before this one: sent before anything new. */
  adopt(events: readonly QueuedEvent[], dropped: number): void {
    this.#queue.unshift(...events);
    this.#dropped += dropped;
    if (this.#queue.length > 0 && !this.#running) {
      this.#running = true;
      void this.drain();
    }
  }

  /** Queues an event; it is sent after every event queued before it. */
  publish(topic: string, typeUrl: string, value: Uint8Array): void {
    if (this.#closed) return;
    this.#queue.push({ topic, typeUrl, value, at: new Date() });
    if (this.#queue.length > this.maxQueued) this.dropOldest();
    if (!this.#running) {
      this.#running = true;
      void this.drain();
    }
    this.#wake?.();
  }

  /**
   * Resolves once the queue is empty, or after `timeoutMs`. Its timer is ref'd: on the way out
   * it may be all that keeps the process alive while the sender waits out a backoff (whose
   * timers are unref'd), and without it the process would end with the events undelivered.
   */
  async flush(timeoutMs: number): Promise<void> {
    if (this.#queue.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#wake?.();
    this.#client?.close();
    this.#client = undefined;
  }

  /** Drops the oldest non-exit event; the head may be in flight, so it is never touched. */
  private dropOldest(): void {
    const index = this.#queue.findIndex((e, i) => i > 0 && e.topic !== EXIT_TOPIC);
    // Only exits queued: keep them all (at most one per process).
    if (index < 0) return;
    const [event] = this.#queue.splice(index, 1);
    this.#dropped++;
    // One line per thousand drops: an outage must not also flood the log.
    if (this.#dropped % 1000 === 1) {
      this.log.warn('event queue full, oldest non-exit event dropped', {
        topic: event?.topic,
        queued: this.#queue.length,
        dropped: this.#dropped,
      });
    }
  }

  private async drain(): Promise<void> {
    let backoff = 50;
    while (!this.#closed && !this.#held) {
      const event = this.#queue[0];
      if (!event) break;
      try {
        this.#sending = true;
        try {
          await this.send(event);
        } finally {
          this.#sending = false;
          for (const resolve of this.#sendDone.splice(0)) resolve();
        }
        this.#queue.shift();
        backoff = 50;
      } catch (err) {
        if (err instanceof TtrpcError && err.code === Code.InvalidArgument) {
          this.log.error('event rejected by containerd, dropped', {
            topic: event.topic,
            error: errorMessage(err),
          });
          this.#queue.shift();
          continue;
        }
        this.#client?.close();
        this.#client = undefined;
        this.log.warn('publish failed, retrying', { topic: event.topic, error: errorMessage(err) });
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, backoff).unref();
        });
        this.#wake = undefined;
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    this.#running = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  private async send(event: QueuedEvent): Promise<void> {
    this.#client ??= await Client.connect(this.ttrpcAddress.replace(/^unix:\/\//, ''));
    const request = containerd.services.events.ttrpc.v1.ForwardRequest.encode({
      envelope: {
        timestamp: timestampFromDate(event.at),
        namespace: this.namespace,
        topic: event.topic,
        event: { type_url: event.typeUrl, value: event.value },
      },
    }).finish();
    await this.#client.call(FORWARD_SERVICE, 'Forward', request, {
      timeoutMs: FORWARD_TIMEOUT_MS,
      metadata: { [NAMESPACE_METADATA_KEY]: this.namespace },
    });
  }
}
