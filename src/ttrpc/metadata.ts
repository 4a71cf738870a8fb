// Request metadata: the wire's repeated KeyValue list, as a multi-valued map for handlers.
import type { ttrpc } from '../gen/ttrpc.js';

export type Metadata = Map<string, string[]>;

/** Repeated keys become one multi-valued entry, in wire order. */
export function metadataFromList(
  list: readonly ttrpc.KeyValue.$Properties[] | null | undefined,
): Metadata {
  const md: Metadata = new Map();
  for (const kv of list ?? []) {
    const key = kv.key ?? '';
    const values = md.get(key);
    if (values) values.push(kv.value ?? '');
    else md.set(key, [kv.value ?? '']);
  }
  return md;
}

/** Keys are lower-cased, as the reference's MD.Set does. */
export function metadataToList(
  md: Readonly<Record<string, string | readonly string[]>> | ReadonlyMap<string, readonly string[]>,
): ttrpc.KeyValue.$Properties[] {
  const entries: Iterable<[string, string | readonly string[]]> =
    md instanceof Map ? md.entries() : Object.entries(md);
  const list: ttrpc.KeyValue.$Properties[] = [];
  for (const [key, value] of entries) {
    const values: readonly string[] = typeof value === 'string' ? [value] : value;
    for (const v of values) list.push({ key: key.toLowerCase(), value: v });
  }
  return list;
}
