// Stands in for containerd's ttrpc events endpoint: a shim started with TTRPC_ADDRESS pointing
// here forwards its task events (Events.Forward), which are decoded and handed to a listener.
import { containerd } from '../gen/events.js';
import { Server, type Handler } from '../ttrpc/index.js';
import { dateFromTimestamp } from '../base/proto-util.js';

const FORWARD_SERVICE = 'containerd.services.events.ttrpc.v1.Events';
const events = containerd.events as unknown as Record<
  string,
  { decode(bytes: Uint8Array): object } | undefined
>;

export interface TaskEvent {
  topic: string;
  namespace: string;
  timestamp: Date;
  /** The containerd.events.* message's fields (e.g. container_id, exit_status). */
  payload: Record<string, unknown>;
}

/** The fields of a containerd.events.* payload; {} for a type this build does not know. */
export function decodeEventPayload(typeUrl: string, value: Uint8Array): Record<string, unknown> {
  const type = events[typeUrl.replace(/^.*containerd\.events\./, '')];
  if (!type) return {};
  // Defaults live on the message prototype; for..in sees them, a spread would not.
  const decoded = type.decode(value) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key in decoded) if (typeof decoded[key] !== 'function') out[key] = decoded[key];
  return out;
}

export class EventSink {
  readonly #server = new Server();

  private constructor(readonly path: string) {}

  /** Listens on `path` (a unix socket) and calls `onEvent` for every forwarded event. */
  static async listen(path: string, onEvent: (event: TaskEvent) => void): Promise<EventSink> {
    const sink = new EventSink(path);
    const forward: Handler = (payload) => {
      const { envelope } = containerd.services.events.ttrpc.v1.ForwardRequest.decode(payload);
      if (envelope) {
        onEvent({
          topic: envelope.topic ?? '',
          namespace: envelope.namespace ?? '',
          timestamp: dateFromTimestamp(envelope.timestamp ?? {}),
          payload: decodeEventPayload(
            envelope.event?.type_url ?? '',
            envelope.event?.value ?? new Uint8Array(),
          ),
        });
      }
      return Promise.resolve(new Uint8Array());
    };
    sink.#server.register(FORWARD_SERVICE, { Forward: forward });
    await sink.#server.listen(path);
    return sink;
  }

  async close(): Promise<void> {
    await this.#server.close();
  }
}
