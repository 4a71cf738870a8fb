// Serving one relayed invocation on a connected socket (wire.ts): read the request, check who sent
// it, run it through the shared command function, answer. Used by the warm process for every
// connection and by a process the launcher started for one request.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { PeerCred } from '../../native/index.js';
import { peerOf } from '../socket.js';
import { errorMessage } from '../../base/errors.js';
import type { Invocation, Outcome } from '../command.js';
import {
  ACCEPTED,
  ASK_STDIN,
  MAX_STDIN_BYTES,
  RUN_DIRECT,
  WireError,
  decodeRequestBody,
  encodeAnswer,
  requestBodyLength,
  type RelayRequest,
} from './wire.js';

/** How long a client may take to send its request: a stalled peer must not hold a slot. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Reads exact byte counts from a socket, with a deadline for each read. */
class SocketReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#wake?.();
    });
    const end = (): void => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  async read(n: number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#buffered < n) {
      if (this.#ended) throw new WireError('relay connection closed mid-request');
      const left = deadline - Date.now();
      if (left <= 0) throw new WireError('relay request timed out');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [all.subarray(n)];
    this.#buffered = all.length - n;
    return all.subarray(0, n);
  }
}

export interface RelayPolicy {
  /** Whom to serve: returns why a peer is refused, or undefined. */
  refuse(peer: PeerCred, request: RelayRequest): string | undefined;
}

/** The parent of `pid` (containerd, for a launcher), from /proc. */
export function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    return Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '0', 10) || 0;
  } catch {
    return 0;
  }
}

function write(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    socket.write(data, () => {
      resolve();
    });
  });
}

/**
 * Serves one request. Returns what was run, or undefined when the request was refused (the peer
 * then gets a clear error, or, for a broken connection, nothing).
 */
export async function serveRelay(
  socket: Socket,
  policy: RelayPolicy,
  run: (inv: Invocation) => Promise<Outcome>,
): Promise<Outcome | undefined> {
  const reader = new SocketReader(socket);
  let request: RelayRequest;
  let peer: PeerCred;
  try {
    peer = peerOf(socket);
    const length = requestBodyLength(await reader.read(8, REQUEST_TIMEOUT_MS));
    request = decodeRequestBody(await reader.read(length, REQUEST_TIMEOUT_MS));
  } catch (err) {
    await refuse(socket, err instanceof WireError ? err.message : errorMessage(err));
    return undefined;
  }
  const why = policy.refuse(peer, request);
  if (why !== undefined) {
    await refuse(socket, why);
    return undefined;
  }
  // A hung warm process is told from a slow one by this: the launcher waits briefly for it only.
  await write(socket, ACCEPTED);
  const outcome = await run({
    ...request,
    parentPid: parentOf(peer.pid),
    readStdin: async () => {
      await write(socket, ASK_STDIN);
      const n = (await reader.read(4, REQUEST_TIMEOUT_MS)).readUInt32LE(0);
      if (n > MAX_STDIN_BYTES) throw new WireError(`stdin of ${String(n)} bytes refused`);
      return reader.read(n, REQUEST_TIMEOUT_MS);
    },
  });
  await write(
    socket,
    outcome.kind === 'serve'
      ? RUN_DIRECT
      : encodeAnswer(outcome.code, outcome.stdout, outcome.stderr),
  );
  socket.end();
  return outcome;
}

async function refuse(socket: Socket, why: string): Promise<void> {
  if (!socket.destroyed) await write(socket, encodeAnswer(2, new Uint8Array(), `relay: ${why}\n`));
  socket.end();
}
