// Stats payloads at the edge: plain cgroup metrics (src/cgroups) become the protobuf Any that
// containerd decodes, with the bare type URLs it registers.
import $protobuf from 'protobufjs/minimal.js';
import type Long from 'long';
import type { CgroupMetrics } from '../cgroups/index.js';

const LongCtor = $protobuf.util.Long as unknown as typeof Long;
const MASK32 = 0xffffffffn;

/** The plain shape with every bigint as an unsigned Long, which protobufjs writes as uint64. */
type Wire<T> = T extends bigint
  ? Long
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;

export function toWire<T>(value: T): Wire<T> {
  return convert(value) as Wire<T>;
}

function convert(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return LongCtor.fromBits(Number(value & MASK32) | 0, Number((value >> 32n) & MASK32) | 0, true);
  }
  if (Array.isArray(value)) return value.map(convert);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = convert(v);
    return out;
  }
  return value;
}

/** The metrics codecs are large and only Stats needs them: loaded on the first call. */
export async function encodeMetrics(
  m: CgroupMetrics,
): Promise<{ type_url: string; value: Uint8Array }> {
  const { io } = await import('../gen/metrics.js');
  if (m.version === 1) {
    return {
      type_url: 'io.containerd.cgroups.v1.Metrics',
      value: io.containerd.cgroups.v1.Metrics.encode(toWire(m.metrics)).finish(),
    };
  }
  return {
    type_url: 'io.containerd.cgroups.v2.Metrics',
    value: io.containerd.cgroups.v2.Metrics.encode(toWire(m.metrics)).finish(),
  };
}
