// The client library: drive a shim of ours (or any runtime v2 shim) without containerd.
export { ShimClient, TASK_SERVICE } from './shim-client.js';
export { EventSink, decodeEventPayload, type TaskEvent } from './event-sink.js';
export { SHIM_BINARY, startShim, type StartShimOptions } from './start-shim.js';
export { defaultSpec } from './spec.js';
