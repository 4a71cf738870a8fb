// Task event topics and the protobuf type (bare type URL, as containerd 1.6 requires) of each.
import { containerd } from '../gen/events.js';
import type { EventPublisher } from './publisher.js';

type Events = typeof containerd.events;

/** Typed helpers: encode the event message and queue it under its topic. */
export class TaskEvents {
  constructor(private readonly publisher: EventPublisher) {}

  private send<K extends keyof Events>(
    topic: string,
    name: K,
    message: Parameters<Events[K]['encode']>[0],
  ): void {
    const type = containerd.events[name] as { encode(m: unknown): { finish(): Uint8Array } };
    this.publisher.publish(topic, `containerd.events.${name}`, type.encode(message).finish());
  }

  create(m: Parameters<Events['TaskCreate']['encode']>[0]): void {
    this.send('/tasks/create', 'TaskCreate', m);
  }
  start(m: Parameters<Events['TaskStart']['encode']>[0]): void {
    this.send('/tasks/start', 'TaskStart', m);
  }
  exit(m: Parameters<Events['TaskExit']['encode']>[0]): void {
    this.send('/tasks/exit', 'TaskExit', m);
  }
  delete(m: Parameters<Events['TaskDelete']['encode']>[0]): void {
    this.send('/tasks/delete', 'TaskDelete', m);
  }
  execAdded(m: Parameters<Events['TaskExecAdded']['encode']>[0]): void {
    this.send('/tasks/exec-added', 'TaskExecAdded', m);
  }
  execStarted(m: Parameters<Events['TaskExecStarted']['encode']>[0]): void {
    this.send('/tasks/exec-started', 'TaskExecStarted', m);
  }
  paused(m: Parameters<Events['TaskPaused']['encode']>[0]): void {
    this.send('/tasks/paused', 'TaskPaused', m);
  }
  resumed(m: Parameters<Events['TaskResumed']['encode']>[0]): void {
    this.send('/tasks/resumed', 'TaskResumed', m);
  }
  oom(m: Parameters<Events['TaskOOM']['encode']>[0]): void {
    this.send('/tasks/oom', 'TaskOOM', m);
  }
}
