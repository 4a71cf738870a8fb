// What `start` reads on stdin and how it answers. containerd 1.6-2.2 send the runtime options as a
// bare google.protobuf.Any (or nothing) and read a plain address back; 2.3 sends a BootstrapParams
// (the options in its first extension, a socket directory, a log level) and prefers a serialized
// BootstrapResult, but still accepts a plain address. The two inputs are told apart on the wire:
// an Any only ever carries fields 1 and 2.
import protobuf from 'protobufjs/minimal.js';
import { containerd } from '../gen/options.js';
import { google } from '../gen/types.js';
import { ShimError } from '../base/errors.js';

export interface StartInput {
  /** The runtime options, if any. */
  options?: google.protobuf.IAny;
  /** 2.3: where to create the shim socket. */
  socketDir?: string;
  /** 2.3: containerd's log level (debug and trace mean a debug log). */
  debug: boolean;
  /** 2.3's BootstrapParams: answer with a BootstrapResult. */
  bootstrap: boolean;
}

const Params = containerd.runtime.bootstrap.v1.BootstrapParams;
const LogLevel = containerd.runtime.bootstrap.v1.LogLevel;

/** Field numbers present at the top level of a message, or undefined if it is not protobuf. */
function topLevelFields(bytes: Uint8Array): Set<number> | undefined {
  const fields = new Set<number>();
  try {
    const reader = protobuf.Reader.create(bytes);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      fields.add(tag >>> 3);
      reader.skipType(tag & 7);
    }
  } catch {
    return undefined;
  }
  return fields;
}

export function parseStartInput(stdin: Uint8Array, id: string, namespace: string): StartInput {
  if (stdin.length === 0) return { debug: false, bootstrap: false };
  const fields = topLevelFields(stdin);
  let params: containerd.runtime.bootstrap.v1.BootstrapParams | undefined;
  if (fields && [...fields].some((f) => f >= 3 && f <= 9)) params = Params.decode(stdin);
  else if (fields) {
    const maybe = Params.decode(stdin);
    if (maybe.instance_id === id && maybe.namespace === namespace && id !== '') params = maybe;
  }
  if (params === undefined)
    return { options: google.protobuf.Any.decode(stdin), debug: false, bootstrap: false };
  const options = params.extensions[0]?.value ?? undefined;
  const level = params.log_level;
  return {
    ...(options ? { options } : {}),
    ...(params.socket_dir !== undefined && params.socket_dir !== null && params.socket_dir !== ''
      ? { socketDir: params.socket_dir }
      : {}),
    debug: level === LogLevel.DEBUG || level === LogLevel.TRACE,
    bootstrap: true,
  };
}

/** The shim API version we announce: the task v2 service (v3 is served too, but 2 is proven). */
const SHIM_API_VERSION = 2;

/** The answer: a BootstrapResult for 2.3, the plain address for everyone else. */
export function formatStartOutput(address: string, input: StartInput): Uint8Array {
  if (!input.bootstrap) return Buffer.from(address);
  return containerd.runtime.bootstrap.v1.BootstrapResult.encode({
    version: SHIM_API_VERSION,
    address,
    protocol: 'ttrpc',
  }).finish();
}

/** A socket directory from containerd must be absolute; the path limit is checked with the socket. */
export function checkSocketDir(dir: string): void {
  if (!dir.startsWith('/')) {
    throw new ShimError('invalid-argument', `socket_dir ${JSON.stringify(dir)} is not absolute`);
  }
}
