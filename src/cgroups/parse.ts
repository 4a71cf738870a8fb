// Parsing of cgroup files, with the reference's (containerd/cgroups) number rules: values are
// unsigned 64-bit (bigint, as limits such as 2^63-4096 exceed a double), negative values read as
// 0, and single-value files may say "max".
import { readFile } from 'node:fs/promises';
import { errorCode } from '../base/errors.js';

export const MAX_UINT64 = (1n << 64n) - 1n;
export const MAX_UINT32 = 2 ** 32 - 1;

const UINT = /^\d+$/;
const INT = /^-\d+$/;

/** Go's strconv.ParseUint as containerd/cgroups wraps it: any negative integer becomes 0. */
export function parseUint(s: string): bigint {
  if (UINT.test(s)) {
    const v = BigInt(s);
    if (v > MAX_UINT64) throw new RangeError(`value out of range: ${s}`);
    return v;
  }
  if (INT.test(s)) return 0n;
  throw new SyntaxError(`invalid unsigned integer: ${JSON.stringify(s)}`);
}

/** One `key value` line; anything else is a format error, as in the reference. */
export function parseKV(line: string): [string, bigint] {
  const parts = line.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0] === '' || parts[1] === undefined) {
    throw new SyntaxError(`invalid key/value line: ${JSON.stringify(line)}`);
  }
  return [parts[0] ?? '', parseUint(parts[1])];
}

/** Non-empty lines of a file. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** A `key value` per line file as a map. */
export function parseKVText(text: string): Map<string, bigint> {
  return new Map(lines(text).map(parseKV));
}

export async function readKVFile(path: string): Promise<Map<string, bigint>> {
  return parseKVText(await readFile(path, 'utf8'));
}

export async function readUintFile(path: string): Promise<bigint> {
  return parseUint((await readFile(path, 'utf8')).trim());
}

/** A missing file (or a cgroup removed under us): the reference skips such data. */
export function isGone(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENODEV';
}
