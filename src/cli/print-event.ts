// One line per task event: the topic, then its fields as JSON (64-bit numbers as decimal text).
import type { TaskEvent } from '../client/index.js';

export function eventLine(e: TaskEvent): string {
  const body = JSON.stringify(e.event, (_k, v: unknown) =>
    typeof v === 'object' && v !== null && 'low' in v && 'high' in v
      ? (v as { toString(): string }).toString()
      : v,
  );
  return `${e.topic} ${body}\n`;
}
