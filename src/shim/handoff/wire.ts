// The relay protocol between the launcher (native/launcher/launcher.c) and a Node process of ours,
// over one unix stream connection. Integers are little-endian; str = u32 length + bytes.
//
//   launcher -> Node   "TSR1" u32 n, then n bytes: u32 argc, argc x str; u32 envc, envc x str;
//                      str cwd
//   Node -> launcher   'A'                     accepted (first, at once): the launcher now waits
//                                              for the answer as long as the work takes
//                      'I'                     send stdin: the launcher answers u32 n + n bytes
//                      'R' u32 code, str stdout, str stderr
//                                              the answer: printed as is; `code` is the exit status
//                      'C'                     run Node directly in place of the launcher
//
// The launcher prints nothing before a whole 'R' has arrived, so a relay that fails part-way can be
// retried elsewhere.

export const REQUEST_MAGIC = 'TSR1';
/** Bound on the request body (argv, env, cwd). */
export const MAX_REQUEST_BYTES = 1 << 20;
/** Bound on stdin (start's options; the launcher enforces the same bound). */
export const MAX_STDIN_BYTES = 4 << 20;
const MAX_COUNT = 65536;

export const ACCEPTED = Buffer.from('A');
export const ASK_STDIN = Buffer.from('I');
export const RUN_DIRECT = Buffer.from('C');

export interface RelayRequest {
  argv: string[];
  env: string[];
  cwd: string;
}

export class WireError extends Error {
  override readonly name = 'WireError';
}

export function encodeRequest(req: RelayRequest): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    parts.push(b);
  };
  const str = (s: string): void => {
    const b = Buffer.from(s);
    u32(b.length);
    parts.push(b);
  };
  u32(req.argv.length);
  req.argv.forEach(str);
  u32(req.env.length);
  req.env.forEach(str);
  str(req.cwd);
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(8);
  header.write(REQUEST_MAGIC, 0, 'latin1');
  header.writeUInt32LE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** The body's length from the 8-byte header; throws on anything that is not our launcher. */
export function requestBodyLength(header: Buffer): number {
  if (header.subarray(0, 4).toString('latin1') !== REQUEST_MAGIC) {
    throw new WireError('not a relay request (bad magic)');
  }
  const n = header.readUInt32LE(4);
  if (n > MAX_REQUEST_BYTES) {
    throw new WireError(`relay request of ${String(n)} bytes exceeds ${String(MAX_REQUEST_BYTES)}`);
  }
  return n;
}

export function decodeRequestBody(body: Buffer): RelayRequest {
  let at = 0;
  const u32 = (): number => {
    if (at + 4 > body.length) throw new WireError('truncated relay request');
    const n = body.readUInt32LE(at);
    at += 4;
    return n;
  };
  const str = (): string => {
    const n = u32();
    if (at + n > body.length) throw new WireError('truncated relay request');
    const s = body.toString('utf8', at, at + n);
    at += n;
    return s;
  };
  const list = (): string[] => {
    const count = u32();
    if (count > MAX_COUNT) throw new WireError(`relay request list of ${String(count)} entries`);
    return Array.from({ length: count }, str);
  };
  const argv = list();
  const env = list();
  const cwd = str();
  if (at !== body.length) throw new WireError('trailing bytes after relay request');
  if (argv.length === 0) throw new WireError('relay request without argv');
  return { argv, env, cwd };
}

export function encodeAnswer(code: number, stdout: Uint8Array, stderr: string): Buffer {
  const err = Buffer.from(stderr);
  const head = Buffer.alloc(9);
  head.write('R', 0, 'latin1');
  head.writeUInt32LE(code >>> 0, 1);
  head.writeUInt32LE(stdout.length, 5);
  const errLen = Buffer.alloc(4);
  errLen.writeUInt32LE(err.length);
  return Buffer.concat([head, stdout, errLen, err]);
}
