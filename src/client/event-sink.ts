// Receives a shim's task events: a ttrpc server for Events.Forward, the service containerd offers
// on TTRPC_ADDRESS, that decodes each envelope and emits it.
import { EventEmitter } from 'node:events';
import { Server } from '../ttrpc/index.js';
import { containerd } from '../gen/events.js';
import { dateFromTimestamp } from '../base/proto-util.js';

const FORWARD_SERVICE = 'containerd.services.events.ttrpc.v1.Events';

export interface TaskEvent {
  topic: string;
  namespace: string;
  timestamp: Date;
  typeUrl: string;
  /** The decoded containerd.events.* message as a plain object ({} for an unknown type). */
  event: Record<string, unknown>;
}

/** The fields of a containerd.events.* payload; {} for a type this build does not know. */
export function decodeEvent(typeUrl: string, value: Uint8Array): Record<string, unknown> {
  const name = typeUrl.replace(/^.*containerd\.events\./, '');
  const type = (
    containerd.events as unknown as Record<string, { decode(b: Uint8Array): object } | undefined>
  )[name];
  if (!type) return {};
  // Defaults live on the message prototype; for..in sees them, a spread would not.
  const decoded = type.decode(value) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key in decoded) if (typeof decoded[key] !== 'function') out[key] = decoded[key];
  return out;
}

export class EventSink extends EventEmitter<{ event: [TaskEvent] }> {
  readonly #server = new Server();

  private constructor(readonly path: string) {
    super();
    this.#server.register(FORWARD_SERVICE, {
      Forward: (payload) => {
        const req = containerd.services.events.ttrpc.v1.ForwardRequest.decode(payload);
        const env = req.envelope;
        if (env) {
          const typeUrl = env.event?.type_url ?? '';
          this.emit('event', {
            topic: env.topic ?? '',
            namespace: env.namespace ?? '',
            timestamp: dateFromTimestamp(env.timestamp ?? {}),
            typeUrl,
            event: decodeEvent(typeUrl, env.event?.value ?? new Uint8Array()),
          });
        }
        return Promise.resolve(new Uint8Array());
      },
    });
  }

  /** Listens on a unix socket path. */
  static async listen(path: string): Promise<EventSink> {
    const sink = new EventSink(path);
    await sink.#server.listen(path);
    return sink;
  }

  close(): Promise<void> {
    return this.#server.close();
  }
}
