// Small conversions around generated protobuf types.

/** protobufjs decodes int64 as Long when the long package is present. */
export interface LongLike {
  toString(): string;
  toNumber?(): number;
}

/**
 * Long's own toNumber, not Number(toString()): the string goes through Long's division in
 * JavaScript, which was a sixth of a State call's CPU (each request's timeout_nano). Both round
 * the same way beyond 2^53.
 */
export function toNumber(v: number | LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  return v.toNumber ? v.toNumber() : Number(v.toString());
}

export interface TimestampValue {
  seconds: number;
  nanos: number;
}

/** Go's zero time.Time, which the reference sends as exited_at for a process still running. */
export const GO_ZERO_TIME: TimestampValue = { seconds: -62135596800, nanos: 0 };

export function timestampFromDate(d: Date): TimestampValue {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

export function dateFromTimestamp(ts: {
  seconds?: number | LongLike | null;
  nanos?: number | null;
}): Date {
  return new Date(toNumber(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000));
}
