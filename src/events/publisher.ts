// Publishes task events to containerd with ttrpc Events.Forward on $TTRPC_ADDRESS.
// One FIFO queue, one sender waiting for each reply: events arrive in the order they were queued.
// While containerd is unreachable (restarting), the head event is retried with backoff rather
// than dropped, so a restart loses nothing.
import { Client, Code, TtrpcError } from '../ttrpc/index.js';
import { containerd } from '../gen/proto.js';
import { timestampFromDate } from '../base/proto-util.js';
import { sleep } from '../base/deferred.js';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';

export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';
const FORWARD_SERVICE = 'containerd.services.events.ttrpc.v1.Events';
const FORWARD_TIMEOUT_MS = 5000;
const MAX_BACKOFF_MS = 2000;

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

  constructor(
    private readonly ttrpcAddress: string,
    private readonly namespace: string,
    private readonly log: Logger,
  ) {}

  /** Queues an event; it is sent after every event queued before it. */
  publish(topic: string, typeUrl: string, value: Uint8Array): void {
    if (this.#closed) return;
    this.#queue.push({ topic, typeUrl, value, at: new Date() });
    if (!this.#running) {
      this.#running = true;
      void this.drain();
    }
    this.#wake?.();
  }

  /** Resolves once the queue is empty, or after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    if (this.#queue.length === 0) return;
    await Promise.race([
      new Promise<void>((resolve) => this.#idle.push(resolve)),
      sleep(timeoutMs),
    ]);
  }

  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#wake?.();
    this.#client?.close();
    this.#client = undefined;
  }

  private async drain(): Promise<void> {
    let backoff = 50;
    while (!this.#closed) {
      const event = this.#queue[0];
      if (!event) break;
      try {
        await this.send(event);
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
