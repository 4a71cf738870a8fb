// Container and exec ids become file names and runc arguments: runc's state dir and the cgroup
// take the container id, the bundle gets `<exec_id>.pid` and `.<exec_id>.process.json`. Both are
// checked against containerd's own identifier rule (identifiers.Validate), so nothing containerd
// accepts is refused, while `/`, `..`, NUL, control characters and over-long names never reach a
// path.
import { ShimError } from '../base/errors.js';

/** containerd's identifier limit; also keeps `.<exec_id>.process.json` under NAME_MAX. */
export const MAX_ID_LENGTH = 76;

const ID_PATTERN = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** Longest part of a rejected id quoted in the error, so a huge id cannot bloat the reply. */
const QUOTED_CHARS = 80;

export function isValidId(id: string): boolean {
  return id.length <= MAX_ID_LENGTH && ID_PATTERN.test(id);
}

/** Throws InvalidArgument unless `id` is a valid container or exec id. */
export function checkId(kind: 'container' | 'exec', id: string): void {
  if (isValidId(id)) return;
  const shown = id.length > QUOTED_CHARS ? `${id.slice(0, QUOTED_CHARS)}...` : id;
  const suffix = id.length > QUOTED_CHARS ? ` (${String(id.length)} characters)` : '';
  throw new ShimError('invalid-argument', `invalid ${kind} id ${JSON.stringify(shown)}${suffix}`);
}
