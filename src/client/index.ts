// The client library's public API: talk to a shim, start one, receive its events.
export { ShimClient, socketPathOf, NAMESPACE_KEY, type ShimClientOptions } from './shim-client.js';
export { startShim, SHIM_BINARY, type StartShimOptions } from './start-shim.js';
export { EventSink, decodeEvent, type TaskEvent } from './event-sink.js';
export { TtrpcError, Code } from '../ttrpc/index.js';
export { containerd } from '../gen/task.js';
