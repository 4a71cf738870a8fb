// The `-info` flag (containerd 2.x): a serialized RuntimeInfo on stdout.
import { containerd, google } from '../gen/types.js';
import { REVISION, RUNTIME_NAME, VERSION } from './version.js';

export function infoAction(stdin: Buffer): Uint8Array {
  const options = stdin.length > 0 ? google.protobuf.Any.decode(stdin) : undefined;
  return containerd.types.RuntimeInfo.encode({
    name: RUNTIME_NAME,
    version: { version: VERSION, revision: REVISION },
    ...(options ? { options } : {}),
  }).finish();
}
