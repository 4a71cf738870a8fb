// The ttrpc layer's public API. It knows nothing of containers.
export { Client, type CallOptions, type ClientEvents, type ConnectOptions } from './client.js';
export { FrameDecoder, type DecodedFrame } from './decoder.js';
export {
  Flags,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  decodeHeader,
  encodeFrame,
  encodeHeader,
  type Frame,
  type FrameHeader,
} from './frame.js';
export { metadataFromList, metadataToList, type Metadata } from './metadata.js';
export {
  Server,
  type CallContext,
  type Handler,
  type ListenTarget,
  type ServerOptions,
} from './server.js';
export {
  CLOSED_MESSAGE,
  ClosedError,
  Code,
  TtrpcError,
  codeFromNumber,
  isClosedError,
  toStatus,
  type Status,
} from './status.js';
