// Incremental frame decoder: socket chunks in, whole frames out. Chunks may split or coalesce
// frames anywhere; an oversize body is skipped as it streams past, never buffered.
import { HEADER_LENGTH, MAX_MESSAGE_LENGTH, decodeHeader, type Frame } from './frame.js';

export type DecodedFrame =
  | ({ kind: 'frame' } & Frame)
  | {
      kind: 'oversize';
      streamId: number;
      type: number;
      flags: number;
      /** The announced body length, which exceeds MAX_MESSAGE_LENGTH. */
      length: number;
    };

export class FrameDecoder {
  readonly #header = Buffer.alloc(HEADER_LENGTH);
  #headerFill = 0;
  #body: Buffer | undefined;
  #bodyFill = 0;
  #current: Omit<Frame, 'data'> | undefined;
  /** Bytes of an oversize body still to discard. */
  #skip = 0;

  /** True between frames: no partial header, body or skipped body pending. */
  get idle(): boolean {
    return this.#headerFill === 0 && this.#current === undefined && this.#skip === 0;
  }

  /**
   * The bytes of the frame begun and not complete (empty between frames), to be fed to another
   * decoder; undefined while an oversize body is being skipped (its header is gone).
   */
  pending(): Buffer | undefined {
    if (this.#skip > 0) return undefined;
    if (this.#current === undefined) return Buffer.from(this.#header.subarray(0, this.#headerFill));
    return Buffer.concat([
      this.#header,
      (this.#body ?? Buffer.alloc(0)).subarray(0, this.#bodyFill),
    ]);
  }

  push(chunk: Uint8Array): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    let off = 0;
    while (off < chunk.length) {
      const available = chunk.length - off;
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, available);
        this.#skip -= n;
        off += n;
        continue;
      }
      const current = this.#current;
      if (current === undefined) {
        const n = Math.min(HEADER_LENGTH - this.#headerFill, available);
        this.#header.set(chunk.subarray(off, off + n), this.#headerFill);
        this.#headerFill += n;
        off += n;
        if (this.#headerFill < HEADER_LENGTH) break;
        this.#headerFill = 0;
        const { length, streamId, type, flags } = decodeHeader(this.#header);
        if (length > MAX_MESSAGE_LENGTH) {
          out.push({ kind: 'oversize', streamId, type, flags, length });
          this.#skip = length;
        } else if (length === 0) {
          out.push({ kind: 'frame', streamId, type, flags, data: new Uint8Array(0) });
        } else if (chunk.length - off >= length) {
          // The whole body is in this chunk: hand out a copy-free view.
          out.push({
            kind: 'frame',
            streamId,
            type,
            flags,
            data: chunk.subarray(off, off + length),
          });
          off += length;
        } else {
          this.#current = { streamId, type, flags };
          this.#body = Buffer.allocUnsafe(length);
          this.#bodyFill = 0;
        }
        continue;
      }
      const body = this.#body;
      if (body === undefined) throw new Error('ttrpc: decoder body missing');
      const n = Math.min(body.length - this.#bodyFill, available);
      body.set(chunk.subarray(off, off + n), this.#bodyFill);
      this.#bodyFill += n;
      off += n;
      if (this.#bodyFill === body.length) {
        out.push({ kind: 'frame', ...current, data: body });
        this.#current = undefined;
        this.#body = undefined;
        this.#bodyFill = 0;
      }
    }
    return out;
  }
}
