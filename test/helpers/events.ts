// Subscribes to containerd's gRPC events API (containerd.services.events.v1.Events/Subscribe)
// and decodes each envelope's containerd.events.* payload.
import * as grpc from '@grpc/grpc-js';
import { containerd } from '../../src/gen/events.js';
import { dateFromTimestamp } from '../../src/base/proto-util.js';
import { waitFor } from './leaks.js';
import { decodeEvent } from '../../src/client/event-sink.js';

const ev = containerd.services.events.v1;

export interface DecodedEvent {
  topic: string;
  namespace: string;
  timestamp: Date;
  typeUrl: string;
  payload: Record<string, unknown>;
}

export interface EventStream {
  events: DecodedEvent[];
  ready: Promise<void>;
  waitFor(pred: (e: DecodedEvent) => boolean, timeoutMs: number): Promise<DecodedEvent>;
  close(): void;
}

export function subscribeEvents(address: string, filters: string[] = []): EventStream {
  const client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure());
  const events: DecodedEvent[] = [];
  const call = client.makeServerStreamRequest(
    '/containerd.services.events.v1.Events/Subscribe',
    (req: { filters: string[] }) => Buffer.from(ev.SubscribeRequest.encode(req).finish()),
    (buf: Buffer) => ev.Envelope.decode(buf),
    { filters },
  );
  call.on('data', (env: InstanceType<typeof ev.Envelope>) => {
    const typeUrl = env.event?.type_url ?? '';
    events.push({
      topic: env.topic,
      namespace: env.namespace,
      timestamp: dateFromTimestamp(env.timestamp ?? {}),
      typeUrl,
      payload: decodeEvent(typeUrl, env.event?.value ?? new Uint8Array()),
    });
  });
  call.on('error', () => undefined);
  // Live once containerd sends headers; grpc-go may delay them to the first event, so also
  // give up waiting after a short grace period.
  const ready = new Promise<void>((resolve) => {
    call.once('metadata', () => {
      resolve();
    });
    setTimeout(resolve, 1000).unref();
  });
  return {
    events,
    ready,
    async waitFor(pred, timeoutMs) {
      await waitFor(() => events.some(pred), timeoutMs, 20);
      const found = events.find(pred);
      if (!found) throw new Error('unreachable');
      return found;
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}
