// Shared by the ttrpc unit tests: a seeded PRNG, temp dirs, fd counting, raw sockets.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** mulberry32: small, fast, and reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'ttrpc-test-'));
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
    },
  };
}

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Waits until the fd count drops back to `baseline` (sockets close asynchronously). */
export async function fdsBackTo(baseline: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    if (openFds() <= baseline) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return openFds();
}

export function connectRaw(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** Buffers everything a raw socket receives and hands it out in exact-size reads. */
export class RawReader {
  #buffered = Buffer.alloc(0);
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      this.#wake?.();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#wake?.();
    });
  }

  get buffered(): number {
    return this.#buffered.length;
  }

  async read(count: number): Promise<Buffer> {
    while (this.#buffered.length < count) {
      if (this.#error) throw this.#error;
      if (this.#ended) throw new Error(`EOF after ${this.#buffered.length} of ${count} bytes`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const out = this.#buffered.subarray(0, count);
    this.#buffered = this.#buffered.subarray(count);
    return out;
  }

  /** Resolves at EOF with whatever was left unread. */
  async untilEnd(): Promise<Buffer> {
    while (!this.#ended && !this.#error) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return this.#buffered;
  }
}
