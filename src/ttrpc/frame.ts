// The ttrpc frame: a 10-byte big-endian header followed by one protobuf message.

/** Bytes in a frame header: length (4), stream id (4), type (1), flags (1). */
export const HEADER_LENGTH = 10;

/** The largest frame body either side may send or accept (the reference's limit). */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export enum MessageType {
  Request = 1,
  Response = 2,
  /** Streaming only (ttrpc >= 1.2); never used by unary calls. */
  Data = 3,
}

export const Flags = {
  /** The sender will send no more data on this stream. */
  RemoteClosed: 0x01,
  /** Non-unary request: the sender will send Data frames. */
  RemoteOpen: 0x02,
  /** The Data frame carries no payload. */
  NoData: 0x04,
} as const;

export interface FrameHeader {
  /** Body length in bytes, header excluded. */
  length: number;
  streamId: number;
  /** Raw type byte: unknown values are kept so the receiver can decide to ignore them. */
  type: number;
  flags: number;
}

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  data: Uint8Array;
}

export function encodeHeader(header: FrameHeader, target?: Buffer): Buffer {
  const out = target ?? Buffer.allocUnsafe(HEADER_LENGTH);
  out.writeUInt32BE(header.length, 0);
  out.writeUInt32BE(header.streamId, 4);
  out.writeUInt8(header.type, 8);
  out.writeUInt8(header.flags, 9);
  return out;
}

export function decodeHeader(bytes: Uint8Array, offset = 0): FrameHeader {
  if (bytes.length - offset < HEADER_LENGTH) throw new RangeError('ttrpc: short frame header');
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, HEADER_LENGTH);
  return {
    length: view.getUint32(0),
    streamId: view.getUint32(4),
    type: view.getUint8(8),
    flags: view.getUint8(9),
  };
}

/**
 * Header and body in one buffer, so a single socket write carries the whole frame and frames
 * from concurrent senders can never interleave. The caller enforces MAX_MESSAGE_LENGTH.
 */
export function encodeFrame(
  streamId: number,
  type: number,
  flags: number,
  data: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + data.length);
  encodeHeader({ length: data.length, streamId, type, flags }, out);
  out.set(data, HEADER_LENGTH);
  return out;
}

/** The reference's wording for an oversize message, shared by both directions. */
export function oversizeMessage(length: number): string {
  return `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`;
}
